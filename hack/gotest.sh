#!/usr/bin/env bash
# Runs `go test` with the given arguments. When it fails, the failed specs'
# messages are printed again at the very end of the output: a CI log that
# keeps only its tail then still says why, where Ginkgo's closing summary
# names only the spec and its line.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo "hack/gotest.sh: go test $* failed (exit $rc); the failures, repeated from above:"
	# Each failure block runs from "[FAILED] message" to "In [It] at: file:line".
	sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
		/^[[:space:]]*\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\] / && !/\] in \[/ { on = 1; n = 0 }
		on && n++ < 30 { print }
		on && /^[[:space:]]*In \[/ { on = 0 }
	' | tail -n 80
fi
exit "$rc"
