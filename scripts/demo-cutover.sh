#!/usr/bin/env bash
# make demo-cutover: walk Chinook's Track through the phases of the
# transition (old → shadow → migrating, and a rollback), with the gates
# refusing and then passing. Needs PostgreSQL only: TRANSIT_DEMO_CUTOVER_URL,
# else DATABASE_URL's server with database transit_demo_cutover, else
# postgres@127.0.0.1:5432. The database is dropped and made again.
#
# The reads in shadow and migrating go through `transit serve` (package
# dualread), started here on 127.0.0.1:8089 without a token (--insecure-dev,
# loopback only) and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRANSIT_DEMO_CUTOVER_URL:-}" ]; then
  if [ -n "${DATABASE_URL:-}" ]; then
    TRANSIT_DEMO_CUTOVER_URL=$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/transit_demo_cutover#')
  else
    TRANSIT_DEMO_CUTOVER_URL="postgres://postgres@127.0.0.1:5432/transit_demo_cutover?sslmode=disable"
  fi
fi
export TRANSIT_DEMO_CUTOVER_URL
export TRANSIT_ACTOR=${TRANSIT_ACTOR:-demo@$(hostname)}
admin=$(printf '%s' "$TRANSIT_DEMO_CUTOVER_URL" | sed -E 's#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/postgres#')
plan=examples/chinook/plan-cutover.yaml
t=bin/transit
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$TRANSIT_DEMO_CUTOVER_URL" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() { # expect CODE command...: run it, show it, and stop unless it exits CODE
  local want=$1; shift
  printf '$ %s\n' "$*"
  set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "demo-cutover: exit $got, expected $want" >&2; exit 1; fi
}

command -v psql >/dev/null || { echo "demo-cutover: psql is needed" >&2; exit 2; }
command -v curl >/dev/null || { echo "demo-cutover: curl is needed" >&2; exit 2; }
addr=127.0.0.1:${TRANSIT_DEMO_SERVE_PORT:-8089}
serve_pid=
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; wait 2>/dev/null || true' EXIT
# read_all: GET every Track through serve (curl's [1-3503] range, one
# connection); prints how many answers came from each store.
read_all() {
  curl -sf "http://$addr/v1/Track/[1-3503]" | grep -o '"source":"[a-z]*"' | sort | uniq -c
}
# show ID: one answer of serve.
show() { printf '$ curl http://%s/v1/Track/%s\n' "$addr" "$1"; curl -sf "http://$addr/v1/Track/$1"; echo; }
psql -X -q "$admin" -c 'DROP DATABASE IF EXISTS transit_demo_cutover WITH (FORCE)' -c 'CREATE DATABASE transit_demo_cutover'
gunzip -kf examples/chinook/Chinook_Sqlite.sqlite.gz

step "1. Move Chinook (Track is named by a tables: rule, so transit knows it once a run moved it)"
expect 0 $t run $plan
step "2. After the run: old → shadow passes its one gate (lag)"
expect 0 $t cutover $plan --entity Track --to shadow --reason "compare new with old"

step "3. Three differences injected into new (what shadow reads and verify must catch)"
psql_ -c "UPDATE chinook.track SET name = name || ' (edited)' WHERE track_id IN (7, 77, 777)"

step "4. Shadow reads: transit serve answers from old and compares new, field by field"
$t serve $plan --addr "$addr" --insecure-dev >bin/demo-cutover-serve.log 2>&1 &
serve_pid=$!
for _ in $(seq 50); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://$addr/readyz" >/dev/null || { echo "demo-cutover: transit serve did not start; see bin/demo-cutover-serve.log" >&2; exit 1; }
read_all
sleep 2 # shadow counts are flushed to the ledger every second
psql_ -c "SELECT entity, id, jsonb_array_elements_text(fields) AS field FROM transit.shadow_mismatches ORDER BY id"
n=$(psql_ -Atc "SELECT string_agg(id, ',' ORDER BY id::int) FROM transit.shadow_mismatches WHERE entity = 'Track'")
[ "$n" = "7,77,777" ] || { echo "demo-cutover: shadow mismatches are [$n], expected exactly 7,77,777" >&2; exit 1; }
psql_ -c "SELECT entity, reads, mismatches FROM transit.shadow_stats"

step "5. A gate refuses migrating and names each failure"
expect 1 $t verify $plan --entity Track
expect 1 $t cutover $plan --entity Track --to migrating

step "6. Repair, then a clean verify"
expect 0 $t verify $plan --entity Track --repair
expect 0 $t verify $plan --entity Track
# More shadow reads, now without a mismatch, until the rate falls under
# 0.05% (serve samples every read but drops samples its queue cannot hold,
# so how many rounds that takes depends on the machine).
for round in 1 2 3 4 5 6; do
  read_all
  sleep 2
  $t cutover $plan --entity Track --to migrating --dry-run >/dev/null 2>&1 && break
done
expect 0 $t cutover $plan --entity Track --to migrating --dry-run
expect 0 $t cutover $plan --entity Track --to migrating --reason "gates pass"

step "7. In migrating, records deleted from new come back through serve, ported"
sleep 1 # serve follows the phase within 1 s
psql_ -c "DELETE FROM chinook.playlist_track WHERE track_id BETWEEN 3001 AND 3020" \
      -c "DELETE FROM chinook.invoice_line WHERE track_id BETWEEN 3001 AND 3020" \
      -c "DELETE FROM chinook.track WHERE track_id BETWEEN 3001 AND 3020"
echo "20 tracks deleted from new: $(psql_ -Atc 'SELECT count(*) FROM chinook.track WHERE track_id BETWEEN 3001 AND 3020') left"
show 3001
echo "the other 19, each answered from old and ported:"
curl -sf "http://$addr/v1/Track/[3002-3020]" | grep -o '"source":"[a-z]*","ported":true' | sort | uniq -c
n=$(psql_ -Atc 'SELECT count(*) FROM chinook.track WHERE track_id BETWEEN 3001 AND 3020')
echo "tracks 3001-3020 in new again: $n"
[ "$n" = 20 ] || { echo "demo-cutover: $n of 20 deleted tracks were ported back" >&2; exit 1; }

step "8. Rollback: one phase back, at once; readers follow within 1 s"
expect 0 $t rollback $plan --entity Track --reason "demo: back to shadow"
sleep 1
show 1
curl -sf "http://$addr/v1/Track/1" | grep -q '"phase":"shadow","source":"old"' || { echo "demo-cutover: serve did not follow the rollback within 1 s" >&2; exit 1; }
expect 0 $t status $plan
step "History (who, when, why, forced)"
psql_ -c "SELECT id, entity, from_phase, to_phase, changed_by, changed_at, forced, reason FROM transit.phase_history ORDER BY id"
