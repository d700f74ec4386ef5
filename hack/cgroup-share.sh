#!/usr/bin/env bash
# Measures the CPU a cgroup v1 group gets against threads outside it, side by
# side: two busy loops in a group with a 2-core quota and cpu.shares SHARES
# (default 1024, one nice-0 thread's weight), two busy loops outside, CPU
# ticks of each side over 4 s. Root, cgroup v1. The figures in
# docs/testbed.md ("confining a class of at least the host's cores") came
# from `sudo bash hack/cgroup-share.sh 1024` and `... 2048`, run twice each.
set -euo pipefail
shares=${1:-1024}
d=/sys/fs/cgroup/cpu/edgesim-share-probe
if [ -e "$d" ]; then echo "$d exists: not ours, or left by a killed run; remove it by hand" >&2; exit 2; fi
mkdir "$d" "$d/g"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rmdir "$d/g" "$d" 2>/dev/null || true; }
trap cleanup EXIT
echo "$shares" > "$d/cpu.shares"; echo 200000 > "$d/g/cpu.cfs_quota_us"
for _ in 1 2 3 4; do sh -c 'while :; do :; done' >/dev/null 2>&1 & pids+=($!); done
echo "${pids[0]}" > "$d/g/cgroup.procs"; echo "${pids[1]}" > "$d/g/cgroup.procs"
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
sleep 1; a=(); for p in "${pids[@]}"; do a+=("$(ticks "$p")"); done
sleep 4; b=(); for p in "${pids[@]}"; do b+=("$(ticks "$p")"); done
echo "shares=$shares group: $(( b[0]-a[0]+b[1]-a[1] )) ticks, outside: $(( b[2]-a[2]+b[3]-a[3] )) ticks (in 4 s)"
