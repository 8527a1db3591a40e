#!/usr/bin/env bash
# `make bench`: hold N sessions with sharpeyes, ffmpeg and GStreamer side by side, then patrol.
# A thin wrapper around scripts/bench_hold.py (see its --help and docs/benchmarks.md): raises the
# open-file limit (every held session, simulator client and peer process needs sockets) and
# passes arguments through, plus $BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--sizes 100 --seconds 20 --patrol-cameras 0"
#   scripts/bench-hold.sh --json target/bench/hold.json
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PY="${PYTHON:-python3}"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of words on purpose
exec "$PY" scripts/bench_hold.py ${BENCH_ARGS:-} "$@"
