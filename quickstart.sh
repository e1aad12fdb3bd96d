#!/usr/bin/env bash
# Sets up tango-channels and runs its quick start (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
deploy/bootstrap.sh
exec .venv/bin/python -m tango_channels_deploy.quickstart "$@"
