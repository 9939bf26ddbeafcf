#!/bin/sh
# report.html in headless Chromium: the report of a real small run renders with no console
# message (a Content-Security-Policy violation is one: anything the page would fetch or run)
# and no network request (nothing resolves: a request would log net::ERR_), and the rendered
# DOM holds the matrix with every cell and the sequence diagram. The same check on a copy with
# one forbidden image must fail, so the check itself is known to catch one.
# Usage: test_report_chromium.sh RACELAB SOURCE_DIR. Exit 77 (skipped) without chromium.
set -u
racelab=$1
src=$2
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is not installed (apt-get install chromium): skipped"
  exit 77
fi
tmp=$(mktemp -d /tmp/racelab-test-chromium-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# exit 0 or 1 (an expectation failed) both leave a report; 2 and up do not
"$racelab" run "$src/tests/harness/scenarios/proxy-held-fin.yaml" \
  "$src/scenarios/upstream-reuse-after-fin-sweep.yaml" --trials 11 --out "$tmp/run" \
  --quiet >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
if [ $rc -gt 1 ]; then
  echo "racelab run exited $rc:"; cat "$tmp/run.err"; exit 1
fi
page=$tmp/run/report.html
[ -s "$page" ] || { echo "no report.html in the run folder"; exit 1; }

# render FILE: the DOM to FILE.dom, Chromium's log to FILE.log; prints the offending lines
render() {
  timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$tmp/profile" --host-resolver-rules='MAP * ~NOTFOUND' \
    --enable-logging=stderr --v=0 --log-level=0 --dump-dom "file://$1" \
    >"$1.dom" 2>"$1.log"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "chromium exited $rc on $1"; tail -5 "$1.log"; return 1
  fi
  if grep -E 'CONSOLE|Refused to|Content Security Policy|net::ERR_' "$1.log"; then
    return 1
  fi
  return 0
}

# the checker catches a page that would fetch something
sed 's|<body>|<body><img src="http://example.com/x.png">|' "$page" >"$tmp/bad.html"
if render "$tmp/bad.html" >/dev/null; then
  echo "a page with a remote image rendered without a console message: the check is blind"
  exit 1
fi

if ! render "$page"; then
  echo "report.html: console messages or requests (above)"
  exit 1
fi
dom=$page.dom
grep -q '<table class="matrix">' "$dom" || { echo "the DOM has no matrix"; exit 1; }
boxes=$(grep -o 'class="box"' "$dom" | wc -l)
[ "$boxes" -eq 5 ] || { echo "the matrix has $boxes cells, expected 5"; exit 1; }
grep -q '<svg class="seq"' "$dom" || { echo "the DOM has no sequence diagram"; exit 1; }
grep -q 'id="sweeps"' "$dom" || { echo "the DOM has no race windows"; exit 1; }
echo "report.html rendered: 5 cells, no console message, no request"
exit 0
