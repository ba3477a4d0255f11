#!/bin/sh
# bench.sh: the benchmark matrix ("make bench"; bench/README.md explains the
# table). Builds the recording qmail-queue, limitrun and the bench program
# into bench/out, starts the test clamd and spamd with scripts/testdaemons.sh,
# runs bench/cmd/simscanbench against bin/simscan (built by "make build")
# and stops the daemons again, however it ends.
#
#   scripts/bench.sh [simscanbench flags]    e.g. -n 50 -cells 'passthrough'
#
# BENCH_ARGS in the environment adds flags too ("make bench BENCH_ARGS=...").
# The table goes to stdout, the JSON to bench/out/results.json.
set -eu

prog=bench
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=bench/out
GO=${GO:-go}

[ -x bin/simscan ] || {
	echo "$prog: bin/simscan is missing: run make build (make bench does)" >&2
	exit 1
}
mkdir -p "$out"
CGO_ENABLED=0 "$GO" build -trimpath -o "$out/qmail-queue-recorder" ./testdata/qmail-queue-recorder
"$GO" build -o "$out/simscanbench" ./bench/cmd/simscanbench
CGO_ENABLED=0 "$GO" build -trimpath -o "$out/limitrun" ./bench/cmd/limitrun

daemons=$(mktemp -d "${TMPDIR:-/tmp}/simscan-bench-daemons.XXXXXX")
stop() {
	scripts/testdaemons.sh stop "$daemons" || true
	rm -rf "$daemons"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
scripts/testdaemons.sh start "$daemons" >/dev/null
# shellcheck disable=SC1091
. "$daemons/env"

# shellcheck disable=SC2086
"$out/simscanbench" \
	-simscan bin/simscan \
	-recorder "$out/qmail-queue-recorder" \
	-limitrun "$out/limitrun" \
	-clamd "unix:$CLAMD_UNIX" \
	-spamd "unix:$SPAMD_UNIX" \
	-spamd-log "$daemons/spamd/spamd.log" \
	-json "$out/results.json" \
	${BENCH_ARGS:-} "$@"
