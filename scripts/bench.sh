#!/usr/bin/env bash
# make bench: transit's benchmarks (not in CI). See bench/README.md.
#
# Sections, each a function bench_<name>, run in this order:
#   go      the Go benchmarks of ./sources/... and ./sinks/... (-benchtime 2s)
#   move    the employees-shaped MariaDB database (about 3.9M rows at scale 1,
#           made by bench/gen) moved into PostgreSQL by `transit run`, against
#           the ceiling of psql \copy of the same rows plus the same keys;
#           also `transit version` wall time, and with BENCH_RSS_SCALE the
#           peak memory of a move BENCH_RSS_SCALE times larger
#   verify  `transit verify` of the moved data set (moved first when schema
#           employees is missing), against the ceiling of verify's own
#           order-free checksum SQL run directly in MariaDB and PostgreSQL
#           side by side (bench/ceiling); then with one changed row
#   audit   `transit audit --entity salaries` (the largest table), against
#           one plain sources/mysql scan of it (bench/ceiling); then the
#           whole data set once
#   deletes `transit run --deletes` on a table of BENCH_DELETES_ROWS rows
#           (default 1000000) with 1,000 keys deleted in MariaDB: wall time,
#           exact count, verify after, and peak RSS against the same at a
#           quarter of the size (memory flat in table size)
#   serve   `transit serve` of an orders table (100,000 rows, MariaDB → PostgreSQL)
#           pinned in phase migrating, loaded by bench/serveload from a second
#           process: the hit path's req/s (closed loop) and its p99 at 5,000
#           req/s against direct pgx reads of the same rows at the same rate
#           (the two alternate in 10 slices, so outside load falls on both);
#           then the fallback-and-port path's p50 against one old read plus
#           one new upsert plus 1 ms (all from HdrHistogram)
#   limits  the move with limits configured on both stores but not binding
#           (bench/employees-limits.yaml: huge rows_per_second, a throttle
#           query that never fires, breakers) against the plain move,
#           alternating BENCH_LIMITS_ROUNDS times; the border's overhead
#   feeds   (issue 9, acceptance 5) bench/feeds.yaml: `transit feed rebuild --no-verify`
#           of BENCH_FEED_ROWS rows into Redis (rows/s, target >= 200k;
#           beside Redis's own ceiling, bench/redisceiling, and the CPU
#           Redis spent per row in each) and into the Elasticsearch test
#           double (docs/s, client side); the Redis rebuild's peak RSS with
#           its verify at a quarter and at the full size (target <= 100 MiB,
#           flat); `transit feed run` with bench/feedlag
#           writing BENCH_FEED_RATE changes/s for BENCH_FEED_SECONDS:
#           commit -> visible in Redis p50/p99/max (target p99 < 250 ms)
#           and the feed process's peak RSS
#
# Environment:
#   BENCH_ONLY       sections to run, comma or space separated (default: all)
#   BENCH_SCALE      size multiplier of the generated database (default 1)
#   BENCH_WORKERS    transit run --workers (default 3, transit's own default)
#   BENCH_LIMITS_ROUNDS  plain/limited move pairs of the limits section (default 2)
#   BENCH_VERIFY_PAIRS  verify: plain-checksum/verify pairs (default 5)
#   BENCH_DELETES_ROWS  rows of the deletes section's big table (default 1000000)
#   BENCH_SERVE_SECONDS  serve: length of each load measurement (default 10)
#   BENCH_SERVE_CONNS    serve: concurrent client connections (default 16)
#   BENCH_SERVE_CLIENT   serve: bench/serveload's HTTP client, raw (default) or nethttp
#   BENCH_RSS_SCALE  e.g. 4: also move a database that many times larger
#                    (transit_bench4) and compare transit's peak RSS
#   BENCH_MYSQL_URL  source database (default mysql://root@127.0.0.1:3306/transit_bench)
#   BENCH_PG_URL     target database (default postgres://postgres@127.0.0.1:5432/transit_bench?sslmode=disable)
#   BENCH_FEED_PG_URL  feeds: a database with wal_level=logical (default BENCH_PG_URL)
#   BENCH_FEED_ROWS  feeds: rows built into Redis and the test double (default 1000000)
#   BENCH_FEED_RATE, BENCH_FEED_SECONDS  feeds: the lag run (default 10000 changes/s, 30 s)
#   BENCH_REDIS_URL  feeds: Redis (default redis://127.0.0.1:6379/0)
#   BENCH_ES_URL     feeds: an Elasticsearch to use instead of starting the test double
#
# Adding a section: write bench_<name>, add <name> to SECTIONS, and report
# with summary (a line of the pasteable block) and the helpers below
# (ensure_legacy, pg_reset, timed, per_sec).
set -euo pipefail
cd "$(dirname "$0")/.."

SECTIONS=(go move verify audit limits deletes feeds serve)
BENCH_ONLY=${BENCH_ONLY:-${SECTIONS[*]}}
BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_WORKERS=${BENCH_WORKERS:-3}
BENCH_RSS_SCALE=${BENCH_RSS_SCALE:-}
BENCH_LIMITS_ROUNDS=${BENCH_LIMITS_ROUNDS:-2}
BENCH_DELETES_ROWS=${BENCH_DELETES_ROWS:-1000000}
BENCH_FEED_ROWS=${BENCH_FEED_ROWS:-1000000}
BENCH_FEED_RATE=${BENCH_FEED_RATE:-10000}
BENCH_FEED_SECONDS=${BENCH_FEED_SECONDS:-30}
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
export BENCH_MYSQL_URL=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/transit_bench}
export BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/transit_bench?sslmode=disable}
PLAN=bench/employees.yaml
OUT=bench/out
GEN=$OUT/gen
BIN=bin/transit
# The sections run a private copy, so a `make build` by someone else in the
# middle of the run does not swap the binary being measured.
TRANSIT=$OUT/transit
TABLES=(departments employees dept_manager dept_emp titles salaries) # load order

mkdir -p "$OUT"
SUMMARY=()
FAILED=0

# ---------------------------------------------------------------- helpers

say() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() { warn "$*"; exit 2; }
# summary LABEL VALUE: one row of the block printed at the end.
summary() { SUMMARY+=("$(printf '| %-44s | %s |' "$1" "$2")"); }
now_ns() { date +%s%N; }
# secs START_NS END_NS: elapsed seconds, 2 decimals.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
# per_sec ROWS SECONDS: rows per second, rounded.
per_sec() { awk -v r="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", r / s; else print "n/a" }'; }
# grouped N: 1234567 -> 1,234,567
grouped() { printf '%s' "$1" | sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta'; }

# timed NAME CMD...: run CMD under /usr/bin/time with its output in
# $OUT/NAME.log; sets TIMED_RC, TIMED_WALL (seconds) and TIMED_RSS (KiB).
timed() {
  local name=$1; shift
  TIMED_RC=0
  /usr/bin/time -f '%e %M' -o "$OUT/$name.time" "$@" >"$OUT/$name.log" 2>&1 || TIMED_RC=$?
  read -r TIMED_WALL TIMED_RSS < <(tail -n 1 "$OUT/$name.time")
}

# timed_out NAME CMD...: as timed, with CMD's standard output alone in
# $OUT/NAME.out (its standard error in $OUT/NAME.log).
timed_out() {
  local name=$1; shift
  TIMED_RC=0
  /usr/bin/time -f '%e %M' -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.log" || TIMED_RC=$?
  read -r TIMED_WALL TIMED_RSS < <(tail -n 1 "$OUT/$name.time")
}

# url_db URL: the database name of a mysql:// or postgres:// URL.
url_db() { printf '%s' "$1" | sed -E 's#^[a-z]+://[^/]*/?##; s#[?].*$##'; }
# url_with_db URL NAME: URL naming database NAME instead.
url_with_db() { printf '%s' "$1" | sed -E "s#^([a-z]+://[^/?]*)(/[^?]*)?#\\1/$2#"; }

# my [mysql args...]: the mysql client on BENCH_MYSQL_URL's server (no database).
my() {
  local rest=${BENCH_MYSQL_URL#mysql://} auth host user pass port
  rest=${rest%%/*}
  if [[ $rest == *@* ]]; then auth=${rest%@*}; host=${rest##*@}; else auth=root; host=$rest; fi
  user=${auth%%:*}; pass=; [[ $auth == *:* ]] && pass=${auth#*:}
  port=3306; [[ $host == *:* ]] && { port=${host##*:}; host=${host%:*}; }
  MYSQL_PWD=$pass mysql --protocol=tcp -h "${host:-127.0.0.1}" -P "$port" -u "$user" --batch --skip-column-names "$@"
}

# pg URL [psql args...]: psql, stopping at the first error, quiet.
pg() { local url=$1; shift; psql "$url" -X -q -v ON_ERROR_STOP=1 --no-psqlrc "$@"; }

# pg_ensure_db URL: create URL's database when missing.
pg_ensure_db() {
  local db admin
  db=$(url_db "$1"); admin=$(url_with_db "$1" postgres)
  if [ -z "$(pg "$admin" -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    note "creating PostgreSQL database $db"
    pg "$admin" -c "CREATE DATABASE \"$db\""
  fi
}

# pg_reset URL SCHEMA...: drop the schemas (CASCADE) in URL's database.
pg_reset() {
  local url=$1 s sql=; shift
  for s in "$@"; do sql+="DROP SCHEMA IF EXISTS \"$s\" CASCADE; "; done
  pg "$url" -c "SET client_min_messages = warning; $sql"
}

# tsv_dir SCALE: where the generated files of that scale live.
tsv_dir() { printf '%s/s%s' "$OUT" "$1"; }

# expected SCALE TABLE: the row count bench/gen makes for TABLE.
expected() { "$GEN" -scale "$1" -counts | awk -v t="$2" '$1 == t { print $2 }'; }
expected_total() { "$GEN" -scale "$1" -counts | awk '{ n += $2 } END { print n }'; }

build_gen() { go build -o "$GEN" ./bench/gen; }

# ensure_tsv SCALE: the generator's files for SCALE, made unless already there.
ensure_tsv() {
  local dir stamp
  dir=$(tsv_dir "$1"); stamp="gen v$("$GEN" -version) scale $1"
  if [ -f "$dir/STAMP" ] && [ "$(cat "$dir/STAMP")" = "$stamp" ]; then
    note "TSV files: $dir (present)"
    return
  fi
  rm -rf "$dir"
  "$GEN" -scale "$1" -out "$dir"
  printf '%s\n' "$stamp" >"$dir/STAMP"
}

# legacy_ddl: the MariaDB tables, with the employees sample's column types.
legacy_ddl() {
  cat <<'SQL'
CREATE TABLE employees (
  emp_no     INT            NOT NULL,
  birth_date DATE           NOT NULL,
  first_name VARCHAR(14)    NOT NULL,
  last_name  VARCHAR(16)    NOT NULL,
  gender     ENUM('M','F')  NOT NULL,
  hire_date  DATE           NOT NULL,
  PRIMARY KEY (emp_no)
) ENGINE=InnoDB;
CREATE TABLE departments (
  dept_no   CHAR(4)     NOT NULL,
  dept_name VARCHAR(40) NOT NULL,
  PRIMARY KEY (dept_no),
  UNIQUE KEY (dept_name)
) ENGINE=InnoDB;
CREATE TABLE dept_manager (
  emp_no    INT     NOT NULL,
  dept_no   CHAR(4) NOT NULL,
  from_date DATE    NOT NULL,
  to_date   DATE    NOT NULL,
  PRIMARY KEY (emp_no, dept_no),
  FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE,
  FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE dept_emp (
  emp_no    INT     NOT NULL,
  dept_no   CHAR(4) NOT NULL,
  from_date DATE    NOT NULL,
  to_date   DATE    NOT NULL,
  PRIMARY KEY (emp_no, dept_no),
  FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE,
  FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE titles (
  emp_no    INT         NOT NULL,
  title     VARCHAR(50) NOT NULL,
  from_date DATE        NOT NULL,
  to_date   DATE        NULL,
  PRIMARY KEY (emp_no, title, from_date),
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE salaries (
  emp_no    INT  NOT NULL,
  salary    INT  NOT NULL,
  from_date DATE NOT NULL,
  to_date   DATE NOT NULL,
  PRIMARY KEY (emp_no, from_date),
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE
) ENGINE=InnoDB;
SQL
}

# ensure_legacy SCALE DB: MariaDB database DB holding bench/gen's rows at
# SCALE. Skipped when DB already has them: its comment names the generator
# version and scale (set only once a load has finished) and every table
# has the expected row count.
ensure_legacy() {
  local scale=$1 db=$2 dir stamp t want got ok=1 start
  dir=$(tsv_dir "$scale")
  ensure_tsv "$scale"
  stamp=$(cat "$dir/STAMP")
  if [ "$(my -e "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$db'")" = "$stamp" ]; then
    for t in "${TABLES[@]}"; do
      want=$(expected "$scale" "$t")
      got=$(my "$db" -e "SELECT COUNT(*) FROM \`$t\`" 2>/dev/null || echo missing)
      [ "$got" = "$want" ] || { ok=0; note "$db.$t: $got rows, want $want"; }
    done
    if [ "$ok" = 1 ]; then
      note "MariaDB database $db: present ($stamp, $(grouped "$(expected_total "$scale")") rows)"
      return
    fi
  fi
  note "loading MariaDB database $db from $dir ($stamp)"
  start=$(now_ns)
  my -e "SET GLOBAL local_infile = 1" 2>/dev/null || warn "could not SET GLOBAL local_infile = 1 (not root?); LOAD DATA LOCAL may be refused"
  my -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4"
  legacy_ddl | my "$db"
  local sql="SET foreign_key_checks = 0; SET unique_checks = 0;"
  for t in "${TABLES[@]}"; do
    # The files use LOAD DATA's defaults: tab, newline, \N for NULL.
    sql+=" LOAD DATA LOCAL INFILE '$PWD/$dir/$t.tsv' INTO TABLE \`$t\` CHARACTER SET utf8mb4;"
  done
  my --local-infile=1 "$db" -e "$sql"
  for t in "${TABLES[@]}"; do
    want=$(expected "$scale" "$t"); got=$(my "$db" -e "SELECT COUNT(*) FROM \`$t\`")
    [ "$got" = "$want" ] || die "$db.$t: loaded $got rows, want $want"
  done
  my -e "ALTER DATABASE \`$db\` COMMENT = '$stamp'"
  note "loaded in $(secs "$start" "$(now_ns)")s"
}

# ceiling_sql SCALE: psql script loading the TSV files into schema ceiling
# with one \copy after the other; ceiling_keys_sql: then the keys transit
# makes.
ceiling_sql() {
  local dir t
  dir=$(tsv_dir "$1")
  cat <<'SQL'
CREATE SCHEMA ceiling;
SET search_path = ceiling;
CREATE TABLE employees (emp_no integer NOT NULL, birth_date date NOT NULL, first_name varchar(14) NOT NULL,
  last_name varchar(16) NOT NULL, gender text NOT NULL CHECK (gender IN ('M', 'F')), hire_date date NOT NULL);
CREATE TABLE departments (dept_no varchar(4) NOT NULL, dept_name varchar(40) NOT NULL);
CREATE TABLE dept_manager (emp_no integer NOT NULL, dept_no varchar(4) NOT NULL, from_date date NOT NULL, to_date date NOT NULL);
CREATE TABLE dept_emp (emp_no integer NOT NULL, dept_no varchar(4) NOT NULL, from_date date NOT NULL, to_date date NOT NULL);
CREATE TABLE titles (emp_no integer NOT NULL, title varchar(50) NOT NULL, from_date date NOT NULL, to_date date);
CREATE TABLE salaries (emp_no integer NOT NULL, salary integer NOT NULL, from_date date NOT NULL, to_date date NOT NULL);
SQL
  for t in "${TABLES[@]}"; do
    printf "\\\\copy %s FROM '%s'\n" "$t" "$PWD/$dir/$t.tsv"
  done
}

ceiling_keys_sql() {
  cat <<'SQL'
SET search_path = ceiling;
ALTER TABLE employees    ADD PRIMARY KEY (emp_no);
ALTER TABLE departments  ADD PRIMARY KEY (dept_no), ADD UNIQUE (dept_name);
ALTER TABLE dept_manager ADD PRIMARY KEY (emp_no, dept_no);
ALTER TABLE dept_emp     ADD PRIMARY KEY (emp_no, dept_no);
ALTER TABLE titles       ADD PRIMARY KEY (emp_no, title, from_date);
ALTER TABLE salaries     ADD PRIMARY KEY (emp_no, from_date);
-- transit also carries over MariaDB's indexes on the foreign keys that
-- no primary key starts with.
CREATE INDEX ON dept_manager (dept_no);
CREATE INDEX ON dept_emp (dept_no);
ALTER TABLE dept_manager ADD FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE,
                         ADD FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE;
ALTER TABLE dept_emp     ADD FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE,
                         ADD FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE;
ALTER TABLE titles       ADD FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE;
ALTER TABLE salaries     ADD FOREIGN KEY (emp_no)  REFERENCES employees (emp_no)    ON DELETE CASCADE;
SQL
}

# pg_check_counts URL SCHEMA SCALE: every table of SCHEMA holds the
# generated row count; prints the differences and fails when any.
pg_check_counts() {
  local url=$1 schema=$2 scale=$3 t want got bad=0
  for t in "${TABLES[@]}"; do
    want=$(expected "$scale" "$t")
    got=$(pg "$url" -Atc "SELECT count(*) FROM \"$schema\".\"$t\"" 2>/dev/null || echo missing)
    [ "$got" = "$want" ] || { bad=1; note "$schema.$t: $got rows, want $want"; }
  done
  return $bad
}

# transit_move SCALE MYSQL_URL PG_URL NAME: drop the target schemas, run the
# plan under /usr/bin/time and check the row counts. Sets MOVE_OK, MOVE_WALL,
# MOVE_RSS (KiB).
transit_move() {
  local scale=$1 name=$4
  pg_ensure_db "$3"
  pg_reset "$3" employees transit
  note "$TRANSIT run $PLAN --workers $BENCH_WORKERS   (log: $OUT/$name.log)"
  BENCH_MYSQL_URL=$2 BENCH_PG_URL=$3 timed "$name" "$TRANSIT" run "$PLAN" --workers "$BENCH_WORKERS"
  MOVE_WALL=$TIMED_WALL MOVE_RSS=$TIMED_RSS MOVE_OK=1
  if [ "$TIMED_RC" != 0 ]; then
    MOVE_OK=0
    warn "transit run exited $TIMED_RC after ${TIMED_WALL}s; the end of $OUT/$name.log:"
    tail -n 25 "$OUT/$name.log" | sed 's/^/   | /' >&2
  elif ! pg_check_counts "$3" employees "$scale"; then
    MOVE_OK=0
    warn "transit run exited 0 but the row counts differ (above)"
  fi
}

# ---------------------------------------------------------------- sections

bench_go() {
  say "Go benchmarks: ./sources/... ./sinks/... ./border (-benchtime 2s)"
  local rc
  { go test -run '^$' -bench . -benchtime 2s -benchmem ./sources/... ./sinks/... ./border 2>&1; echo $? >"$OUT/go-bench.rc"; } |
    tee "$OUT/go-bench.txt" | grep -E '^(Benchmark|ok|FAIL|---|panic|pkg|cpu)' || true
  rc=$(cat "$OUT/go-bench.rc")
  if [ "$rc" != 0 ]; then
    FAILED=1; warn "go test -bench failed (exit $rc); full output in $OUT/go-bench.txt"
    summary "Go benchmarks" "FAILED (see bench/out/go-bench.txt)"
    return
  fi
  # One summary row per benchmark: package/name and its throughput.
  local label value
  while IFS='|' read -r label value; do
    summary "$label" "$value"
  done < <(awk '
    /^pkg: / { n = split($2, p, "/"); pkg = p[n - 1] "/" p[n] }
    /^Benchmark/ {
      name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
      rate = ""; ns = ""; allocs = ""
      for (i = 3; i < NF; i += 2) {
        if ($(i + 1) == "rows/s") rate = $i
        if ($(i + 1) == "ns/op") ns = $i
        if ($(i + 1) == "allocs/op") allocs = $i
      }
      v = rate != "" ? rate " rows/s" : ns " ns/op"
      if (allocs != "") v = v ", " allocs " allocs/op"
      print "go: " pkg " " name "|" v
    }' "$OUT/go-bench.txt")
}

bench_move() {
  local db total start ce_wall ce_rate tr_rate ratio
  db=$(url_db "$BENCH_MYSQL_URL")
  say "move: employees-shaped MariaDB database (scale $BENCH_SCALE) -> PostgreSQL"
  build_gen
  ensure_legacy "$BENCH_SCALE" "$db"
  total=$(expected_total "$BENCH_SCALE")

  say "move: transit run ($(grouped "$total") rows, $BENCH_WORKERS workers)"
  transit_move "$BENCH_SCALE" "$BENCH_MYSQL_URL" "$BENCH_PG_URL" transit-run
  if [ "$MOVE_OK" = 1 ]; then
    tr_rate=$(per_sec "$total" "$MOVE_WALL")
    note "wall ${MOVE_WALL}s, $(grouped "$tr_rate") rows/s, peak RSS $((MOVE_RSS / 1024)) MiB"
  else
    FAILED=1; tr_rate=
  fi

  say "move: ceiling (psql \\copy, one stream, then the same keys)"
  pg_reset "$BENCH_PG_URL" ceiling
  ceiling_sql "$BENCH_SCALE" >"$OUT/ceiling.sql"
  ceiling_keys_sql >"$OUT/ceiling-keys.sql"
  local mid end
  start=$(now_ns)
  pg "$BENCH_PG_URL" -f "$OUT/ceiling.sql"
  mid=$(now_ns)
  pg "$BENCH_PG_URL" -f "$OUT/ceiling-keys.sql"
  end=$(now_ns)
  ce_wall=$(secs "$start" "$end")
  pg_check_counts "$BENCH_PG_URL" ceiling "$BENCH_SCALE" || die "the ceiling load lost rows"
  ce_rate=$(per_sec "$total" "$ce_wall")
  note "wall ${ce_wall}s ($(secs "$start" "$mid")s \\copy, $(secs "$mid" "$end")s keys), $(grouped "$ce_rate") rows/s"

  say "move: transit version (wall time of a start)"
  local version_ms
  version_ms=$(version_wall)
  note "$version_ms"

  summary "move: rows (scale $BENCH_SCALE, 6 tables)" "$(grouped "$total")"
  if [ -n "$tr_rate" ]; then
    ratio=$(awk -v a="$tr_rate" -v b="$ce_rate" 'BEGIN { printf "%.2f", a / b }')
    summary "move: transit run --workers $BENCH_WORKERS" "${MOVE_WALL} s, $(grouped "$tr_rate") rows/s"
    summary "move: transit peak RSS" "$((MOVE_RSS / 1024)) MiB"
    summary "move: transit / ceiling" "$ratio"
  else
    summary "move: transit run --workers $BENCH_WORKERS" "FAILED (exit $TIMED_RC, see bench/out/transit-run.log)"
  fi
  summary "move: ceiling (psql \\copy + keys)" "${ce_wall} s, $(grouped "$ce_rate") rows/s ($(secs "$start" "$mid") s copy, $(secs "$mid" "$end") s keys)"
  summary "transit version" "$version_ms"

  if [ -n "$BENCH_RSS_SCALE" ]; then
    rss_check "${MOVE_RSS:-0}" "$MOVE_OK"
  fi
}

# version_wall: mean wall time of `transit version` (hyperfine when installed).
version_wall() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 20 --export-json "$OUT/version.json" "$TRANSIT version" >/dev/null 2>&1
    awk -F: '/"mean"/ { gsub(/[ ,]/, "", $2); printf "%.1f ms (hyperfine, 20 runs)", $2 * 1000; exit }' "$OUT/version.json"
    return
  fi
  local i start end
  "$TRANSIT" version >/dev/null # warm the page cache
  start=$(now_ns)
  for i in $(seq 20); do "$TRANSIT" version >/dev/null; done
  end=$(now_ns)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f ms (mean of 20 runs)", (b - a) / 20 / 1e6 }'
}

# rss_check RSS1 OK1: move a database BENCH_RSS_SCALE times larger into
# transit_bench<scale> and compare transit's peak RSS with scale 1's.
rss_check() {
  local base=$1 ok=$2 s=$BENCH_RSS_SCALE db mysql_url pg_url total diff
  db=transit_bench${s//./_}
  mysql_url=$(url_with_db "$BENCH_MYSQL_URL" "$db")
  pg_url=$(url_with_db "$BENCH_PG_URL" "$db")
  say "move: memory at scale $s ($db)"
  ensure_legacy "$s" "$db"
  total=$(expected_total "$s")
  transit_move "$s" "$mysql_url" "$pg_url" "transit-run-x$s"
  if [ "$MOVE_OK" != 1 ]; then
    FAILED=1
    summary "move: transit peak RSS at scale $s" "FAILED (see bench/out/transit-run-x$s.log)"
    return
  fi
  note "wall ${MOVE_WALL}s, $(grouped "$(per_sec "$total" "$MOVE_WALL")") rows/s, peak RSS $((MOVE_RSS / 1024)) MiB"
  if [ "$ok" = 1 ] && [ "$base" -gt 0 ]; then
    diff=$(awk -v a="$MOVE_RSS" -v b="$base" 'BEGIN { printf "%+.0f", (a - b) * 100 / b }')
    local verdict="within"; awk -v d="$diff" 'BEGIN { exit !(d > 10 || d < -10) }' && verdict="OUTSIDE"
    note "peak RSS vs scale $BENCH_SCALE: ${diff}% ($verdict the ±10% target)"
    summary "move: transit peak RSS at scale $s" "$((MOVE_RSS / 1024)) MiB (${diff}% vs scale $BENCH_SCALE, $verdict ±10%)"
  else
    summary "move: transit peak RSS at scale $s" "$((MOVE_RSS / 1024)) MiB"
  fi
  summary "move: transit run at scale $s" "${MOVE_WALL} s, $(grouped "$(per_sec "$total" "$MOVE_WALL")") rows/s"
}

# median N...: the median of the numbers (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# ratio A B: A / B, 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# mib KIB: KiB -> MiB, rounded.
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
# verdict VALUE OP LIMIT: "meets" or "MISSES" the target VALUE OP LIMIT (OP is <=).
verdict() { awk -v v="$1" -v l="$3" 'BEGIN { print (v <= l ? "meets" : "MISSES") }'; }

build_ceiling() { go build -o "$OUT/ceiling" ./bench/ceiling; }

# ensure_target: schema employees of BENCH_PG_URL holds the move's rows, or
# the move is run (transit run, as in the move section) to make it.
ensure_target() {
  pg_ensure_db "$BENCH_PG_URL"
  if pg_check_counts "$BENCH_PG_URL" employees "$BENCH_SCALE" >/dev/null 2>&1; then
    note "target: schema employees of $(url_db "$BENCH_PG_URL") present"
    return 0
  fi
  note "target: schema employees missing or incomplete; moving it first"
  transit_move "$BENCH_SCALE" "$BENCH_MYSQL_URL" "$BENCH_PG_URL" "$1"
  [ "$MOVE_OK" = 1 ] && note "moved in ${MOVE_WALL}s"
  [ "$MOVE_OK" = 1 ]
}

# target_stamp: the identity of the target tables (their OIDs) and of the
# latest transit run in the target database, to notice someone else
# re-moving the data set in the middle of a measurement.
target_stamp() {
  pg "$BENCH_PG_URL" -Atc "SELECT string_agg(c.oid::text, ',' ORDER BY c.relname) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'employees' AND c.relkind = 'r'" 2>/dev/null || echo none
}

# verify_ceiling NAME: the two whole-table checksum query sets, MariaDB and
# PostgreSQL side by side; sets CEIL_WALL and CEIL_OK.
verify_ceiling() {
  local name=$1 db start rc_my=0 rc_pg=0 pid_my pid_pg
  db=$(url_db "$BENCH_MYSQL_URL")
  start=$(now_ns)
  my "$db" <"$OUT/verify-ceiling-mysql.sql" >"$OUT/$name-mysql.out" 2>"$OUT/$name-mysql.err" &
  pid_my=$!
  pg "$BENCH_PG_URL" -At -F $'\t' -f "$OUT/verify-ceiling-pg.sql" >"$OUT/$name-pg.out" 2>"$OUT/$name-pg.err" &
  pid_pg=$!
  wait "$pid_my" || rc_my=$?
  wait "$pid_pg" || rc_pg=$?
  CEIL_WALL=$(secs "$start" "$(now_ns)")
  CEIL_OK=1
  if [ "$rc_my" != 0 ] || [ "$rc_pg" != 0 ]; then
    CEIL_OK=0
    warn "verify ceiling: mysql exited $rc_my, psql $rc_pg; see $OUT/$name-*.err"
  elif ! "$OUT/ceiling" verify-check "$OUT/$name-mysql.out" "$OUT/$name-pg.out" >"$OUT/$name.check" 2>&1; then
    CEIL_OK=0
    warn "verify ceiling: the two sides' checksums differ:"
    sed 's/^/   | /' "$OUT/$name.check" >&2
  fi
}

bench_verify() {
  local db total stamp0 stamp1 ce1 ce2 v1 v2 emp from key ch_wall delta rss
  db=$(url_db "$BENCH_MYSQL_URL")
  say "verify: transit verify against its ceiling (scale $BENCH_SCALE)"
  build_gen
  build_ceiling
  ensure_legacy "$BENCH_SCALE" "$db"
  total=$(expected_total "$BENCH_SCALE")
  if ! ensure_target verify-move; then
    FAILED=1; summary "verify" "FAILED: no target to verify (see bench/out/verify-move.log)"
    return
  fi
  "$OUT/ceiling" verify-sql -mysql "$BENCH_MYSQL_URL" -pg "$BENCH_PG_URL" -schema employees -out "$OUT" "${TABLES[@]}"
  stamp0=$(target_stamp)

  # Order: ceiling, clean verify, one-change verify, clean verify, ceiling.
  # The machine's load moves; the lower of the two ceilings and of the two
  # clean verifies count, and the one-change run is set against the mean of
  # the two clean runs around it.
  say "verify: ceiling (order-free whole-table checksums, MariaDB and PostgreSQL side by side)"
  verify_ceiling verify-ceiling-1
  ce1=$CEIL_WALL
  [ "$CEIL_OK" = 1 ] || { FAILED=1; summary "verify: ceiling" "FAILED (see bench/out/verify-ceiling-1*)"; return; }
  note "wall ${ce1}s (6 queries per side; the checksums of the two sides are equal)"

  say "verify: transit verify ($(grouped "$total") rows, clean)"
  note "$TRANSIT verify $PLAN --output json   (output: $OUT/verify-clean-1.out)"
  verify_clean verify-clean-1 || return
  v1=$CLEAN_WALL rss=$CLEAN_RSS

  # One changed row: the first salary of the employee in the middle.
  emp=$(pg "$BENCH_PG_URL" -Atc "SELECT emp_no FROM employees.salaries ORDER BY emp_no, from_date
    OFFSET (SELECT count(*) / 2 FROM employees.salaries) LIMIT 1")
  from=$(pg "$BENCH_PG_URL" -Atc "SELECT min(from_date) FROM employees.salaries WHERE emp_no = $emp")
  key="[$emp,\"$from\"]"
  say "verify: one changed row (salaries $key, salary + 1 in PostgreSQL)"
  pg "$BENCH_PG_URL" -c "UPDATE employees.salaries SET salary = salary + 1 WHERE emp_no = $emp AND from_date = '$from'"
  timed_out verify-change "$TRANSIT" verify "$PLAN" --output json
  pg "$BENCH_PG_URL" -c "UPDATE employees.salaries SET salary = salary - 1 WHERE emp_no = $emp AND from_date = '$from'"
  note "(row restored)"
  ch_wall=$TIMED_WALL
  [ "$TIMED_RSS" -gt "$rss" ] && rss=$TIMED_RSS
  local change_ok=1 crc=$TIMED_RC
  "$OUT/ceiling" verify-json -changed salaries -key "$key" -column salary "$OUT/verify-change.out" >"$OUT/verify-change.check" 2>&1 || change_ok=0
  sed 's/^/   | /' "$OUT/verify-change.check"
  if [ "$crc" != 1 ]; then
    change_ok=0; warn "transit verify exited $crc with one changed row (want 1); see $OUT/verify-change.out and .log"
  elif [ "$change_ok" = 0 ]; then
    warn "transit verify did not report exactly the changed row (above); see $OUT/verify-change.out and .log"
  fi
  note "wall ${ch_wall}s"

  say "verify: transit verify again (clean)"
  verify_clean verify-clean-2 || return
  v2=$CLEAN_WALL
  [ "$CLEAN_RSS" -gt "$rss" ] && rss=$CLEAN_RSS

  say "verify: ceiling again"
  verify_ceiling verify-ceiling-2
  ce2=$CEIL_WALL
  [ "$CEIL_OK" = 1 ] || { FAILED=1; summary "verify: ceiling" "FAILED (see bench/out/verify-ceiling-2*)"; return; }
  note "wall ${ce2}s"

  stamp1=$(target_stamp)
  if [ "$stamp0" != "$stamp1" ]; then
    warn "the target tables were re-created during the verify section (someone else moved into $(url_db "$BENCH_PG_URL")?): the figures are void"
    FAILED=1
  fi

  local r clean ce mean work
  ce=$(awk -v a="$ce1" -v b="$ce2" 'BEGIN { print (a < b ? a : b) }')
  clean=$(awk -v a="$v1" -v b="$v2" 'BEGIN { print (a < b ? a : b) }')
  mean=$(awk -v a="$v1" -v b="$v2" 'BEGIN { printf "%.2f", (a + b) / 2 }')
  delta=$(awk -v a="$ch_wall" -v b="$mean" 'BEGIN { printf "%+.2f", a - b }')
  work=$(awk '$1 == "salaries" { sub(/^.*rows [0-9]+\/[0-9]+, /, ""); sub(/, [0-9]+ missing.*$/, ""); print; exit }' "$OUT/verify-change.check")
  # verify's own elapsed time for salaries, the entity holding the change:
  # less exposed to the machine's noise than the wall time of six entities.
  local ems=() f
  for f in verify-clean-1 verify-change verify-clean-2; do
    ems+=("$(awk '$1 == "salaries" { print $(NF - 1); exit }' "$OUT/$f.check")")
  done
  local edelta
  edelta=$(awk -v a="${ems[0]}" -v x="${ems[1]}" -v b="${ems[2]}" 'BEGIN { printf "%+.2f", (x - (a + b) / 2) / 1000 }')
  work+=", verify's salaries time ${edelta} s vs clean"
  r=$(ratio "$clean" "$ce")
  note "transit / ceiling: $r ($(verdict "$r" '<=' 1.3) ≤ 1.3); one change: ${delta}s vs the clean runs' mean ($(verdict "$delta" '<=' 1) ≤ +1 s); peak RSS $(mib "$rss") MiB ($(verdict "$(mib "$rss")" '<=' 100) ≤ 100 MiB)"
  summary "verify: rows (6 tables)" "$(grouped "$total")"
  summary "verify: transit verify (clean)" "${clean} s (runs: ${v1} s, ${v2} s), $(grouped "$(per_sec "$total" "$clean")") rows/s"
  summary "verify: ceiling (checksum SQL, both sides)" "${ce} s (runs: ${ce1} s, ${ce2} s)"
  summary "verify: transit / ceiling" "$r ($(verdict "$r" '<=' 1.3) ≤ 1.3)"
  if [ "$change_ok" = 1 ] && [ "$crc" = 1 ]; then
    summary "verify: one changed row" "${ch_wall} s, ${delta} s vs clean ($(verdict "$delta" '<=' 1) ≤ +1 s); found; salaries: ${work}"
  else
    FAILED=1
    summary "verify: one changed row" "${ch_wall} s, FAILED (see bench/out/verify-change.*)"
  fi
  summary "verify: transit peak RSS" "$(mib "$rss") MiB ($(verdict "$(mib "$rss")" '<=' 100) ≤ 100 MiB)"
  verify_vs_plain
}

# verify_clean NAME: transit verify on the clean data set, checked (exit 0,
# every entity consistent, as many rows on both sides); sets CLEAN_WALL and
# CLEAN_RSS, or reports the failure and returns 1.
verify_clean() {
  local name=$1
  timed_out "$name" "$TRANSIT" verify "$PLAN" --output json
  CLEAN_WALL=$TIMED_WALL CLEAN_RSS=$TIMED_RSS
  local ok=1
  "$OUT/ceiling" verify-json "$OUT/$name.out" >"$OUT/$name.check" 2>&1 || ok=0
  sed 's/^/   | /' "$OUT/$name.check"
  if [ "$TIMED_RC" != 0 ] || [ "$ok" = 0 ]; then
    FAILED=1
    warn "transit verify exited $TIMED_RC on the clean data set (want 0, every entity consistent); see $OUT/$name.out and .log"
    summary "verify: transit verify (clean)" "FAILED (exit $TIMED_RC, see bench/out/$name.*)"
    return 1
  fi
  note "wall ${CLEAN_WALL}s, peak RSS $(mib "$CLEAN_RSS") MiB"
}

# ------------------------------------------- verify against the plain checksum
# (issue 8, section 4) The plain checksum people script by hand, per table
# on both servers at once (bench/plainsum), as verify's ceiling: pairs of
# plainsum and a clean verify, back to back, alternating; the median of the
# pairs' ratios, with the raw numbers.

# VERIFY_PAIRS: plainsum/verify pairs (alternating; median ratio).
VERIFY_PAIRS=${BENCH_VERIFY_PAIRS:-5}

verify_vs_plain() {
  local i p v ratios=() plains=() verifies=() r
  go build -o "$OUT/plainsum" ./bench/plainsum
  say "verify: against the plain checksum (bench/plainsum), $VERIFY_PAIRS pairs alternating"
  for i in $(seq "$VERIFY_PAIRS"); do
    timed_out verify-plain "$OUT/plainsum" -mysql "$BENCH_MYSQL_URL" -pg "$BENCH_PG_URL" -schema employees "${TABLES[@]}"
    [ "$TIMED_RC" = 0 ] || { FAILED=1; warn "plainsum exited $TIMED_RC; see $OUT/verify-plain.log"; summary "verify: plain checksum" "FAILED"; return; }
    p=$(awk '$1 == "wall" { print $2 }' "$OUT/verify-plain.out")
    verify_clean verify-clean-plain || return
    v=$CLEAN_WALL
    plains+=("$p"); verifies+=("$v"); ratios+=("$(ratio "$v" "$p")")
    note "pair $i: plain ${p}s, verify ${v}s, ratio ${ratios[-1]}"
  done
  r=$(median "${ratios[@]}")
  summary "verify: plain checksum (both sides, per table)" "median $(median "${plains[@]}") s (runs: ${plains[*]})"
  summary "verify: transit verify, paired" "median $(median "${verifies[@]}") s (runs: ${verifies[*]})"
  summary "verify: transit / plain checksum" "$r median of ${ratios[*]} ($(verdict "$r" '<=' 1.3) ≤ 1.3)"
}
# ------------------------------------------- end of verify against the plain checksum

# AUDIT_RUNS: runs of each of audit and its ceiling (alternating; medians).
AUDIT_RUNS=3

# audit_rows_ok FILE ROWS: transit audit's JSON report FILE counted ROWS
# rows in every entity it names once (one entity) -- or, with ROWS empty,
# just names entities.
audit_rows_ok() {
  [ -s "$1" ] || return 1
  [ -z "$2" ] && return 0
  grep -Eq "^      \"rows\": $2,\$" "$1"
}

bench_audit() {
  local db total rows i scans=() audits=() rss=0 rcs=() scan_med audit_med r ref start
  db=$(url_db "$BENCH_MYSQL_URL")
  say "audit: transit audit of salaries against a plain scan (scale $BENCH_SCALE)"
  build_gen
  build_ceiling
  ensure_legacy "$BENCH_SCALE" "$db"
  pg_ensure_db "$BENCH_PG_URL" # the ledger (transit.audits) lives there
  total=$(expected_total "$BENCH_SCALE")
  rows=$(expected "$BENCH_SCALE" salaries)
  note "the data set is $(grouped "$total") rows in 6 tables; audited: its largest, salaries ($(grouped "$rows") rows, 4 columns)"
  note "$TRANSIT audit $PLAN --entity salaries --output json   against   $OUT/ceiling scan -table salaries (sources/mysql, batch 5000); $AUDIT_RUNS runs each, alternating"
  for i in $(seq "$AUDIT_RUNS"); do
    timed audit-scan "$OUT/ceiling" scan -mysql "$BENCH_MYSQL_URL" -table salaries -batch 5000
    if [ "$TIMED_RC" != 0 ] || ! grep -q "^salaries: $rows rows" "$OUT/audit-scan.log"; then
      FAILED=1; warn "the ceiling scan failed (exit $TIMED_RC):"; sed 's/^/   | /' "$OUT/audit-scan.log" >&2
      summary "audit: ceiling (scan)" "FAILED (see bench/out/audit-scan.log)"; return
    fi
    scans+=("$TIMED_WALL")
    timed_out audit-salaries "$TRANSIT" audit "$PLAN" --entity salaries --output json
    # 1 is a profile that found something to report (a failed rule, values
    # the target would refuse): as much work as 0.
    if { [ "$TIMED_RC" != 0 ] && [ "$TIMED_RC" != 1 ]; } || ! audit_rows_ok "$OUT/audit-salaries.out" "$rows"; then
      FAILED=1; warn "transit audit exited $TIMED_RC or did not count $rows rows; the end of $OUT/audit-salaries.log:"
      tail -n 10 "$OUT/audit-salaries.log" | sed 's/^/   | /' >&2
      summary "audit: transit audit --entity salaries" "FAILED (exit $TIMED_RC, see bench/out/audit-salaries.*)"; return
    fi
    audits+=("$TIMED_WALL"); rcs+=("$TIMED_RC")
    [ "$TIMED_RSS" -gt "$rss" ] && rss=$TIMED_RSS
    note "run $i: scan ${scans[-1]}s, audit ${TIMED_WALL}s (exit $TIMED_RC), peak RSS $(mib "$TIMED_RSS") MiB"
  done
  scan_med=$(median "${scans[@]}"); audit_med=$(median "${audits[@]}")
  r=$(ratio "$audit_med" "$scan_med")

  # For reference: the mysql client reading the table, no Go at all.
  start=$(now_ns)
  my --quick "$db" -e 'SELECT * FROM salaries' >/dev/null
  ref=$(secs "$start" "$(now_ns)")
  note "median: audit ${audit_med}s, scan ${scan_med}s: ratio $r ($(verdict "$r" '<=' 2) ≤ 2); peak RSS $(mib "$rss") MiB ($(verdict "$(mib "$rss")" '<=' 150) ≤ 150 MiB); mysql --quick SELECT * ${ref}s"

  # The whole data set, once: the six tables one after the other.
  say "audit: the whole data set ($(grouped "$total") rows, 6 tables), once"
  local all_scan all_audit all_rss all_rc
  timed audit-scan-all "$OUT/ceiling" scan -mysql "$BENCH_MYSQL_URL" -table "$(IFS=,; echo "${TABLES[*]}")" -batch 5000
  all_scan=$TIMED_WALL
  [ "$TIMED_RC" = 0 ] || { FAILED=1; warn "the ceiling scan of every table failed; see $OUT/audit-scan-all.log"; all_scan=; }
  timed_out audit-all "$TRANSIT" audit "$PLAN" --output json
  all_audit=$TIMED_WALL all_rss=$TIMED_RSS all_rc=$TIMED_RC
  if { [ "$all_rc" != 0 ] && [ "$all_rc" != 1 ]; } || ! audit_rows_ok "$OUT/audit-all.out" ""; then
    FAILED=1; warn "transit audit of every table exited $all_rc; see $OUT/audit-all.log"; all_audit=
  fi
  [ -n "$all_audit" ] && [ -n "$all_scan" ] &&
    note "audit ${all_audit}s (exit $all_rc), scan ${all_scan}s: ratio $(ratio "$all_audit" "$all_scan"); peak RSS $(mib "$all_rss") MiB"

  summary "audit: salaries (largest table)" "$(grouped "$rows") rows of the $(grouped "$total")-row data set"
  summary "audit: transit audit --entity salaries" "${audit_med} s (median of $AUDIT_RUNS: ${audits[*]}), exit ${rcs[0]}, $(grouped "$(per_sec "$rows" "$audit_med")") rows/s"
  summary "audit: ceiling (sources/mysql scan)" "${scan_med} s (median of $AUDIT_RUNS: ${scans[*]})"
  summary "audit: transit / ceiling" "$r ($(verdict "$r" '<=' 2) ≤ 2)"
  summary "audit: transit peak RSS" "$(mib "$rss") MiB ($(verdict "$(mib "$rss")" '<=' 150) ≤ 150 MiB)"
  summary "audit: mysql --quick SELECT * (reference)" "${ref} s"
  if [ -n "$all_audit" ] && [ -n "$all_scan" ]; then
    summary "audit: whole data set (6 tables)" "${all_audit} s against a ${all_scan} s scan ($(ratio "$all_audit" "$all_scan")), $(mib "$all_rss") MiB"
  else
    summary "audit: whole data set (6 tables)" "FAILED (see bench/out/audit-all.* and audit-scan-all.log)"
  fi
}

# bench_limits: the border's overhead when nothing binds. The plain and the
# limited move alternate, so a change in the machine's load hits both; the
# best wall time of each is compared (target: at most 3% slower).
bench_limits() {
  local db total i plain='' limited='' overhead
  db=$(url_db "$BENCH_MYSQL_URL")
  say "limits: the move with limits that never bind, against the plain move"
  build_gen
  ensure_legacy "$BENCH_SCALE" "$db"
  total=$(expected_total "$BENCH_SCALE")
  for ((i = 1; i <= BENCH_LIMITS_ROUNDS; i++)); do
    PLAN=bench/employees.yaml transit_move "$BENCH_SCALE" "$BENCH_MYSQL_URL" "$BENCH_PG_URL" "limits-plain-$i"
    [ "$MOVE_OK" = 1 ] || { FAILED=1; summary "limits: border overhead" "FAILED (see bench/out/limits-plain-$i.log)"; return; }
    note "plain   ${MOVE_WALL}s"
    plain=$(awk -v a="$plain" -v b="$MOVE_WALL" 'BEGIN { print (a == "" || b < a) ? b : a }')
    PLAN=bench/employees-limits.yaml transit_move "$BENCH_SCALE" "$BENCH_MYSQL_URL" "$BENCH_PG_URL" "limits-limited-$i"
    [ "$MOVE_OK" = 1 ] || { FAILED=1; summary "limits: border overhead" "FAILED (see bench/out/limits-limited-$i.log)"; return; }
    note "limited ${MOVE_WALL}s"
    limited=$(awk -v a="$limited" -v b="$MOVE_WALL" 'BEGIN { print (a == "" || b < a) ? b : a }')
  done
  overhead=$(awk -v l="$limited" -v p="$plain" 'BEGIN { printf "%.1f", (l / p - 1) * 100 }')
  summary "limits: move with non-binding limits" "${limited} s against ${plain} s plain (best of $BENCH_LIMITS_ROUNDS each, $(grouped "$total") rows)"
  summary "limits: border overhead" "${overhead}% ($(verdict "$overhead" '<=' 3) ≤ 3%)"
}

# deletes_round ROWS: a fresh table of ROWS rows in MariaDB database
# transit_bench_deletes, moved into PostgreSQL database
# transit_bench_deletes (target and ledger), 1,000 keys deleted in MariaDB,
# then `transit run --deletes` timed. Sets DEL_OK, DEL_WALL, DEL_RSS,
# DEL_COUNT, DEL_VERIFY (verify's exit code).
deletes_round() {
  local rows=$1 every myurl pgurl plan name=deletes-$1
  DEL_OK=0 DEL_WALL= DEL_RSS= DEL_COUNT= DEL_VERIFY=
  myurl=$(url_with_db "$BENCH_MYSQL_URL" transit_bench_deletes)
  pgurl=$(url_with_db "$BENCH_PG_URL" transit_bench_deletes)
  plan=$OUT/deletes-plan.yaml
  cat >"$plan" <<YAML
version: 1
name: bench-deletes
stores:
  legacy: { kind: mysql, url: "$myurl" }
  main:   { kind: postgres, url: "$pgurl", schema: shop }
entities:
  items:
    from: legacy.items
    to: main.items
    version: updated_at
YAML
  my -e "DROP DATABASE IF EXISTS transit_bench_deletes; CREATE DATABASE transit_bench_deletes;
    CREATE TABLE transit_bench_deletes.items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL,
      amount DECIMAL(12,2) NULL, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB; USE transit_bench_deletes;
    INSERT INTO transit_bench_deletes.items SELECT seq, CONCAT('item ', seq), (seq * 7 % 100000) / 100,
      TIMESTAMP('2024-01-01 00:00:00') + INTERVAL (seq % 86400) SECOND FROM seq_1_to_$rows;"
  pg "$(url_with_db "$BENCH_PG_URL" postgres)" -c "DROP DATABASE IF EXISTS transit_bench_deletes WITH (FORCE)" -c "CREATE DATABASE transit_bench_deletes"
  timed "$name-backfill" "$TRANSIT" run "$plan"
  [ "$TIMED_RC" = 0 ] || { warn "backfill of $rows rows failed: see $OUT/$name-backfill.log"; return; }
  note "backfill of $(grouped "$rows") rows: ${TIMED_WALL}s"
  every=$((rows / 1000))
  my -e "DELETE FROM transit_bench_deletes.items WHERE id % $every = 7"
  note "$TRANSIT run $plan --deletes --output json   (1,000 keys deleted in MariaDB; output: $OUT/$name.out)"
  timed_out "$name" "$TRANSIT" run "$plan" --deletes --output json
  [ "$TIMED_RC" = 0 ] || { warn "run --deletes exited $TIMED_RC: see $OUT/$name.log"; return; }
  DEL_WALL=$TIMED_WALL DEL_RSS=$TIMED_RSS
  DEL_COUNT=$(grep '"event":"deletes"' "$OUT/$name.out" | sed -E 's/.*"deleted":([0-9]+).*/\1/')
  DEL_VERIFY=0
  "$TRANSIT" verify "$plan" >"$OUT/$name-verify.log" 2>&1 || DEL_VERIFY=$?
  note "wall ${DEL_WALL}s, peak RSS $((DEL_RSS / 1024)) MiB, deleted $DEL_COUNT, verify exit $DEL_VERIFY"
  DEL_OK=1
}

bench_deletes() {
  local big=$BENCH_DELETES_ROWS small wall_big rss_big rss_small count_big verify_big ratio
  small=$((big / 4))
  say "deletes: transit run --deletes, $(grouped "$big") rows, 1,000 deleted in old"
  deletes_round "$big"
  [ "$DEL_OK" = 1 ] || { FAILED=1; summary "deletes" "FAILED (see bench/out/deletes-$big*)"; return; }
  wall_big=$DEL_WALL rss_big=$DEL_RSS count_big=$DEL_COUNT verify_big=$DEL_VERIFY
  say "deletes: the same at $(grouped "$small") rows (memory check)"
  deletes_round "$small"
  [ "$DEL_OK" = 1 ] || { FAILED=1; summary "deletes: memory" "FAILED (see bench/out/deletes-$small*)"; return; }
  rss_small=$DEL_RSS
  ratio=$(awk -v a="$rss_big" -v b="$rss_small" 'BEGIN { printf "%.2f", a / b }')
  summary "deletes: run --deletes, $(grouped "$big") rows" "${wall_big} s, $count_big deleted (want 1000), verify exit $verify_big"
  summary "deletes: peak RSS, $(grouped "$big") vs $(grouped "$small") rows" "$((rss_big / 1024)) MiB vs $((rss_small / 1024)) MiB (×$ratio)"
  [ "$count_big" = 1000 ] && [ "$verify_big" = 0 ] || FAILED=1
}

# ---------------------------------------------------------------- feeds

FEED_PLAN=bench/feeds.yaml
# The Elasticsearch test double's standalone main (essink's; see its README).
ESTEST_PKG=${ESTEST_PKG:-./internal/estest/cmd/estest-server}

# feed_rows N: table feedbench.feedrows with N rows (a narrow table: id,
# name, city, n, price numeric, created timestamptz), replaced.
feed_rows() {
  pg "$BENCH_FEED_PG_URL" -c "DROP SCHEMA IF EXISTS feedbench CASCADE" -c "CREATE SCHEMA feedbench" \
    -c "CREATE TABLE feedbench.feedrows (id bigint PRIMARY KEY, name text NOT NULL, city text, n int, price numeric(10,2), created timestamptz)" \
    -c "INSERT INTO feedbench.feedrows SELECT i, 'customer ' || i, (ARRAY['Berlin','Lisbon','Oslo','Prague'])[i % 4 + 1], i % 1000, (i % 5000) / 100.0, timestamptz '2020-01-01' + i * interval '1 second' FROM generate_series(1, $1) i" \
    -c "ANALYZE feedbench.feedrows"
}

# redis_del PATTERN: delete the keys matching PATTERN, and wait until
# Redis's background thread has freed them (UNLINK frees lazily; freeing a
# million hashes would otherwise run beside the next measurement).
redis_del() {
  redis-cli -u "$BENCH_REDIS_URL" --scan --pattern "$1" | xargs -r -n 1000 redis-cli -u "$BENCH_REDIS_URL" unlink >/dev/null
  for _ in $(seq 100); do
    [ "$(redis-cli -u "$BENCH_REDIS_URL" info memory | tr -d '\r' | sed -n 's/^lazyfree_pending_objects://p')" = 0 ] && break
    sleep 0.1
  done
}

# redis_cpu: the Redis server's CPU seconds so far (INFO cpu: user + system,
# all its threads), so a run's share of Redis's time reads off the server
# wherever it runs.
redis_cpu() {
  redis-cli -u "$BENCH_REDIS_URL" info cpu | tr -d '\r' |
    awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { s += $2 } END { printf "%.3f\n", s }'
}

# feed_rebuild NAME FEED [verify]: transit feed rebuild of FEED, timed
# (without its verify unless the third argument says verify); sets
# REBUILD_OK, REBUILD_WALL, REBUILD_RSS.
feed_rebuild() {
  local name=$1 feed=$2 noverify=--no-verify
  [ "${3:-}" = verify ] && noverify=
  timed "$name" "$TRANSIT" feed rebuild "$FEED_PLAN" --feed "$feed" $noverify
  REBUILD_WALL=$TIMED_WALL REBUILD_RSS=$TIMED_RSS REBUILD_OK=1
  if [ "$TIMED_RC" != 0 ]; then
    REBUILD_OK=0; FAILED=1
    warn "transit feed rebuild --feed $feed exited $TIMED_RC; the end of $OUT/$name.log:"
    tail -n 15 "$OUT/$name.log" >&2
  fi
}

bench_feeds() {
  local quarter rss_small rss_full es_pid='' feed_pid lag
  export BENCH_FEED_PG_URL=${BENCH_FEED_PG_URL:-$BENCH_PG_URL}
  say "feeds: build $(grouped "$BENCH_FEED_ROWS") rows into Redis and the ES test double; lag at $BENCH_FEED_RATE changes/s"
  command -v redis-cli >/dev/null || { FAILED=1; warn "redis-cli is missing (apt-get install redis-tools)"; summary "feeds" "FAILED (no redis-cli)"; return; }
  pg_ensure_db "$BENCH_FEED_PG_URL"
  if [ "$(pg "$BENCH_FEED_PG_URL" -At -c 'SHOW wal_level')" != logical ]; then
    FAILED=1; warn "feeds need wal_level=logical in BENCH_FEED_PG_URL (see README, Feeds)"
    summary "feeds" "FAILED (wal_level is not logical)"; return
  fi
  "$TRANSIT" feed drop "$FEED_PLAN" --feed rows_cache >/dev/null 2>&1 || true

  # Redis: a quarter first, then the full size, each as a user runs it
  # (with the verify before the switch): peak RSS, flat in data size?
  # Then the full size again without the verify: rows/s, beside Redis's
  # own ceiling and the CPU Redis spent per row in each.
  quarter=$((BENCH_FEED_ROWS / 4))
  feed_rows "$quarter"
  redis_del 'feedbench:*'
  feed_rebuild feeds-redis-quarter rows_cache verify
  rss_small=$REBUILD_RSS
  "$TRANSIT" feed drop "$FEED_PLAN" --feed rows_cache >/dev/null 2>&1 || true
  feed_rows "$BENCH_FEED_ROWS"
  # Read the new table once (hint bits, cache) before anything is timed.
  pg "$BENCH_FEED_PG_URL" -c "SELECT count(*) FROM feedbench.feedrows" >/dev/null
  redis_del 'feedbench:*'
  feed_rebuild feeds-redis-verify rows_cache verify
  rss_full=$REBUILD_RSS
  local verify_ok=$REBUILD_OK verify_wall=$REBUILD_WALL
  "$TRANSIT" feed drop "$FEED_PLAN" --feed rows_cache >/dev/null 2>&1 || true
  redis_del 'feedbench:*'
  local c0 c1 rcpu ccpu=''
  c0=$(redis_cpu)
  feed_rebuild feeds-redis rows_cache
  c1=$(redis_cpu)
  rcpu=$(awk -v a="$c0" -v b="$c1" -v n="$BENCH_FEED_ROWS" -v w="$REBUILD_WALL" 'BEGIN { printf "%.2f µs per row, busy %.0f%% of the wall time", (b - a) * 1e6 / n, (b - a) * 100 / w }')
  # Redis's own ceiling: the same rows as plain pipelined HSETs (new keys,
  # no version check, no Lua), so the rebuild's rows/s reads against it.
  local ceil='' ceil_line='FAILED (see bench/out/feeds-redis-ceiling.log)'
  redis_del 'feedceil:*'
  c0=$(redis_cpu)
  if go build -o "$OUT/redisceiling" ./bench/redisceiling &&
    "$OUT/redisceiling" -pg "$BENCH_FEED_PG_URL" -table feedbench.feedrows -redis "$BENCH_REDIS_URL" -key 'feedceil:' -json \
      >"$OUT/feeds-redis-ceiling.out" 2>"$OUT/feeds-redis-ceiling.log"; then
    c1=$(redis_cpu)
    local crows csecs
    read -r crows csecs ceil < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["rows"], round(r["seconds"], 2), round(r["rate"]))' "$OUT/feeds-redis-ceiling.out")
    ccpu=$(awk -v a="$c0" -v b="$c1" -v n="$crows" -v w="$csecs" 'BEGIN { printf "%.2f µs per row, busy %.0f%% of the wall time", (b - a) * 1e6 / n, (b - a) * 100 / w }')
    ceil_line="$(grouped "$ceil") rows/s ($(grouped "$crows") plain pipelined HSETs of new keys in ${csecs} s, read from PostgreSQL the same way: no version check, no Lua; Redis $ccpu)"
  else
    FAILED=1
  fi
  redis_del 'feedceil:*'
  if [ "$REBUILD_OK" = 1 ]; then
    local rate; rate=$(per_sec "$BENCH_FEED_ROWS" "$REBUILD_WALL")
    note "Redis: ${REBUILD_WALL}s, $(grouped "$rate") rows/s ($(awk -v r="$rate" 'BEGIN { print (r >= 200000 ? "meets" : "MISSES") }') ≥ 200k; Redis's own ceiling here ${ceil:-n/a} rows/s; Redis $rcpu); with the verify: ${verify_wall}s, peak RSS $(mib "$rss_small") MiB at $(grouped "$quarter") rows, $(mib "$rss_full") MiB at $(grouped "$BENCH_FEED_ROWS")"
    summary "feeds: rebuild into Redis" "$(grouped "$rate") rows/s ($(grouped "$BENCH_FEED_ROWS") rows in ${REBUILD_WALL} s, without the verify; $(awk -v r="$rate" 'BEGIN { print (r >= 200000 ? "meets" : "MISSES") }') target ≥ 200k; Redis $rcpu)"
    summary "feeds: Redis's own ceiling (plain HSET)" "$ceil_line"
  else
    summary "feeds: rebuild into Redis" "FAILED (see bench/out/feeds-redis.log)"
    summary "feeds: Redis's own ceiling (plain HSET)" "$ceil_line"
  fi
  if [ "$verify_ok" = 1 ]; then
    summary "feeds: rebuild with its verify, peak RSS (1/4, full size)" "$(mib "$rss_small") MiB, $(mib "$rss_full") MiB ($(verdict "$(mib "$rss_full")" '<=' 100) ≤ 100 MiB); full size in ${verify_wall} s"
  else
    summary "feeds: rebuild with its verify, peak RSS (1/4, full size)" "FAILED (see bench/out/feeds-redis-verify.log)"
  fi
  "$TRANSIT" feed drop "$FEED_PLAN" --feed rows_cache >/dev/null 2>&1 || true
  redis_del 'feedbench:*'

  # The Elasticsearch test double (or BENCH_ES_URL): docs/s client side.
  if [ -z "${BENCH_ES_URL:-}" ]; then
    if [ -d "$ESTEST_PKG" ] && go build -o "$OUT/estest" "$ESTEST_PKG"; then
      "$OUT/estest" -addr 127.0.0.1:19200 >"$OUT/estest.log" 2>&1 &
      es_pid=$!
      export BENCH_ES_URL=http://127.0.0.1:19200
      sleep 1
    else
      warn "no Elasticsearch test double at $ESTEST_PKG; set BENCH_ES_URL or ESTEST_PKG"
    fi
  fi
  if [ -n "${BENCH_ES_URL:-}" ]; then
    feed_rebuild feeds-es rows_search
    if [ "$REBUILD_OK" = 1 ]; then
      summary "feeds: rebuild into the ES test double" "$(grouped "$(per_sec "$BENCH_FEED_ROWS" "$REBUILD_WALL")") docs/s, client side ($(grouped "$BENCH_FEED_ROWS") docs in ${REBUILD_WALL} s, peak RSS $(mib "$REBUILD_RSS") MiB)"
    else
      summary "feeds: rebuild into the ES test double" "FAILED (see bench/out/feeds-es.log)"
    fi
    "$TRANSIT" feed drop "$FEED_PLAN" --feed rows_search >/dev/null 2>&1 || true
  else
    FAILED=1; summary "feeds: rebuild into the ES test double" "FAILED (no test double)"
  fi
  [ -z "$es_pid" ] || kill "$es_pid" 2>/dev/null || true

  # Lag: feed run on feedlag, bench/feedlag writing and polling.
  go build -o "$OUT/feedlag" ./bench/feedlag
  "$OUT/feedlag" -setup -pg "$BENCH_FEED_PG_URL" -schema feedbench -table feedlag -keys 10000 ||
    { FAILED=1; summary "feeds: lag" "FAILED (feedlag -setup)"; return; }
  redis_del 'feedlag:*'
  # The initial build first, while nothing writes, so that what is measured
  # is feed run's lag and not a build's.
  "$TRANSIT" feed rebuild "$FEED_PLAN" --feed lag_cache >"$OUT/feeds-lag-build.log" 2>&1 ||
    { FAILED=1; summary "feeds: lag" "FAILED (initial build; see bench/out/feeds-lag-build.log)"; return; }
  /usr/bin/time -f '%e %M' -o "$OUT/feeds-run.time" "$TRANSIT" feed run "$FEED_PLAN" --feed lag_cache >"$OUT/feeds-run.log" 2>&1 &
  feed_pid=$!
  # Wait for the feed's initial build (the last row's key), at most 60 s.
  local waited=0
  until [ "$(redis-cli -u "$BENCH_REDIS_URL" exists 'feedlag:10000')" = 1 ] || [ $waited -ge 120 ]; do
    sleep 0.5; waited=$((waited + 1))
  done
  [ $waited -lt 120 ] || warn "the feed did not build feedlag:10000 within 60 s; measuring anyway (see $OUT/feeds-run.log)"
  "$OUT/feedlag" -pg "$BENCH_FEED_PG_URL" -schema feedbench -redis "$BENCH_REDIS_URL" -table feedlag -key 'feedlag:{id}' \
    -rate "$BENCH_FEED_RATE" -duration "${BENCH_FEED_SECONDS}s" -json >"$OUT/feeds-lag.out" 2>"$OUT/feeds-lag.log" || true
  pkill -TERM -P "$feed_pid" 2>/dev/null || true
  wait "$feed_pid" 2>/dev/null || true
  local run_rss; run_rss=$(awk '{ print $2 }' "$OUT/feeds-run.time" 2>/dev/null | tail -n 1)
  lag=$(cat "$OUT/feeds-lag.out" 2>/dev/null)
  if [ -n "$lag" ]; then
    local p50 p99 mx rate unseen
    read -r p50 p99 mx rate unseen < <(printf '%s' "$lag" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["p50_ms"], r["p99_ms"], r["max_ms"], round(r["rate"]), r["unseen"])')
    note "lag at $rate changes/s for ${BENCH_FEED_SECONDS}s: p50 ${p50} ms, p99 ${p99} ms, max ${mx} ms, unseen $unseen; feed run peak RSS $(mib "${run_rss:-0}") MiB"
    summary "feeds: lag commit → Redis (p50/p99/max)" "${p50} / ${p99} / ${mx} ms at $(grouped "$rate") changes/s for ${BENCH_FEED_SECONDS} s ($(verdict "$p99" '<=' 250) p99 < 250 ms; unseen $unseen)"
    summary "feeds: feed run peak RSS" "$(mib "${run_rss:-0}") MiB ($(verdict "$(mib "${run_rss:-0}")" '<=' 100) ≤ 100 MiB)"
    [ "$unseen" = 0 ] || FAILED=1
  else
    FAILED=1; warn "feedlag failed; see $OUT/feeds-lag.log and $OUT/feeds-run.log"
    summary "feeds: lag commit → Redis" "FAILED (see bench/out/feeds-lag.log)"
  fi
  "$TRANSIT" feed drop "$FEED_PLAN" --feed lag_cache >/dev/null 2>&1 || true
  redis_del 'feedlag:*'
}

# serve: the read-through server under load from a second process.
bench_serve() {
  say "serve: transit serve in phase migrating, loaded by bench/serveload"
  local secs=${BENCH_SERVE_SECONDS:-10} conns=${BENCH_SERVE_CONNS:-16} rows=100000 ports=2000 client=${BENCH_SERVE_CLIENT:-raw}
  local murl purl plan port=18089 pid rest auth host dsn
  murl=$(url_with_db "$BENCH_MYSQL_URL" transit_bench_serve)
  purl=$(url_with_db "$BENCH_PG_URL" transit_bench_serve)
  my -e "DROP DATABASE IF EXISTS transit_bench_serve; CREATE DATABASE transit_bench_serve CHARACTER SET utf8mb4"
  my transit_bench_serve -e "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(40) NOT NULL,
      amount DECIMAL(12,2) NULL, status ENUM('new','paid','shipped') NOT NULL, note TEXT NULL, updated_at DATETIME(6) NOT NULL);
    INSERT INTO orders SELECT seq, CONCAT('customer ', seq % 977), (seq * 7 % 100000) / 100, ELT(1 + seq % 3, 'new', 'paid', 'shipped'),
      IF(seq % 5 = 0, NULL, REPEAT('x', seq % 20)), TIMESTAMP('2024-01-01') + INTERVAL (seq % 86400) SECOND FROM seq_1_to_$rows"
  pg_ensure_db "$purl"
  pg_reset "$purl" shop transit
  plan=$OUT/serve.yaml
  cat >"$plan" <<YAML
version: 1
name: bench-serve
stores:
  legacy: { kind: mysql, url: "$murl" }
  main:   { kind: postgres, url: "$purl", schema: shop, limits: { max_connections: 16 } }
entities:
  orders: { from: legacy.orders, to: main.orders, version: updated_at }
YAML
  timed serve-run "$TRANSIT" run "$plan"
  [ "$TIMED_RC" = 0 ] || { FAILED=1; summary "serve" "FAILED: transit run (see bench/out/serve-run.log)"; return; }
  go build -o "$OUT/serveload" ./bench/serveload
  export TRANSIT_SERVE_TOKEN=bench-serve-token
  # answers URL: whether URL answers 2xx within 10 s.
  answers() {
    for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
  }
  # hit PORT NAME: bench/serveload's hit measurements against the server on
  # PORT (closed loop, then paced beside direct pgx), into $OUT/NAME.out.
  hit() {
    "$OUT/serveload" -mode hit -url "http://127.0.0.1:$1" -pg "$purl" -table shop.orders -ids "1:$rows" \
      -conns "$conns" -rate 5000 -duration "${secs}s" -client "$client" >"$OUT/$2.out" 2>"$OUT/$2.log" || FAILED=1
    cat "$OUT/$2.out"
  }
  "$TRANSIT" serve "$plan" --addr "127.0.0.1:$port" --pin-phase orders=migrating --max-in-flight 1024 >"$OUT/serve-server.log" 2>&1 &
  pid=$!
  if ! answers "http://127.0.0.1:$port/readyz"; then
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    FAILED=1; summary "serve" "FAILED: the server did not start (see bench/out/serve-server.log)"; return
  fi
  note "hit path: $conns connections, ${secs}s closed loop, then ${secs}s each paced at 5,000 req/s (direct pgx and the server alternating in 10 slices)"
  hit "$port" serve-hit
  # The floor: the least a read-through server does (bench/servefloor:
  # net/http, a pgx pool, the row as JSON), loaded the same way, so the
  # cost of the hop itself reads off beside transit's.
  local fport=18090 fpid
  go build -o "$OUT/servefloor" ./bench/servefloor
  "$OUT/servefloor" -addr "127.0.0.1:$fport" -pg "$purl" -table shop.orders -entity orders -conns "$conns" >"$OUT/serve-floor-server.log" 2>&1 &
  fpid=$!
  if answers "http://127.0.0.1:$fport/healthz"; then
    note "floor: bench/servefloor (net/http and pgx, nothing else) loaded the same way"
    hit "$fport" serve-floor
  else
    FAILED=1; warn "bench/servefloor did not start (see bench/out/serve-floor-server.log)"
  fi
  kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null || true
  pg "$purl" -c "DELETE FROM shop.orders WHERE id <= $ports"
  rest=${murl#mysql://}; auth=${rest%%@*}; host=${rest#*@}; host=${host%%/*}
  dsn="$auth@tcp($host)/transit_bench_serve"
  note "fallback-and-port path: $ports IDs missing in the new store, one at a time"
  "$OUT/serveload" -mode port -url "http://127.0.0.1:$port" -pg "$purl" -mysql "$dsn" -table shop.orders -old-table orders \
    -ids "1:$ports" -client "$client" >"$OUT/serve-port.out" 2>"$OUT/serve-port.log" || FAILED=1
  cat "$OUT/serve-port.out"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  unset TRANSIT_SERVE_TOKEN
  # fields FILE MEASURE:FIELD...: those fields of serveload's JSON lines in
  # FILE, on one line (numbers with a fraction to 2 places; ? when missing).
  fields() {
    python3 -c 'import json,sys
m={}
for l in open(sys.argv[1]):
    d=json.loads(l); m[d["measure"]]=d
def get(x):
    a, b = x.split(":")
    v = m.get(a, {}).get(b, "?")
    return "%.2f" % v if isinstance(v, float) else v
print(*(get(x) for x in sys.argv[2:]))' "$@" 2>/dev/null || echo "? ? ? ? ? ? ?"
  }
  # figures FILE: rps p50-server p50-direct p99-server p99-direct ratio slices'-median-ratio
  figures() {
    fields "$1" serve_closed_loop:per_sec serve_paced:p50_us direct_pgx_paced:p50_us serve_paced:p99_us \
      direct_pgx_paced:p99_us serve_paced:p99_ratio serve_paced:slice_p99_ratio_median
  }
  local rps p50s p50d p99s p99d ratio sratio fp50 budget op50 wp50
  read -r rps p50s p50d p99s p99d ratio sratio < <(figures "$OUT/serve-hit.out")
  rps=${rps%.*}
  read -r fp50 op50 wp50 budget < <(fields "$OUT/serve-port.out" serve_fallback_port:p50_us old_read:p50_us new_upsert:p50_us new_upsert:budget_p50_us)
  summary "serve: hit path in migrating (closed loop, $conns conns, $client client)" "$(grouped "$rps") req/s ($(awk -v v="$rps" 'BEGIN { print (v >= 5000 ? "meets" : "MISSES") }') ≥ 5,000)"
  summary "serve: p99 at 5,000 req/s, server vs direct pgx" "${p99s} µs vs ${p99d} µs: ${ratio}× ($(verdict "$ratio" '<=' 1.2) ≤ 1.2×; median of the slices' ratios ${sratio}×)"
  summary "serve: p50 at 5,000 req/s, server vs direct pgx" "${p50s} µs vs ${p50d} µs (what the hop through the server adds, without the stalls of a p99)"
  read -r rps p50s p50d p99s p99d ratio sratio < <(figures "$OUT/serve-floor.out")
  rps=${rps%.*}
  summary "serve: floor (bench/servefloor, no transit), same measures" "$(grouped "$rps") req/s; p50 ${p50s} vs ${p50d} µs; p99 ${p99s} vs ${p99d} µs: ${ratio}× (median of the slices' ratios ${sratio}×)"
  summary "serve: fallback-and-port p50" "${fp50} µs vs old read ${op50} µs + new upsert ${wp50} µs + 1 ms = ${budget} µs ($(verdict "$fp50" '<=' "$budget"))"
}

# ---------------------------------------------------------------- main

selected=" $(printf '%s' "$BENCH_ONLY" | tr ',' ' ') "
for s in $selected; do
  [[ " ${SECTIONS[*]} " == *" $s "* ]] || die "BENCH_ONLY: unknown section $s (known: ${SECTIONS[*]})"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v mysql >/dev/null || die "the mysql client is missing (apt-get install mariadb-client)"
command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"
[ -x "$BIN" ] || die "$BIN is missing; run make bench (or make build)"
cp "$BIN" "$TRANSIT"

START=$(now_ns)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "${SECTIONS[@]}"; do
  [[ $selected == *" $s "* ]] && "bench_$s"
done

say "summary"
cat <<EOF
Benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average $LOAD_START at the start; $("$TRANSIT" version 2>/dev/null | head -n 1); \`make bench\`, BENCH_SCALE=$BENCH_SCALE, BENCH_WORKERS=$BENCH_WORKERS):

| measure                                      | value |
|----------------------------------------------|-------|
EOF
[ ${#SUMMARY[@]} -eq 0 ] || printf '%s\n' "${SUMMARY[@]}"
note "total $(secs "$START" "$(now_ns)")s; logs and files in $OUT/"
exit "$FAILED"
