#!/usr/bin/env bash
# Sets up tango-channels and runs its quick start (see README.md).
#   ./quickstart.sh [--gui] [--file] [--seconds N] [--redis URL]
# --gui also installs Taurus and Qt (the project's gui extra, the Debian libraries Qt needs)
# and opens Taurus's device panel and a trend next to the running demo.
set -euo pipefail
cd "$(dirname "$0")"
setup=()
for option in "$@"; do
    [[ "$option" == "--gui" ]] && setup=(--gui)
done
deploy/bootstrap.sh "${setup[@]}"
exec .venv/bin/python -m tango_channels_deploy.quickstart "$@"
