#!/usr/bin/env bash
# start-tango-db.sh: install (if needed) and start a Tango DataBaseds (Debian bookworm
# `tango-db`, 9.3.4) backed by MariaDB, on a chosen port, with a private MariaDB database
# per port. Non-interactive and idempotent; intended for CI / tests. Must run as root.
#
# Usage:
#   start-tango-db.sh [start] [PORT]   install + start (default PORT=10000); no-op if already up
#   start-tango-db.sh stop    [PORT]   stop the DataBaseds for PORT (keeps the MariaDB database)
#   start-tango-db.sh status  [PORT]   exit 0 if DataBaseds on PORT answers
#   start-tango-db.sh drop    [PORT]   stop + DROP the MariaDB database of PORT
#
# Environment (all optional):
#   TANGO_DB_PORT      port of DataBaseds (default 10000; overridden by the PORT argument)
#   TANGO_DB_NAME      MariaDB database name (default tango_test_<PORT>); [A-Za-z0-9_] only
#   TANGO_DB_RESET=1   drop and re-create the database before starting (fresh state)
#   TANGO_DB_BIND      address DataBaseds listens on (default 127.0.0.1; use "" for all)
#   TANGO_DB_USER / TANGO_DB_PASSWORD   MariaDB account used by DataBaseds (default tango/tango)
#   TANGO_DB_MYSQL_HOST  MariaDB host[:port] for DataBaseds (default 127.0.0.1:3306)
#   TANGO_DB_STATE_DIR   where pid file and log go (default /tmp/tango-db-<PORT>)
#   TANGO_DB_TIMEOUT     seconds to wait for DataBaseds readiness (default 30)
#   MYSQL_ROOT_PASSWORD  only used if root cannot log in through the unix socket
#   TANGO_DB_EXTRA_PACKAGES  more apt packages to ensure, e.g. "tango-starter tango-test"
#
# On success prints e.g. "TANGO_HOST=127.0.0.1:10000" as the last line of stdout.
set -euo pipefail

ACTION=start
case "${1:-}" in
    start|stop|status|drop) ACTION=$1; shift ;;
esac
PORT=${1:-${TANGO_DB_PORT:-10000}}
DB=${TANGO_DB_NAME:-tango_test_${PORT}}
DB_USER=${TANGO_DB_USER:-tango}
DB_PASS=${TANGO_DB_PASSWORD:-tango}
BIND=${TANGO_DB_BIND-127.0.0.1}
DBDS_MYSQL_HOST=${TANGO_DB_MYSQL_HOST:-127.0.0.1:3306}
STATE_DIR=${TANGO_DB_STATE_DIR:-/tmp/tango-db-${PORT}}
TIMEOUT=${TANGO_DB_TIMEOUT:-30}
PIDFILE=$STATE_DIR/DataBaseds.pid
LOG=$STATE_DIR/DataBaseds.log
DATABASEDS=/usr/lib/tango/DataBaseds
SQL_DIR=/usr/share/tango-db
SQL_INSTALL=/usr/share/dbconfig-common/data/tango-db/install/mysql
TANGO_HOST_VALUE=${BIND:-localhost}:$PORT
[ "$BIND" = "0.0.0.0" ] && TANGO_HOST_VALUE=localhost:$PORT

# The mysql client honours MYSQL_HOST/MYSQL_PWD etc. from the environment: keep ours clean.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD MYSQL_UNIX_PORT

