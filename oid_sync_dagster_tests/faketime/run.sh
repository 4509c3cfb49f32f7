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
	local instant="$1" at log offset
	at="${instant/T/ }"
	log="$logs/$instant.log"
	# The clock is shifted by a fixed offset from the real one, so it starts at the instant and runs on, the same in
	# every process (a child goes on from where its parent is). The library is preloaded directly rather than
	# through the `faketime` wrapper: the wrapper's shared-memory clock takes a cross-process semaphore on every
	# clock read, which on a busy machine slowed these runs down about fourfold. Only the wall clock is faked:
	# monotonic time (timeouts, durations) stays real; sitecustomize.py in this folder works around libfaketime's
	# broken time.sleep.
	offset=$(($(date -u -d "$at" +%s) - $(date -u +%s)))
	if TZ=UTC FAKETIME="$(printf '%+ds' "$offset")" FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1 \
		LD_PRELOAD="$lib" PYTHONPATH="$here" \
		"$pytest" -m clock -q -p no:cacheprovider -p no:xdist "$here/../dagster" >"$log" 2>&1; then
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
