#!/usr/bin/env bash
# scripts/timed.sh PHASE COMMAND...: run COMMAND, then add "PHASE  N s" to the file $PHASES (if set),
# so that `make test` can print how long each of its phases took. Exits with COMMAND's status.
set -uo pipefail
phase=$1
shift
start=$(date +%s%N)
"$@"
rc=$?
if [[ -n ${PHASES:-} ]]; then
    seconds=$(( ($(date +%s%N) - start + 500000000) / 1000000000 ))
    printf '%-14s %5d s%s\n' "$phase" "$seconds" "$( ((rc == 0)) || echo "  (failed: exit $rc)")" >> "$PHASES"
fi
exit $rc
