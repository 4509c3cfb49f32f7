#!/usr/bin/env bash
# The tests marked `clock` (in dagster/), under Debian's libfaketime, once per instant given (UTC,
# "YYYY-MM-DDTHH:MM:SS"), one after the other. Each run's output is printed when it ends; any failure fails the
# whole. test_week_instants.py runs it as an item of the suite (`make test-clock`: that item alone).
# usage: run.sh PYTEST INSTANT...
set -uo pipefail
pytest="$1"
shift
here="$(cd "$(dirname "$0")" && pwd)"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
lib="$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)"
if [ -z "$lib" ]; then
	echo "libfaketime.so.1 not found: install Debian's faketime (make system-deps)" >&2
	exit 2
fi

one() {
	local instant="$1" at log clock
	at="${instant/T/ }"
	log="$logs/$instant.log"
	clock="$logs/$instant.faketime"
	# The clock is the real one shifted by an offset, the same in every process (a child goes on from where its
	# parent is). libfaketime is preloaded directly rather than through the `faketime` wrapper, whose shared-memory
	# clock takes a cross-process semaphore on every clock read (about four times slower on a busy machine), and
	# reads the offset from a file: clock_start.py moves it so that the clock reads the instant just as the first
	# test starts. Only the wall clock is faked: monotonic time (timeouts, durations) stays real; sitecustomize.py
	# in this folder works around libfaketime's broken time.sleep.
	printf '%+ds\n' $(($(date -u -d "$at" +%s) - $(date -u +%s))) >"$clock"
	if TZ=UTC FAKETIME_TIMESTAMP_FILE="$clock" FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
		NO_FAKE_STAT=1 OID_SYNC_CLOCK_INSTANT="$(date -u -d "$at" +%s)" LD_PRELOAD="$lib" PYTHONPATH="$here" \
		"$pytest" -p clock_start -m clock -q -p no:cacheprovider -p no:xdist "$here/../dagster" >"$log" 2>&1; then
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