T_START=${EPOCHREALTIME/./}
log() { local us=$(( ${EPOCHREALTIME/./} - T_START )); printf '[start-tango-db %3d.%02ds] %s\n' $((us/1000000)) $((us%1000000/10000)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -gt 0 ] && [ "$PORT" -lt 65536 ] || die "bad port '$PORT'"
[[ "$DB" =~ ^[A-Za-z0-9_]+$ ]] || die "bad database name '$DB' (use [A-Za-z0-9_])"
[ "$(id -u)" = 0 ] || die "must run as root"

# --------------------------------------------------------------------------- helpers
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$STATE_DIR"

ping_db() {  # is a Tango database answering on our port?
    TANGO_HOST=$TANGO_HOST_VALUE timeout 10 tango_admin --ping-database >/dev/null 2>&1
}
dbds_pid() {  # pid from pidfile if that process is a live DataBaseds
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q DataBaseds "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

MYSQL_ADMIN=()
mysql_admin_detect() {  # find a working root login: unix socket first, then TCP
    if mysql --protocol=socket -uroot -e 'SELECT 1' >/dev/null 2>&1; then
        MYSQL_ADMIN=(mysql --protocol=socket -uroot)
    elif mysql --protocol=tcp -h127.0.0.1 -uroot ${MYSQL_ROOT_PASSWORD:+-p"$MYSQL_ROOT_PASSWORD"} -e 'SELECT 1' >/dev/null 2>&1; then
        MYSQL_ADMIN=(mysql --protocol=tcp -h127.0.0.1 -uroot ${MYSQL_ROOT_PASSWORD:+-p"$MYSQL_ROOT_PASSWORD"})
    else
        return 1
    fi
}
mysql_admin() { "${MYSQL_ADMIN[@]}" "$@"; }

stop_dbds() {
    local pid
    if pid=$(dbds_pid); then
        log "stopping DataBaseds pid $pid (port $PORT)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then log "still alive, SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    else
        log "no DataBaseds running for port $PORT (pidfile $PIDFILE)"
    fi
    rm -f "$PIDFILE"
}

# --------------------------------------------------------------------------- actions
case "$ACTION" in
    status)
        if ping_db; then echo "running: TANGO_HOST=$TANGO_HOST_VALUE pid=$(dbds_pid || echo '?') db=$DB"; exit 0; fi
        echo "not running (port $PORT)"; exit 1 ;;
    stop)
        stop_dbds; exit 0 ;;
    drop)
        stop_dbds
        mysql_admin_detect || die "cannot log in to MariaDB as root"
        mysql_admin -e "DROP DATABASE IF EXISTS \`$DB\`"
        log "dropped database $DB"; exit 0 ;;
esac

# ---- 0. already running? (idempotency)
if [ "${TANGO_DB_RESET:-0}" = 1 ] && dbds_pid >/dev/null; then
    stop_dbds   # a reset needs a restart
fi
if pid=$(dbds_pid) && ping_db; then
    log "DataBaseds already running (pid $pid) on port $PORT, database $DB"
    echo "TANGO_HOST=$TANGO_HOST_VALUE"
    exit 0
fi
if port_in_use "$PORT"; then
    die "port $PORT is already in use by another process (not our DataBaseds)"
fi

# ---- 1. packages
need_pkgs=()
[ -x $DATABASEDS ] || need_pkgs+=(tango-db)
[ -f "$SQL_INSTALL" ] || need_pkgs+=(tango-db)
command -v tango_admin >/dev/null || need_pkgs+=(libtango-tools)
command -v mysql >/dev/null || need_pkgs+=(mariadb-client)
if [ ! -x /usr/sbin/mariadbd ] && ! mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1 \
        && ! mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; then
    need_pkgs+=(mariadb-server)
