#!/usr/bin/env bash
# A throwaway stock Debian Postgres 15 for the bench: Debian's own `postgresql-15`
# package, a fresh cluster with its DEFAULT settings (fsync on, synchronous_commit on,
# shared_buffers 128MB, ...), changed only where the bench needs it:
#   listen_addresses = 127.0.0.1, port = a free one, max_connections = 300 (the idle
#   and drain_2proc workloads open many pools), shared_preload_libraries =
#   pg_stat_statements (statements-per-job rows), and unix_socket_directories = the
#   temporary directory (so it needs no /var/run/postgresql; not a performance setting).
#
#   DATABASE_URL=$(bash bench/stock-postgres.sh start) npm run bench -- --only=drain_noop
#   bash bench/stock-postgres.sh stop            # the server the last `start` started
#   bash bench/stock-postgres.sh stop <pid>      # a given one (its postmaster PID)
#
# `start` prints only the DATABASE_URL on stdout (progress goes to stderr) and records
# the postmaster's PID and directory in $STATE. `stop` sends SIGINT (fast shutdown) to
# that PID, waits for it to exit and deletes the cluster's temporary directory. It runs
# as root (apt-get, and initdb as the `postgres` OS user through runuser) or as a
# non-root user that may run initdb itself (then no install).
set -euo pipefail

PG_VERSION=15
BIN=/usr/lib/postgresql/$PG_VERSION/bin
STATE=${STOCK_PG_STATE:-/tmp/pgcourier-stock-postgres.state}
PREFIX=pgcourier-stock-pg-

log() { echo "stock-postgres: $*" >&2; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_if_missing() {
  if [ -x "$BIN/initdb" ] && [ -f "/usr/lib/postgresql/$PG_VERSION/lib/pg_stat_statements.so" ]; then return; fi
  [ "$(id -u)" = 0 ] || { log "postgresql-$PG_VERSION is not installed and only root can apt-get it"; exit 1; }
  log "installing postgresql-$PG_VERSION with apt-get"
  # The package's postinst creates and starts a default cluster (15/main on 5432) unless
  # told not to; the bench needs none, so it is stopped again below if it appeared.
  local had_main=0
  [ -d "/etc/postgresql/$PG_VERSION/main" ] && had_main=1
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "postgresql-$PG_VERSION" >&2
  if [ "$had_main" = 0 ] && command -v pg_ctlcluster >/dev/null && pg_ctlcluster "$PG_VERSION" main status >/dev/null 2>&1; then
    log "stopping the default cluster $PG_VERSION/main the package started"
    pg_ctlcluster "$PG_VERSION" main stop >&2 || true
  fi
}

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

start() {
  install_if_missing
  id postgres >/dev/null 2>&1 || [ "$(id -u)" != 0 ] || { log "no postgres OS user"; exit 1; }
  local dir port password pid
  dir=$(mktemp -d "/tmp/${PREFIX}XXXXXX")
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  password=$(openssl rand -hex 16)
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
  # Host connections authenticate with scram-sha-256, as a Debian cluster's do by default.
  as_owner "$BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  rm -f "$dir/pwfile"
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<EOF

# pgcourier bench (bench/stock-postgres.sh): everything else is initdb's default.
listen_addresses = '127.0.0.1'
port = $port
max_connections = 300
shared_preload_libraries = 'pg_stat_statements'
unix_socket_directories = '$dir'
EOF
  if ! as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >&2; then
    cat "$dir/postgres.log" >&2 || true
    exit 1
  fi
  pid=$(head -1 "$dir/data/postmaster.pid")
  printf '%s %s\n' "$pid" "$dir" >"$STATE"
  log "Postgres $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, PID $pid, data in $dir/data; stop with: bash bench/stock-postgres.sh stop $pid"
  echo "postgres://postgres:$password@127.0.0.1:$port/postgres"
}

stop() {
  local pid=${1:-} dir=''
  if [ -z "$pid" ]; then
    [ -f "$STATE" ] || { log "no PID given and no $STATE"; exit 1; }
    read -r pid dir <"$STATE"
  fi
  [[ "$pid" =~ ^[0-9]+$ ]] || { log "not a PID: $pid"; exit 1; }
  if [ -d "/proc/$pid" ]; then
    # Only a postmaster this script started: its working directory is our data directory.
    local cwd
    cwd=$(readlink "/proc/$pid/cwd" || true)
    case "$cwd" in
    /tmp/${PREFIX}*/data) dir=${cwd%/data} ;;
    *) { log "PID $pid is not a Postgres started by this script (cwd $cwd)"; exit 1; } ;;
    esac
    kill -INT "$pid"
    for _ in $(seq 1 300); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      log "PID $pid still running after 30 s; sending SIGQUIT"
      kill -QUIT "$pid" || true
      sleep 1
    fi
    log "stopped PID $pid"
  else
    log "PID $pid is not running"
  fi
  case "$dir" in /tmp/${PREFIX}*) rm -rf "$dir" && log "removed $dir" ;; esac
  if [ -f "$STATE" ] && [ "$(cut -d' ' -f1 "$STATE")" = "$pid" ]; then rm -f "$STATE"; fi
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
  echo "usage: bash bench/stock-postgres.sh start | stop [pid]" >&2
  exit 2
  ;;
esac
