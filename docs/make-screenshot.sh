#!/usr/bin/env bash
# Remakes docs/quickstart-gui.png, README's picture of ./quickstart.sh --gui: the quick start
# on a virtual X display (Xvfb), Taurus's device panel and trend side by side, grabbed by Qt.
# Installs what it needs first (xvfb and python-xlib with --test, Taurus and Qt with --gui).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/bootstrap.sh --test --gui
exec .venv/bin/python -m tango_channels_deploy.screenshot -o docs/quickstart-gui.png "$@"
