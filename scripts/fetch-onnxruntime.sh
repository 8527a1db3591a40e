#!/usr/bin/env bash
# Puts the ONNX Runtime shared library that sharpeyes' detector loads at run time into
# vendor/onnxruntime/libonnxruntime.so.1.31.1 and prints its path.
#
# Source: the PyPI wheel onnxruntime==1.31.1 (cp311, manylinux_2_28_x86_64; MIT licence), which
# carries onnxruntime/capi/libonnxruntime.so.1.31.1 (CPU execution provider; needs only glibc and
# libstdc++). The wheel's sha256 is pinned below and must also match what PyPI publishes.
#
# Idempotent: does nothing (but print the path) when the library is already there with the
# expected sha256. Needs python3 (for hashing and unzipping) and network access to PyPI; uses
# `python3 -m pip download` when pip is available, else curl (or python3's urllib) on the PyPI
# JSON API. Linux x86_64 only.
#
#   scripts/fetch-onnxruntime.sh            # then: cargo test --test detect_reference
#   ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh | tail -n1) sharpeyes detect photo.jpg
set -euo pipefail

VERSION=1.31.1
WHEEL=onnxruntime-${VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl
WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
MEMBER=onnxruntime/capi/libonnxruntime.so.${VERSION}
LIB=libonnxruntime.so.${VERSION}
LIB_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/vendor/onnxruntime"
lib="$dest/$LIB"

say() { echo "fetch-onnxruntime: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] ||
  die "only Linux x86_64 is supported (this is $(uname -s)-$(uname -m)); set ORT_DYLIB_PATH to your own libonnxruntime >= 1.31"

sha256() { python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

if [ -f "$lib" ] && [ "$(sha256 "$lib")" = "$LIB_SHA256" ]; then
  say "already present"
  echo "$lib"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if python3 -m pip --version >/dev/null 2>&1; then
  say "downloading $WHEEL with pip"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 \
    --dest "$tmp" "onnxruntime==$VERSION"
  [ -f "$tmp/$WHEEL" ] || die "pip did not produce $WHEEL (got: $(ls "$tmp"))"
else
  say "pip not available; downloading $WHEEL from the PyPI JSON API"
  # Look the wheel up in PyPI's JSON (per-version endpoint, else the project endpoint), resolve
  # its URL and check that PyPI's digest is the one pinned here.
  python3 - "$VERSION" "$WHEEL" "$WHEEL_SHA256" "$tmp/url" <<'PY'
import json, sys, urllib.parse, urllib.request
version, wheel, pinned, out = sys.argv[1:5]
last = None
for api in (f"https://pypi.org/pypi/onnxruntime/{version}/json", "https://pypi.org/pypi/onnxruntime/json"):
    try:
        with urllib.request.urlopen(api, timeout=60) as r:
            doc = json.load(r)
    except Exception as e:  # noqa: BLE001 - try the next endpoint
        last = f"{api}: {e}"
        continue
    files = doc["urls"] if "/" + version + "/" in api else doc.get("releases", {}).get(version, [])
    for f in files:
        if f["filename"] == wheel:
            if f["digests"]["sha256"] != pinned:
                sys.exit(f"PyPI publishes sha256 {f['digests']['sha256']} for {wheel}, expected {pinned}")
            open(out, "w").write(urllib.parse.urljoin(api, f["url"]))
            sys.exit(0)
    last = f"{api}: {wheel} not listed"
sys.exit(f"could not find {wheel} on PyPI ({last})")
PY
  url="$(cat "$tmp/url")"
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$tmp/$WHEEL" "$url"
  else
    python3 -c 'import sys,urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$tmp/$WHEEL"
  fi
fi

got="$(sha256 "$tmp/$WHEEL")"
[ "$got" = "$WHEEL_SHA256" ] || die "sha256 mismatch for $WHEEL: got $got, expected $WHEEL_SHA256"

mkdir -p "$dest"
python3 - "$tmp/$WHEEL" "$MEMBER" "$tmp/$LIB" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
got="$(sha256 "$tmp/$LIB")"
[ "$got" = "$LIB_SHA256" ] || die "sha256 mismatch for $MEMBER: got $got, expected $LIB_SHA256"
chmod 0755 "$tmp/$LIB"
mv -f "$tmp/$LIB" "$lib"
say "installed ($(du -h "$lib" | cut -f1))"
echo "$lib"
