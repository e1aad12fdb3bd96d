#!/usr/bin/env bash
# Sets up tango-channels with its test dependencies, checks the code and builds the docs,
# then runs the whole test suite (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
deploy/bootstrap.sh --test
.venv/bin/ruff check .
.venv/bin/mypy
# The docs site: a broken link, a missing page or an unresolved docstring reference fails.
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site" && trap - EXIT
exec .venv/bin/python -m pytest tests "$@"
