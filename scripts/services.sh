#!/usr/bin/env bash
# Makes sure the local servers the tests and demos use answer: PostgreSQL
# (5432), MariaDB (3306), Redis (6379) and pgbouncer (6432, transaction
# pooling in front of PostgreSQL). Starts one that is installed but stopped; says what to install when it
# is not there. Installs the test tools (Chromium) as root or under CI, so
# `go test` never installs anything. Honours DATABASE_URL (then PostgreSQL is
# assumed to be managed elsewhere).
#
# To add a service or tool: write one function below (see "Extension point")
# and call it from the list at the end.
set -u
open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 50); do open "$1" && return 0; sleep 0.2; done; return 1; }
status=0
need() { # name port start-command package
  local name=$1 port=$2 start=$3 pkg=$4
  if open "$port"; then return 0; fi
  if [ -n "${CI:-}" ] || [ "$(id -u)" = 0 ]; then
    echo "services: $name is not answering on 127.0.0.1:$port; starting it" >&2
    bash -c "$start" >/dev/null 2>&1 || true
    if wait_port "$port"; then return 0; fi
  fi
  echo "services: $name is not answering on 127.0.0.1:$port. Install it with 'apt-get install $pkg' and start it with: $start" >&2
  status=1
}
# may_install: true when this script may install packages (root or CI).
may_install() { [ -n "${CI:-}" ] || [ "$(id -u)" = 0 ]; }
apt_updated=
apt_install() { # package... ; apt-get update once per run, non-interactive
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  if [ -z "$apt_updated" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
    apt_updated=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# ---- Extension point: one function per service or tool. ----

postgres_service() {
  [ -n "${DATABASE_URL:-}" ] && return 0
  need PostgreSQL 5432 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main start' postgresql
}

mariadb_service() {
  need MariaDB 3306 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' mariadb-server
}

# Redis: the sinks/redis tests use it.
redis_start='mkdir -p /var/lib/redis /var/log/redis; redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'
redis_service() {
  need Redis 6379 "$redis_start" redis-server
}

# Chromium renders the HTML audit report in audit's TestHTML (which fails
# under CI when it is missing).
chromium_tool() {
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null && return 0
  if may_install; then
    echo "services: installing chromium" >&2
    apt_install chromium && return 0
  fi
  echo "services: chromium is missing. Install it with 'apt-get install chromium'" >&2
  status=1
}

# pgbouncer (6432): transaction pooling in front of the local PostgreSQL, with
# scripts/pgbouncer/pgbouncer.ini. It refuses to run as root, so it runs as
# the postgres user; pidfile and log are in /tmp/transit-pgbouncer.
pgbouncer_service() {
  open 6432 && return 0
  if [ -n "${CI:-}" ] || [ "$(id -u)" = 0 ]; then
    if ! command -v pgbouncer >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "services: installing pgbouncer" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q pgbouncer >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pgbouncer >/dev/null 2>&1; }
    fi
    if command -v pgbouncer >/dev/null; then
      local dir=/tmp/transit-pgbouncer here
      here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
      mkdir -p "$dir" && cp "$here/pgbouncer/pgbouncer.ini" "$here/pgbouncer/userlist.txt" "$dir/"
      # a pidfile left by a pgbouncer that died keeps a new one from starting
      if [ -f "$dir/pgbouncer.pid" ] && ! kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
        rm -f "$dir/pgbouncer.pid"
      fi
      if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$dir" && pgbouncer -d -u postgres "$dir/pgbouncer.ini" >/dev/null 2>&1
      else
        pgbouncer -d "$dir/pgbouncer.ini" >/dev/null 2>&1
      fi
      wait_port 6432 && return 0
    fi
  fi
  echo "services: pgbouncer is not answering on 127.0.0.1:6432. Install it with 'apt-get install pgbouncer' and start it with: pgbouncer -d -u postgres scripts/pgbouncer/pgbouncer.ini (or make services as root)" >&2
  status=1
}

# ---- The list: add a line for a new function. ----
postgres_service
mariadb_service
redis_service
chromium_tool
[ -n "${DATABASE_URL:-}" ] || pgbouncer_service
exit $status
