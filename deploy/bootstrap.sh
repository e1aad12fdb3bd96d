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

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
python3 -c "import venv, ensurepip" 2>/dev/null || packages+=(python3-venv python3-pip)
if ((want_test)); then
    # The facility tests run Debian's Tango database server (on MariaDB) and Starter.
    for p in tango-db tango-common libtango-tools tango-starter dbconfig-no-thanks \
             mariadb-client; do
        installed "$p" || packages+=("$p")
    done
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || packages+=(mariadb-server)
fi
if ((${#packages[@]})); then
    echo "bootstrap: installing ${packages[*]} with apt" >&2
    # Don't let tango-db configure a database itself: the tests make their own.
    printf '%s\n' 'tango-db tango-db/dbconfig-install boolean false' \
        'tango-common tango-common/tango-host string localhost:10000' \
        | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${packages[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
extra=""
((want_test)) && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
