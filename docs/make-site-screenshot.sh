#!/usr/bin/env bash
# Remakes docs/PAGE.png (docs/device-reference.png by default): a page of the built site as
# headless Chromium shows it (the Material theme's CSS loaded from the site itself, no network).
# Installs what it needs first: the docs extra (bootstrap --test) and Debian's chromium.
#   docs/make-site-screenshot.sh [PAGE [HEIGHT]]   PAGE: a page's folder in the site, e.g.
#   operations; HEIGHT: the window's height in pixels (1600), for a long page's lower part
set -euo pipefail
cd "$(dirname "$0")/.."
page="${1:-device-reference}"
height="${2:-1600}"
deploy/bootstrap.sh --test
if ! command -v chromium >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/mkdocs build --strict --quiet -d "$work/site"
# --no-sandbox: Chromium refuses to run as root with its sandbox (CI runs as root).
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" --window-size="1280,$height" \
    --screenshot="$work/page.png" "file://$work/site/$page/index.html" 2>/dev/null
mv "$work/page.png" "docs/$page.png"
echo "wrote docs/$page.png"
