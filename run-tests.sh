#!/usr/bin/env bash
# Sets up tango-channels with its test dependencies and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
deploy/bootstrap.sh --test
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest tests "$@"