fi
# extra packages, e.g. TANGO_DB_EXTRA_PACKAGES="tango-starter tango-test"
for p in ${TANGO_DB_EXTRA_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing packages: ${need_pkgs[*]} (+ tango-common dbconfig-no-thanks)"
    debconf-set-selections <<EOF
tango-db tango-db/dbconfig-install boolean false
tango-common tango-common/tango-host string localhost:10000
EOF
    # apt-get update only when the package lists are missing/empty
    if ! apt-cache show tango-db >/dev/null 2>&1; then apt-get update -qq; fi
    apt_install() {
        apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            tango-common dbconfig-no-thanks "${need_pkgs[@]}" >>"$STATE_DIR/apt.log" 2>&1
    }
    # retry once after "apt-get update" (stale package lists give 404s)
    apt_install || { apt-get update -qq >>"$STATE_DIR/apt.log" 2>&1; apt_install; } \
        || { tail -30 "$STATE_DIR/apt.log" >&2; die "apt-get install failed"; }
    log "packages installed"
fi

# ---- 2. MariaDB server running?
mysql_up() { mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; }
# note: "mysqladmin ping" exits 0 when the server answers, even with "Access denied"
if ! mysql_up; then
    log "MariaDB not running: starting /usr/sbin/mariadbd"
    [ -x /usr/sbin/mariadbd ] || die "/usr/sbin/mariadbd missing"
    datadir=$(my_print_defaults --mysqld 2>/dev/null | sed -n 's/^--datadir=//p' | tail -1)
    datadir=${datadir:-/var/lib/mysql}
    if [ ! -d "$datadir/mysql" ]; then
        log "initialising MariaDB datadir $datadir"
        mkdir -p "$datadir"; chown mysql:mysql "$datadir"
        mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >"$STATE_DIR/mariadb-install.log" 2>&1 \
            || { cat "$STATE_DIR/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --pidfile /run/mysqld/mysqld.pid \
        --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 300); do mysql_up && break; sleep 0.2; done
    mysql_up || die "MariaDB did not come up within 60 s (see /var/log/mysql/error.log)"
    log "MariaDB is up"
fi

# ---- 3. account + database
mysql_admin_detect || die "cannot log in to MariaDB as root (socket or TCP; set MYSQL_ROOT_PASSWORD)"
if [ "${TANGO_DB_RESET:-0}" = 1 ]; then
    log "TANGO_DB_RESET=1: dropping database $DB"
    mysql_admin -e "DROP DATABASE IF EXISTS \`$DB\`"
fi
# Dedicated account for DataBaseds: Debian's stock root@localhost is unix_socket-only,
# which DataBaseds (TCP to 127.0.0.1) cannot use.
mysql_admin <<EOF
CREATE DATABASE IF NOT EXISTS \`$DB\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$DB_USER'@'127.0.0.1';
EOF
ntables=$(mysql_admin -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$DB' AND table_name='device'")
if [ "$ntables" = 0 ]; then
    # The Debian SQL hard-codes the schema name `tango` (stored procedures `tango.ds_start`,
    # `tango.device`, ... and ROUTINE_SCHEMA='tango'); rewrite it to our database name.
    # DataBaseds itself uses MYSQL_DATABASE for its connection and for "CALL <db>.ds_start".
    {
        echo "USE \`$DB\`;"
        cat "$SQL_DIR/create_db_tables.sql" "$SQL_DIR/stored_proc.sql"
        grep -v '^source ' "$SQL_INSTALL"
    } | sed -e "s/\\btango\\./\`$DB\`./g" -e "s/ROUTINE_SCHEMA = 'tango'/ROUTINE_SCHEMA = '$DB'/" \
      | mysql_admin "$DB" || {
        mysql_admin -e "DROP DATABASE IF EXISTS \`$DB\`"   # no half-loaded schema next time
        die "loading the Tango schema into $DB failed"; }
    log "created Tango schema in database $DB"
else
    log "database $DB already has the Tango schema (set TANGO_DB_RESET=1 for a fresh one)"
fi

# ---- 4. start DataBaseds
mkdir -p "$STATE_DIR"
# shellcheck disable=SC2094
env MYSQL_HOST="$DBDS_MYSQL_HOST" MYSQL_USER="$DB_USER" MYSQL_PASSWORD="$DB_PASS" MYSQL_DATABASE="$DB" \
    TANGO_HOST="$TANGO_HOST_VALUE" \
    setsid "$DATABASEDS" 2 -ORBendPoint "giop:tcp:$BIND:$PORT" </dev/null >"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"
log "DataBaseds started, pid $pid, log $LOG; waiting for it to answer"

# DataBaseds exits 0 even when it cannot log in to MariaDB: poll, and watch the process.
deadline=$(( $(date +%s) + TIMEOUT ))
until ping_db; do
    if ! [ -d "/proc/$pid" ] || grep -q Exiting "$LOG" 2>/dev/null; then
        cat "$LOG" >&2; rm -f "$PIDFILE"; die "DataBaseds exited"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { cat "$LOG" >&2; die "DataBaseds not ready after ${TIMEOUT}s"; }
    sleep 0.2
done
log "DataBaseds ready on port $PORT (database $DB)"
echo "TANGO_HOST=$TANGO_HOST_VALUE"
