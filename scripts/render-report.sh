#!/usr/bin/env bash
# Renders Sieve's HTML report with headless Chromium.
#
#   scripts/render-report.sh REPORT.html OUT.png [WIDTH [HEIGHT]]
#       a screenshot of the page, WIDTH px wide (default 1200) and HEIGHT px tall
#       (default 9000). Headless Chromium captures only its window, so HEIGHT must
#       cover the page: with images and 10 classes a report of 4 scores is about
#       8000 px tall and each further score adds about 1500 px (15 scores: 24,500);
#       whatever lies below HEIGHT is cut off, and below a shorter page stays white.
#   scripts/render-report.sh --dump-dom REPORT.html
#       prints the DOM Chromium built from the page (what the tests check).
#
# Needs `chromium` on PATH (Debian: apt-get install chromium); exits 2 without it.
set -euo pipefail

usage() {
    echo "usage: $0 REPORT.html OUT.png [WIDTH [HEIGHT]]  |  $0 --dump-dom REPORT.html" >&2
    exit 64
}

if ! command -v chromium >/dev/null 2>&1; then
    echo "render-report: chromium is not installed (Debian: apt-get install chromium)" >&2
    exit 2
fi

dump=0
if [ "${1:-}" = "--dump-dom" ]; then dump=1; shift; fi
if [ "$dump" = 1 ]; then [ $# -eq 1 ] || usage; else [ $# -ge 2 ] && [ $# -le 4 ] || usage; fi
report=$1
[ -f "$report" ] || { echo "render-report: no such file: $report" >&2; exit 66; }
abs="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"

# A fresh profile per run: parallel runs do not fight over one profile's lock.
profile=$(mktemp -d "${TMPDIR:-/tmp}/render-report.XXXXXX")
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --no-default-browser-check
       --disable-extensions --disable-dev-shm-usage --user-data-dir="$profile")

if [ "$dump" = 1 ]; then
    # Chromium's own log lines go to stderr; keep them out of the DOM.
    chromium "${flags[@]}" --dump-dom "file://$abs" 2>"$profile/log" || { cat "$profile/log" >&2; exit 1; }
    exit 0
fi

out=$2 width=${3:-1200} height=${4:-9000}
[[ $width =~ ^[0-9]+$ && $height =~ ^[0-9]+$ ]] || usage
rm -f "$out"
outabs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
chromium "${flags[@]}" --window-size="$width,$height" --screenshot="$outabs" "file://$abs" \
    >"$profile/log" 2>&1 || { cat "$profile/log" >&2; exit 1; }
[ -s "$outabs" ] || { cat "$profile/log" >&2; echo "render-report: chromium wrote no screenshot" >&2; exit 1; }
echo "render-report: wrote $outabs (${width}x${height})"
