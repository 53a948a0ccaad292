#!/usr/bin/env bash
# make demo-feeds: on the Chinook target of `make demo`, build a customer
# index with invoices (documents: form) in the Elasticsearch TEST DOUBLE
# (internal/estest, not Elasticsearch) and a Redis cache of tracks, then
# show one document of each.
#
# Feeds need wal_level=logical. When the demo's PostgreSQL runs with
# another wal_level (the shared server here runs replica), this script
# starts a private PostgreSQL with wal_level=logical under
# ${TRANSIT_DEMO_FEEDS_DIR:-/tmp/transit-demo-feeds} and loads Chinook
# into it with the same plan as `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TRANSIT_DEMO_URL:=postgres://postgres@127.0.0.1:5432/transit_demo?sslmode=disable}"
: "${ES_ADDR:=127.0.0.1:9299}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
dir=${TRANSIT_DEMO_FEEDS_DIR:-/tmp/transit-demo-feeds}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

admin_url=$(printf '%s' "$TRANSIT_DEMO_URL" | sed -E 's#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/postgres#')
level=$(psql "$admin_url" -Atc 'SHOW wal_level' 2>/dev/null || echo none)
if [ "$level" != logical ]; then
  port=${TRANSIT_DEMO_FEEDS_PORT:-5499}
  echo "demo-feeds: $TRANSIT_DEMO_URL runs wal_level=$level; feeds need logical: using a private PostgreSQL on port $port ($dir)"
  if ! as_pg "$PGBIN/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
    mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
    [ -d "$dir/data" ] || as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
    as_pg "$PGBIN/pg_ctl" start -w -D "$dir/data" -l "$dir/log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20" >/dev/null
  fi
  TRANSIT_DEMO_URL="postgres://postgres@127.0.0.1:$port/transit_demo?sslmode=disable"
fi
export TRANSIT_DEMO_URL REDIS_URL ES_URL="http://$ES_ADDR"

echo "== Chinook into $TRANSIT_DEMO_URL (as make demo)"
gunzip -kf examples/chinook/Chinook_Sqlite.sqlite.gz
bin/transit run examples/chinook/plan.yaml >/dev/null 2>"${TMPDIR:-/tmp}/transit-demo-feeds-run.log" || { cat "${TMPDIR:-/tmp}/transit-demo-feeds-run.log"; exit 2; }

echo "== Elasticsearch TEST DOUBLE (internal/estest — not Elasticsearch) on $ES_ADDR"
go build -o bin/estest-server ./internal/estest/cmd/estest-server
bin/estest-server -addr "$ES_ADDR" 2>/dev/null &
es_pid=$!
trap 'kill $es_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fsS "http://$ES_ADDR/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== feed rebuild (Redis cache of tracks)"
bin/transit feed rebuild examples/chinook/feeds.yaml --feed track_cache
echo "== feed rebuild (customer index with invoices)"
bin/transit feed rebuild examples/chinook/feeds.yaml --feed customer_search
echo "== verify both feeds against PostgreSQL (transit verify --feed)"
bin/transit verify examples/chinook/feeds.yaml --feed track_cache --feed customer_search
bin/transit feed status examples/chinook/feeds.yaml

echo "== one track from Redis: HGETALL chinook:track:1"
redis-cli -u "$REDIS_URL" HGETALL chinook:track:1 | paste - -
echo "== one customer from the index: GET customers/_doc/1"
# The test double does not pretty-print; python3 does when present.
if command -v python3 >/dev/null; then
  curl -fsS "http://$ES_ADDR/customers/_doc/1" | python3 -m json.tool --no-ensure-ascii | sed -n "1,40p"; echo "  ... (more invoices)"
else
  curl -fsS "http://$ES_ADDR/customers/_doc/1"
fi
echo
echo "(keep it current: bin/transit feed run examples/chinook/feeds.yaml; the ES test double stops with this script)"
