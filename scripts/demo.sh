#!/usr/bin/env bash
# make demo / make demo-mysql: migrate the bundled Chinook sample into
# PostgreSQL database transit_demo. Needs only PostgreSQL (and MariaDB for
# the mysql variant): DATABASE_URL if set (its database is replaced by
# transit_demo), else postgres@127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-sqlite}
if [ -z "${TRANSIT_DEMO_URL:-}" ]; then
  if [ -n "${DATABASE_URL:-}" ]; then
    # same server and credentials, database transit_demo
    TRANSIT_DEMO_URL=$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/transit_demo#')
  else
    TRANSIT_DEMO_URL="postgres://postgres@127.0.0.1:5432/transit_demo?sslmode=disable"
  fi
fi
export TRANSIT_DEMO_URL
case "$kind" in
  sqlite)
    gunzip -kf examples/chinook/Chinook_Sqlite.sqlite.gz
    exec bin/transit run examples/chinook/plan.yaml
    ;;
  mysql)
    : "${LEGACY_MYSQL_URL:=mysql://root@127.0.0.1:3306/Chinook}"
    export LEGACY_MYSQL_URL
    if ! command -v mysql >/dev/null; then
      echo "demo-mysql: the mysql client is needed to load Chinook_MySql.sql (apt-get install mariadb-client)" >&2; exit 2
    fi
    # The script means its few backslashes literally, as the PostgreSQL and
    # SQLite versions hold them; MySQL would otherwise read them as escapes.
    mysql -h 127.0.0.1 -u root --init-command="SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')" < examples/chinook/Chinook_MySql.sql
    exec bin/transit run examples/chinook/plan-mysql.yaml
    ;;
esac
