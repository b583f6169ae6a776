#!/usr/bin/env bash
# scripts/prefixed.sh NAME COMMAND...: run COMMAND and print each line of its output (stdout and
# stderr together) as it comes, as "[NAME] line", so that two jobs that `make test` runs side by side
# can be told apart while they run. Exits with COMMAND's status.
set -uo pipefail
name=$1
shift
export PYTHONUNBUFFERED=1  # Python writes each line when it is printed, not when a buffer fills
"$@" 2>&1 | while IFS= read -r line || [[ -n $line ]]; do
    printf '[%s] %s\n' "$name" "$line"
done
exit "${PIPESTATUS[0]}"
