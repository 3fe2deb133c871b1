#!/usr/bin/env bash
# Refreshes docs/html-batchnorm-backward-7.png, the picture docs/html-page.md
# shows: the batch-norm page of `bnstep html` at step 7 of the backward pass,
# taken by headless Chromium through tests/tools/page_driver.mjs (what
# `./quickstart.sh test` installs: Debian's chromium, playwright-core in build/npm).
#   tests/tools/html_screenshot.sh              with build/bnstep
#   BUILD_DIR=build-x tests/tools/html_screenshot.sh
#   WIDTH=1400 HEIGHT=1100 tests/tools/html_screenshot.sh   another window size
set -euo pipefail
cd "$(dirname "$0")/../.."

build=${BUILD_DIR:-build}
modules=build/npm/node_modules
[ -f "$modules/playwright-core/package.json" ] || { echo "html_screenshot: run ./quickstart.sh test first (playwright-core)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bnstep" html batchnorm -o "$work/batchnorm.html" >/dev/null
cat >"$work/job.json" <<JSON
{"pages": [{"file": "$work/batchnorm.html", "forward": 13, "backward": 12,
            "screenshots": [{"fragment": "backward-7", "path": "$work/shot.png",
                             "width": ${WIDTH:-1200}, "height": ${HEIGHT:-1000}, "full_page": ${FULL_PAGE:-false}}]}]}
JSON
node tests/tools/page_driver.mjs "$modules" "$work/job.json" >"$work/seen.json"
node -e 'const s = require(process.argv[1]).pages[0]; if (s.error || s.screenshots?.[0]?.node !== "sq") { console.error(JSON.stringify(s)); process.exit(1); }' "$work/seen.json"
cp "$work/shot.png" docs/html-batchnorm-backward-7.png
echo "html_screenshot: wrote docs/html-batchnorm-backward-7.png"
