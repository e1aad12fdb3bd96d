#!/usr/bin/env bash
# Installs what tango-channels needs on a Debian machine, then the project in ./.venv.
#   deploy/bootstrap.sh          runtime: redis-server, Python venv, the package with the
#                                device server (extra "device")
#   deploy/bootstrap.sh --test   also what the test suite and the docs build need ("test", "docs")
#   deploy/bootstrap.sh --gui    also Taurus and Qt, for ./quickstart.sh --gui
# The options combine. Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 want_gui=0
for option in "$@"; do
    case "$option" in
        --test) want_test=1 ;;
        --gui) want_gui=1 ;;
        *) echo "bootstrap: unknown option $option (known: --test --gui)" >&2; exit 2 ;;
    esac
done

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
python3 -c "import venv, ensurepip" 2>/dev/null || packages+=(python3-venv python3-pip)
if ((want_test)); then
    # The facility tests run Debian's Tango database server (on MariaDB) and Starter; the
    # access control tests, Tango's own access control server (TangoAccessControl).
    for p in tango-db tango-common libtango-tools tango-starter tango-accesscontrol \
             dbconfig-no-thanks mariadb-client; do
        installed "$p" || packages+=("$p")
    done
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || packages+=(mariadb-server)
    # The GUI test and docs/make-screenshot.sh run the Taurus windows on a virtual display.
    installed xvfb || packages+=(xvfb)
fi
if ((want_gui)); then
    # What PyQt5's wheel links against and does not carry: the libraries its Qt core, widgets
    # and xcb platform plugin need (readelf NEEDED of the Qt5 libraries Taurus loads; without
    # libxcb-icccm4, -keysyms1, -xinerama0: 'could not load the Qt platform plugin "xcb"').
    for p in libgl1 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6 libx11-6 \
             libx11-xcb1 libxext6 libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-glx0 \
             libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 \
             libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 \
             libxcb-xinerama0 libxcb-xkb1; do
        installed "$p" || packages+=("$p")
    done
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
extras=(device)
((want_test)) && extras+=(test docs)
((want_gui)) && extras+=(gui)
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$(IFS=,; echo "${extras[*]}")]"
