#!/usr/bin/env bash
# Verifies the sha256 sums of the test media and models shipped in the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in tests/data tests/data/images tests/data/eval tests/data/diagnose models; do
  if [ -f "$root/$dir/SHA256SUMS" ]; then
    (cd "$root/$dir" && sha256sum --quiet -c SHA256SUMS) || { echo "assets: checksum mismatch in $dir" >&2; exit 1; }
  fi
done
