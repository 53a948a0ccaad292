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
#   verify  (to come)
#   audit   (to come)
#
# Environment:
#   BENCH_ONLY       sections to run, comma or space separated (default: all)
#   BENCH_SCALE      size multiplier of the generated database (default 1)
#   BENCH_WORKERS    transit run --workers (default 2)
#   BENCH_RSS_SCALE  e.g. 4: also move a database that many times larger
#                    (transit_bench4) and compare transit's peak RSS
#   BENCH_MYSQL_URL  source database (default mysql://root@127.0.0.1:3306/transit_bench)
#   BENCH_PG_URL     target database (default postgres://postgres@127.0.0.1:5432/transit_bench?sslmode=disable)
#
# Adding a section: write bench_<name>, add <name> to SECTIONS, and report
# with summary (a line of the pasteable block) and the helpers below
# (ensure_legacy, pg_reset, timed, per_sec).
set -euo pipefail
cd "$(dirname "$0")/.."

SECTIONS=(go move verify audit)
BENCH_ONLY=${BENCH_ONLY:-${SECTIONS[*]}}
BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_WORKERS=${BENCH_WORKERS:-2}
BENCH_RSS_SCALE=${BENCH_RSS_SCALE:-}
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
  say "Go benchmarks: ./sources/... ./sinks/... (-benchtime 2s)"
  local rc
  { go test -run '^$' -bench . -benchtime 2s -benchmem ./sources/... ./sinks/... 2>&1; echo $? >"$OUT/go-bench.rc"; } |
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

bench_verify() {
  say "verify: no benchmark yet"
}

bench_audit() {
  say "audit: no benchmark yet"
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
