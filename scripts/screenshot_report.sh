#!/usr/bin/env bash
# Screenshot a `seg report` HTML page with headless Chromium (for the README / a visual check).
#
#   scripts/screenshot_report.sh [REPORT_HTML] [OUT_PNG] [WIDTHxHEIGHT]
#   default: report/index.html -> docs/report.png at 1400x2400
#
# Installs Debian's chromium and a Japanese font (fonts-noto-cjk) if absent (needs root),
# then shrinks the PNG to a 256-colour palette with Pillow so it stays small (< 1 MB).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PAGE="${1:-report/index.html}"
OUT="${2:-docs/report.png}"
SIZE="${3:-1400x2400}"
PY="${PYTHON:-$HERE/.venv/bin/python}"

if [ ! -f "$PAGE" ]; then
  echo "error: $PAGE not found; write it first with: seg report --output $(dirname "$PAGE")" >&2
  exit 1
fi

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list :lang=ja 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$(dirname "$OUT")"
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
ABS="$(cd "$(dirname "$PAGE")" && pwd)/$(basename "$PAGE")"
TMP_PNG="$PROFILE/shot.png"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --virtual-time-budget=10000 --user-data-dir="$PROFILE" \
  --window-size="${SIZE/x/,}" --screenshot="$TMP_PNG" "file://$ABS" >/dev/null 2>&1

"$PY" - "$TMP_PNG" "$OUT" <<'PYEOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
im = Image.open(src).convert("RGB")
im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)
PYEOF
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
