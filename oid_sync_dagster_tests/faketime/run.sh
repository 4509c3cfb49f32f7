#!/usr/bin/env bash
# The tests marked `clock` (in dagster/), under Debian's faketime, once per instant given (UTC,
# "YYYY-MM-DDTHH:MM:SS"), one after the other. Each run's output is printed when it ends; any failure fails the
# whole. test_week_instants.py runs it as an item of the suite (`make test-clock`: that item alone).
# usage: run.sh PYTEST INSTANT...
set -uo pipefail
pytest="$1"
shift
here="$(cd "$(dirname "$0")" && pwd)"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

one() {
	local instant="$1" at log
	at="${instant/T/ }"
	log="$logs/$instant.log"
	# Only the wall clock is faked: monotonic time (timeouts, durations) stays real. sitecustomize.py in this
	# folder works around libfaketime's broken time.sleep.
	# FAKETIME_DONT_RESET: a child process goes on from its parent's fake time instead of starting at the instant.
	if TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 NO_FAKE_STAT=1 PYTHONPATH="$here" \
		faketime -f "@$at" "$pytest" -m clock -q -p no:cacheprovider -p no:xdist "$here/../dagster" >"$log" 2>&1; then
		echo "== clock-sensitive tests at $at UTC: $(tail -n 1 "$log")"
	else
		echo "== clock-sensitive tests at $at UTC FAILED:"
		cat "$log"
		return 1
	fi
}
status=0
for instant in "$@"; do
	one "$instant" || status=1
done
exit $status
