#!/usr/bin/env bash
# Installs what sharpeyes needs to build, test and run its demo on Debian 12.
# Idempotent: installs only what is missing. Needs root or sudo for apt.
set -euo pipefail

PKGS=(
  pkg-config gcc libc6-dev
  libsqlite3-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav gstreamer1.0-tools
  ffmpeg curl ca-certificates python3
  prometheus mosquitto mosquitto-clients libfaketime iproute2 iptables
  cmake g++ make libcurl4-openssl-dev libssl-dev openssl socat debootstrap
  chromium fonts-wqy-microhei python3-venv
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian's prometheus and mosquitto packages start their own servers where systemd runs; the
  # tests start their own (and the demo listens on :9090), so switch the services off.
  for svc in prometheus mosquitto; do
    if [ -d /run/systemd/system ] && systemctl is-enabled "$svc" >/dev/null 2>&1; then
      $SUDO systemctl disable --now "$svc" || true
    fi
  done
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust 1.95 (rustup)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy 2>/dev/null || true

# ONNX Runtime for the detector (load-dynamic): the library from the PyPI wheel, into vendor/.
"$(dirname "$0")/fetch-onnxruntime.sh" >/dev/null

# The Kafka-compatible broker the Kafka sink's tests run against (test-only; see the script).
"$(dirname "$0")/fetch-tansu.sh" >/dev/null
# Playwright for Python drives the system chromium in the browser tests (never a downloaded
# browser); Debian 12's pip refuses system installs, so it lives in a venv under target/.
VENV="$(dirname "$0")/../target/browser-venv"
if ! "$VENV/bin/python" -c "import playwright" 2>/dev/null; then
  echo "setup: installing Playwright into $VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "playwright==1.65.2"
fi
# openpyxl reads the monthly XLSX back in the report tests (a second, independent reader).
if ! "$VENV/bin/python" -c "import openpyxl" 2>/dev/null; then
  echo "setup: installing openpyxl into $VENV"
  "$VENV/bin/pip" install -q "openpyxl==3.1.5"
fi

# Verify the media and models we ship are what we say they are.
"$(dirname "$0")/check-assets.sh"
echo "setup: ok"
