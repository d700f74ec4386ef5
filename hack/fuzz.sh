#!/usr/bin/env bash
# Runs each Fuzz* target of the module for the given time (default 60s), one
# after another, each with one fuzzing worker. `go test`'s default 10-minute
# timeout would end a long run early, so it is off.
set -euo pipefail
fuzztime=${1:-60s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzzing $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -timeout 0 -parallel 1 "$pkg"
  done
done
