#!/usr/bin/env bash
# The demo: a simulated fleet of N cameras (some faulty) on loopback and the daemon watching it.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-36}"
DIR="${DEMO_DIR:-${TMPDIR:-/tmp}/sharpeyes-demo}"
BIN="${BIN:-target/debug/sharpeyes}"
RTSP_PORT="${RTSP_PORT:-18600}"
CONTROL_PORT="${CONTROL_PORT:-18555}"
LISTEN="${LISTEN:-127.0.0.1:9090}"
mkdir -p "$DIR"
rm -f "$DIR/inventory.csv"

"$BIN" sim --cameras "$N" --port "$RTSP_PORT" --port-per-camera --control "127.0.0.1:$CONTROL_PORT" \
  --inventory-out "$DIR/inventory.csv" \
  --fault cam0003=auth --fault cam0007=not_found --fault cam0011=stall \
  --fault cam0015=refuse --fault cam0019=no_video --fault cam0023=black --fault cam0027=freeze --h265 cam0002 --h265 cam0006 \
  > "$DIR/sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$DIR/inventory.csv" ] && break; sleep 0.2; done
[ -s "$DIR/inventory.csv" ] || { echo "demo: the simulator did not start; see $DIR/sim.log" >&2; exit 1; }
# One camera whose clock is 90 s ahead (时钟偏差), as libfaketime makes its RTCP sender reports.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
if [ -e "$FAKETIME_LIB" ]; then
  rm -f "$DIR/skew.csv"
  LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+90" FAKETIME_DONT_FAKE_MONOTONIC=1 \
    "$BIN" sim --cameras 1 --port "$((RTSP_PORT + N + 10))" --control "127.0.0.1:$((CONTROL_PORT + 1))" \
    --id-prefix skew --inventory-out "$DIR/skew.csv" > "$DIR/sim-skew.log" 2>&1 &
  SKEW=$!
  trap 'kill $SIM $SKEW 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do [ -s "$DIR/skew.csv" ] && break; sleep 0.2; done
  tail -n +2 "$DIR/skew.csv" >> "$DIR/inventory.csv"
  echo "demo: skew0001's clock runs 90 s ahead: its detail shows the drift and the clock_drift fault"
fi
# Ops spreadsheets are never clean: one bad row shows how it is reported and skipped.
echo "bad-row,broken,ftp://127.0.0.1/x,,,城关镇,交警大队,1" >> "$DIR/inventory.csv"

echo "demo: simulated fleet of $N cameras on rtsp://127.0.0.1:$RTSP_PORT.. (control http://127.0.0.1:$CONTROL_PORT/cameras)"
echo "demo: switch a fault live:  curl -X PUT --data stall http://127.0.0.1:$CONTROL_PORT/cameras/cam0001/fault"
cat > "$DIR/rules.toml" <<'RULES'
[[rules]]
name = "path-crowding"
kind = "crowding"
cameras = ["cam0001", "cam0005"]
min_people = 4
min_score = 0.3
dwell = "5s"
hold_off = "20s"
smoothing = 3

[[rules]]
name = "lost"
kind = "video_loss"
cameras = ["*"]
after = "30s"
severity = "critical"

[[rules]]
name = "picture"
kind = "video_abnormal"
cameras = ["*"]
after = "30s"
RULES
# Demo-sized ticket clocks: the faulty cameras get repair tickets (工单) within a minute.
cat > "$DIR/sharpeyes.toml" <<'CONFIG'
[tickets]
open_after = "1m"
respond = "10m"
repair = "1h"
sla = []
CONFIG
echo "demo: repair tickets for the faulty cameras after a minute: the page's 工单 tab, /api/tickets"
echo "demo: the ops page: http://$LISTEN/  (no users configured: open on loopback only)"
echo "demo: alerts: http://$LISTEN/api/alerts, also written to $DIR/data/alerts.jsonl"
"$BIN" check --inventory "$DIR/inventory.csv" || true
"$BIN" run --inventory "$DIR/inventory.csv" --data-dir "$DIR/data" --listen "$LISTEN" \
  --config "$DIR/sharpeyes.toml" \
  --stall-timeout 5 --recovery-hold 5 --sample-interval 5 --detect \
  --rules "$DIR/rules.toml" --alert-log
