#!/usr/bin/env bash
# Re-measures this machine's calibration (scenarios/examples/calibration/this-machine.yaml)
# with the commands its provenance records: three hardware classes, the
# examples' four camera kinds, failovers from three quickstart runs, and
# the in-situ tables from one light emulated point of each example plan.
# Run it as root on an idle machine: every run's load average goes into
# the file, and a loaded host makes the class figures meaningless.
#   sudo bash hack/calibrate.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-scenarios/examples/calibration/this-machine.yaml}
go tool task build # edgesim and, beside it, the edgenode the quickstart runs
bin=bin/edgesim
runs=$(mktemp -d /tmp/edgesim-calibrate.XXXXXX)

# name cpu memory
classes=("small-box 1 512Mi" "vm-2core 2 1Gi" "unlimited 0 0B")
# bitrate fps background people vehicles night
cameras=("600Kbit 10 indoor 2 0 -" "700Kbit 10 indoor 4 0 -" "800Kbit 15 parking 1 2 --night" "1Mbit 15 street 3 2 -")

for c in "${classes[@]}"; do
  read -r name cpu mem <<<"$c"
  first=1
  for cam in "${cameras[@]}"; do
    read -r rate fps bg people vehicles night <<<"$cam"
    extra=()
    [[ $night != - ]] && extra+=("$night")
    if ((first)); then extra+=(--inference-frames 300 --model default,edgesim-det); first=0; fi
    "$bin" plan calibrate --out "$out" --class "$name" --cpu "$cpu" --memory "$mem" \
      --bitrate "$rate" --fps "$fps" --resolution 640x360 --background "$bg" \
      --people "$people" --vehicles "$vehicles" "${extra[@]}"
  done
done

dirs=()
for i in 1 2 3; do
  # exit 1 is a failed SLO gate: its failovers are still samples
  rc=0
  "$bin" run --results "$runs" scenarios/examples/quickstart.yaml >/dev/null || rc=$?
  ((rc <= 1)) || { echo "hack/calibrate.sh: quickstart run $i failed (exit $rc)" >&2; exit 1; }
  sleep 1 # results directories are named to the second
done
for d in "$runs"/quickstart-*; do dirs+=("$d"); done
(IFS=,; "$bin" plan calibrate --out "$out" --failover-from "${dirs[*]}")

# In situ: each example plan's emulated point at one camera per node (exit
# 1 is a missed validation target: the run is still a sample), then its
# edge nodes' class from those runs.
insitu() { # plan
  local rc=0
  "$bin" plan "scenarios/examples/plan-$1.yaml" --validate --validate-points 1 --calibration "$out" \
    --out "$runs/plan-$1" --results "$runs/$1" >/dev/null || rc=$?
  ((rc <= 1)) || { echo "hack/calibrate.sh: plan-$1 --validate failed (exit $rc)" >&2; exit 1; }
  ls -d "$runs/$1"/*/ | sed 's:/$::' | paste -sd,
}
small=$(insitu quickstart),$(insitu two-stores)
"$bin" plan calibrate --out "$out" --in-situ-from "$small" --class small-box --model default
"$bin" plan calibrate --out "$out" --in-situ-from "$(insitu night-watch-4g)" --class vm-2core --model default
"$bin" plan calibrate --out "$out" --in-situ-from "$(insitu retail-wifi)" --class unlimited --model default
echo "calibration written to $out; run results kept in $runs"
