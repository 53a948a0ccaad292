package plan

import (
	"errors"
	"strings"
	"testing"
)

// head is the start of most error cases: stores on lines 3-5.
const head = `version: 1
name: t
stores:
  old: { kind: mysql, url: "mysql://u@h/db" }
  pg:  { kind: postgres, url: "postgres://h/db" }
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SET": "x"}
	// fhead adds an elasticsearch (line 6) and a redis (line 7) store.
	fhead := head + "  es: { kind: elasticsearch, url: \"http://h:9200\" }\n  rd: { kind: redis, url: \"redis://h\" }\n"
	cases := []struct {
		name string
		src  string
		want string // every line of the error, "\n"-joined
	}{
		{"empty", ``, `p.yaml:1:1: empty plan`},
		{"malformed yaml", "version: 1\nname: [a\n", `p.yaml:2:1: invalid YAML: did not find expected ',' or ']'`},
		{"tab indent", "version: 1\nstores:\n\told: {}\n", `p.yaml:3:1: invalid YAML: found character that cannot start any token`},
		{"yaml no line", "a: b: c\n", `p.yaml:1:1: invalid YAML: mapping values are not allowed in this context`},
		{"yaml parser line", "a:\n  - b\n c: d\n", `p.yaml:3:2: invalid YAML: did not find expected key`},
		{"unknown anchor", "version: 1\nname: *nm\n", `p.yaml:2:7: invalid YAML: unknown anchor 'nm' referenced`},
		{"not a mapping", "- a\n- b\n", `p.yaml:1:1: plan must be a mapping, got a list`},
		{"missing keys", "name: t\n", "p.yaml:1:1: plan: missing key \"version\"\np.yaml:1:1: plan: missing key \"stores\""},
		{"bad version", head + "version2: 1\n", `p.yaml:6:1: unknown key "version2" in plan; did you mean "version"?`},
		{"version 2", strings.Replace(head, "version: 1", "version: 2", 1), `p.yaml:1:10: version must be 1, got 2`},
		{"unknown top key far", head + "colour: red\n", `p.yaml:6:1: unknown key "colour" in plan (valid keys: version, name, naming, stores, ledger, tables, entities, cutover, feeds)`},
		{"duplicate key", head + "name: u\n", `p.yaml:6:1: plan: duplicate key "name" (first at line 2)`},
		{"unknown store key", head + "  f: { kind: csv, pth: ./x }\n",
			"p.yaml:6:3: store \"f\": a csv store needs path\np.yaml:6:19: unknown key \"pth\" in store \"f\"; did you mean \"path\"?"},
		{"bad kind", head + "  m: { kind: mongo, url: \"mongodb://h\" }\n", `p.yaml:6:14: kind must be one of postgres, mysql, sqlite, csv, jsonl, elasticsearch, redis; got "mongo"`},
		{"kind typo", head + "  m: { kind: postgresql, url: \"postgres://h\" }\n", `p.yaml:6:14: kind must be one of postgres, mysql, sqlite, csv, jsonl, elasticsearch, redis; got "postgresql" (did you mean "postgres"?)`},
		{"server needs url", head + "  m: { kind: mysql }\n", `p.yaml:6:3: store "m": a mysql store needs url`},
		{"url scheme", head + "  m: { kind: postgres, url: \"mysql://h/db\" }\n", `p.yaml:6:29: store "m": a postgres url must start with postgres:// or postgresql://, got mysql://`},
		{"url not url, redacted", head + "  m: { kind: mysql, url: \"u:secret@tcp(h)/db\" }\n", `p.yaml:6:26: store "m": url must start with mysql://, got "u:xxxxx@tcp(h)/db"`},
		{"schema on mysql", head + "  m: { kind: mysql, url: \"mysql://h\", schema: x }\n", `p.yaml:6:47: store "m": schema applies only to postgres stores`},
		{"delimiter", head + "  f: { kind: csv, path: x, delimiter: \";;\" }\n", `p.yaml:6:39: store "f": delimiter must be one character, got ";;"`},
		{"csv column type", head + "  f: { kind: csv, path: x, columns: { people: { id: integr } } }\n", `p.yaml:6:53: column "id": declared type "integr": unknown type "integr"`},
		{"header not bool", head + "  f: { kind: csv, path: x, header: yes }\n", `p.yaml:6:36: header must be true or false, got "yes"`},
		{"missing env", head + "  m: { kind: mysql, url: \"${LEGACY_URL}\" }\n", `p.yaml:6:26: url: environment variable LEGACY_URL is not set (write ${LEGACY_URL:-default} to give a default)`},
		{"bad var name", head + "  m: { kind: mysql, url: \"${1X}\" }\n", `p.yaml:6:26: url: invalid variable name "1X" in ${1X}`},
		{"unterminated var", head + "  m: { kind: mysql, url: \"${SET\" }\n", `p.yaml:6:26: url: unterminated ${ in "${SET"`},
		{"naming", head + "naming: camel\n", `p.yaml:6:9: naming must be one of keep, snake_case, lower; got "camel"`},
		{"cutover rate over 1", head + "cutover:\n  max_mismatch_rate: 2\n", `p.yaml:7:22: max_mismatch_rate is a fraction from 0 to 1, got 2 (write 0.01 for 1%)`},
		{"cutover negative reads", head + "cutover: { min_shadow_reads: -1 }\n", `p.yaml:6:30: min_shadow_reads must be >= 0, got -1`},
		{"cutover bad duration", head + "entities:\n  e:\n    from: old.t\n    cutover: { max_lag: soon }\n", `p.yaml:9:25: max_lag: invalid duration "soon" (examples: 500ms, 5s, 2m, 24h)`},
		{"cutover unknown key", head + "cutover: { max_lagg: 5m }\n", `p.yaml:6:12: unknown key "max_lagg" in plan cutover; did you mean "max_lag"?`},
		{"ledger not postgres", head + "ledger: old\n", `p.yaml:6:9: ledger must name a postgres store; "old" is mysql`},
		{"ledger unknown", head + "ledger: pgg\n", `p.yaml:6:9: ledger: unknown store "pgg"; did you mean "pg"?`},
		{"no postgres for writes", "version: 1\nname: t\nstores:\n  a: { kind: sqlite, path: a.db }\n  b: { kind: jsonl, path: out }\nentities:\n  e: { from: a.t, to: b.t }\n",
			"p.yaml:7:23: no postgres store to keep transit's ledger in; add one (and ledger: its name)\n" +
				`p.yaml:7:23: entity "e": to: transit cannot write to jsonl store "b" yet (writable kinds: postgres)`},
		{"unknown from store", head + "tables:\n  - { from: legacy.*, to: pg }\n", `p.yaml:7:13: from: unknown store "legacy"`},
		{"unknown to store", head + "tables:\n  - { from: old.*, to: main }\n", `p.yaml:7:24: to: unknown store "main"`},
		{"write to mysql", head + "tables:\n  - { from: pg.*, to: old }\n", `p.yaml:7:23: to: transit cannot write to mysql store "old" yet (writable kinds: postgres)`},
		{"write to elasticsearch", head + "  es: { kind: elasticsearch, url: \"http://h:9200\" }\ntables:\n  - { from: old.*, to: es }\n",
			`p.yaml:8:24: to: transit cannot write to elasticsearch store "es" yet (writable kinds: postgres)`},
		{"write to redis", head + "  rd: { kind: redis, url: \"redis://h:6379\" }\nentities:\n  e: { from: old.t, to: rd.t }\n",
			`p.yaml:8:25: entity "e": to: transit cannot write to redis store "rd" yet (writable kinds: postgres)`},
		{"write to jsonl", head + "  out: { kind: jsonl, path: out }\nentities:\n  e:\n    from: old.t\n    to: out.t\n",
			`p.yaml:10:9: entity "e": to: transit cannot write to jsonl store "out" yet (writable kinds: postgres)`},
		{"read from redis", head + "  rd: { kind: redis, url: \"redis://h:6379\" }\ntables:\n  - { from: rd.*, to: pg }\n",
			`p.yaml:8:13: from: transit cannot read from redis store "rd" yet (readable kinds: csv, jsonl, mysql, postgres, sqlite)`},
		{"rule from no table", head + "tables:\n  - { from: old, to: pg }\n", `p.yaml:7:13: from must be store.* or store.table, got "old"`},
		{"rule to table with wildcard", head + "tables:\n  - { from: old.*, to: pg.x }\n", `p.yaml:7:24: to must name a store only when from is a wildcard, got "pg.x"`},
		{"exclude without wildcard", head + "tables:\n  - { from: old.a, to: pg, exclude: [b] }\n", `p.yaml:7:37: exclude applies only to a wildcard (from: old.*)`},
		{"batch size", head + "tables:\n  - { from: old.*, to: pg, batch_size: 0 }\n", `p.yaml:7:40: batch_size must be > 0, got 0`},
		{"batch size text", head + "tables:\n  - { from: old.*, to: pg, batch_size: lots }\n", `p.yaml:7:40: batch_size must be an integer, got "lots"`},
		{"max rejects", head + "tables:\n  - { from: old.*, to: pg, max_rejects: -1 }\n", `p.yaml:7:41: max_rejects must be >= 0, got -1`},
		{"rule unknown key", head + "tables:\n  - from: old.*\n    to: pg\n    exlude: [x]\n", `p.yaml:9:5: unknown key "exlude" in tables[0]; did you mean "exclude"?`},
		{"wildcard in entity", head + "entities:\n  e: { from: old.*, to: pg }\n", `p.yaml:7:14: entity "e": a wildcard (old.*) is only allowed in tables:; name one table here`},
		{"entity from not qualified", head + "entities:\n  e: { from: Orders }\n", `p.yaml:7:14: entity "e": from must be store.table, got "Orders"`},
		{"entity unknown from store", head + "entities:\n  e: { from: olde.Orders }\n", `p.yaml:7:14: entity "e": from: unknown store "olde"; did you mean "old"?`},
		{"entity missing from", head + "entities:\n  e: { to: pg.x }\n", `p.yaml:7:3: entity "e": missing key "from"`},
		{"entity unknown key", head + "entities:\n  e:\n    from: old.a\n    versoin: x\n", `p.yaml:9:5: unknown key "versoin" in entity "e"; did you mean "version"?`},
		{"duplicate entity", head + "entities:\n  e: { from: old.a }\n  e: { from: old.b }\n", `p.yaml:8:3: entities: duplicate key "e" (first at line 7)`},
		{"same target twice", head + "entities:\n  a: { from: old.a, to: pg.x }\n  b: { from: old.b, to: pg.x }\n", `p.yaml:8:25: entity "b" writes pg.x, which entity "a" (line 7) writes too`},
		{"bad duration", head + "entities:\n  e: { from: old.a, lag: 5 seconds }\n", `p.yaml:7:26: lag: invalid duration "5 seconds" (examples: 500ms, 5s, 2m, 24h)`},
		{"empty id", head + "entities:\n  e: { from: old.a, id: [] }\n", `p.yaml:7:25: entity "e": id must name at least one column`},
		{"drop and rename", head + "entities:\n  e:\n    from: old.a\n    columns:\n      A: { drop: true, to: b }\n", `p.yaml:10:28: column "A": drop cannot be combined with to`},
		{"column unknown key", head + "entities:\n  e:\n    from: old.a\n    columns:\n      A: { too: b }\n", `p.yaml:10:12: unknown key "too" in column "A"; did you mean "to"?`},
		{"check two kinds", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - { not_null: a, unique: b }\n", `p.yaml:10:24: check has two kinds, "not_null" and "unique"; write one per list item`},
		{"check no kind", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - { severity: warn }\n", `p.yaml:10:9: check needs one kind key (not_null, unique, references, pattern, range, accepted_values, max_null_fraction, row_count, freshness, sql)`},
		{"check unknown kind", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - not_nul: a\n", "p.yaml:10:9: unknown key \"not_nul\" in check; did you mean \"not_null\"?\np.yaml:10:9: check needs one kind key (not_null, unique, references, pattern, range, accepted_values, max_null_fraction, row_count, freshness, sql)"},
		{"check not a mapping", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - not_null\n", `p.yaml:10:9: check must be a mapping with one kind key (not_null, unique, references, pattern, range, accepted_values, max_null_fraction, row_count, freshness, sql), got "not_null"`},
		{"check short form not allowed", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - pattern: Email\n", `p.yaml:10:18: pattern check needs a mapping with column, regex, got "Email"`},
		{"invalid regex", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - pattern: { column: a, regex: 'a(b' }\n", "p.yaml:10:38: regex: error parsing regexp: missing closing ): `a(b`"},
		{"bad severity", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - { not_null: a, severity: fatal }\n", `p.yaml:10:34: severity must be error or warn, got "fatal"`},
		{"severity twice", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - pattern: { column: a, regex: x, severity: warn }\n        severity: warn\n", `p.yaml:10:51: pattern check: severity given twice`},
		{"check unknown long key", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - range: { colum: a, min: 1 }\n", "p.yaml:10:9: range check: missing key \"column\"\np.yaml:10:18: unknown key \"colum\" in range check; did you mean \"column\"?"},
		{"range needs bound", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - range: { column: a }\n", `p.yaml:10:9: range check needs min or max`},
		{"range mixed", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - range: { column: a, min: 1, max: \"2020-01-01\" }\n", `p.yaml:10:9: range check: min and max must both be numbers or both be text`},
		{"range inverted", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - range: { column: a, min: 10, max: 1 }\n", `p.yaml:10:9: range check: min 10 is greater than max 1`},
		{"fraction", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - max_null_fraction: { column: a, max: 1.5 }\n", `p.yaml:10:46: max must be a fraction between 0 and 1, got 1.5`},
		{"freshness duration", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - freshness: { column: a, max_age: 1d }\n", `p.yaml:10:42: max_age: invalid duration "1d" (examples: 500ms, 5s, 2m, 24h)`},
		{"references unknown store", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - references: { columns: [a], to: mian.b, ref_columns: [id] }\n", `p.yaml:10:9: entity "e": references: unknown store "mian"`},
		{"references lengths", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - references: { columns: [a, b], to: t, ref_columns: [id] }\n", `p.yaml:10:9: references check: columns and ref_columns differ in length (2 and 1)`},
		{"sql empty", head + "entities:\n  e:\n    from: old.a\n    checks:\n      - sql: \" \"\n", `p.yaml:10:9: sql check needs a query`},
		{"null value", head + "entities:\n  e:\n    from: old.a\n    version:\n", `p.yaml:9:13: version must be a single value, got nothing`},
		{"merge key", head + "entities:\n  e:\n    <<: {from: old.a}\n", "p.yaml:7:3: entity \"e\": missing key \"from\"\np.yaml:8:5: entity \"e\": merge keys (<<) are not supported"},
		{"feed from not postgres", fhead + "feeds:\n  f: { from: old.a, to: rd, key: \"k:{id}\" }\n", `p.yaml:9:14: feed "f": from must be a table of a postgres store (feeds read PostgreSQL's logical replication); "old" is mysql`},
		{"feed to postgres", fhead + "feeds:\n  f: { from: pg.a, to: pg.b }\n", `p.yaml:9:24: feed "f": to must be an elasticsearch alias or a redis store; "pg" is postgres`},
		{"feed es needs alias", fhead + "feeds:\n  f: { from: pg.a, to: es }\n", `p.yaml:9:24: feed "f": to must name the alias readers use: es.<alias>`},
		{"feed es key", fhead + "feeds:\n  f: { from: pg.a, to: es.x, key: \"k:{id}\" }\n", `p.yaml:9:35: feed "f": key applies only to redis feeds`},
		{"feed redis needs key", fhead + "feeds:\n  f: { from: pg.a, to: rd }\n", `p.yaml:9:3: feed "f": a redis feed needs key (a template such as "customer:{customer_id}")`},
		{"feed key field not stored", fhead + "feeds:\n  f: { from: pg.a, to: rd, key: \"k:{nope}\", columns: [id] }\n", `p.yaml:9:33: feed "f": key template field "nope" is not among columns or id`},
		{"feed documents need $1", fhead + "feeds:\n  f:\n    from: pg.a\n    to: es.x\n    id: id\n    documents: { query: \"SELECT 1\" }\n", `p.yaml:13:25: feed "f": documents query must select the IDs in $1 (e.g. WHERE id = ANY($1))`},
		{"feed literal password", fhead + "  es2: { kind: elasticsearch, url: \"http://h\", password: hunter2 }\n", `p.yaml:8:58: password: secrets come only from the environment; write password: "${VAR}"`},
		{"feed password not es", fhead + "  r2: { kind: redis, url: \"redis://h\", password: \"${SET}\" }\n", `p.yaml:8:50: store "r2": password applies only to elasticsearch stores`},
		{"es store as entity target", fhead + "entities:\n  e: { from: old.a, to: es.b }\n", `p.yaml:9:25: entity "e": to: transit cannot write to elasticsearch store "es" yet (writable kinds: postgres)`},
		{"many problems sorted", head + "naming: camel\nentities:\n  e: { from: x.a, lag: soon }\n  f: { from: old.a, batch_size: 0 }\n",
			"p.yaml:6:9: naming must be one of keep, snake_case, lower; got \"camel\"\n" +
				"p.yaml:8:14: entity \"e\": from: unknown store \"x\"\n" +
				"p.yaml:8:24: lag: invalid duration \"soon\" (examples: 500ms, 5s, 2m, 24h)\n" +
				"p.yaml:9:33: batch_size must be > 0, got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("p.yaml", []byte(tc.src), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err == nil {
				t.Fatalf("no error, want:\n%s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("errors.As(*Error) failed for %T", err)
			}
		})
	}
}
