#!/usr/bin/env bash
# Installs what tango-channels needs on a Debian machine, then the project in ./.venv.
#   deploy/bootstrap.sh          runtime: redis-server, Python venv, the package
#   deploy/bootstrap.sh --test   also what the test suite needs
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
python3 -c "import venv, ensurepip" 2>/dev/null || packages+=(python3-venv python3-pip)
if ((${#packages[@]})); then
    echo "bootstrap: installing ${packages[*]} with apt" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
extra=""
((want_test)) && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
