package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the plan file at path, taking ${VAR} values from
// the environment.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse parses, interpolates and statically validates the plan in data.
// file names the plan in error positions. lookup resolves ${VAR}; nil means
// no variable is set.
//
// On failure the error is a *Error or, with several problems, an Errors
// holding all of them sorted by position.
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Plan, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	d := &decoder{file: file, lookup: lookup}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Error{Pos: Pos{File: file, Line: 1, Column: 1}, Msg: "empty plan"}
	}
	p := d.plan(doc.Content[0])
	d.validate(p)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	p.Hash = hashPlan(p)
	return p, nil
}

// hashPlan digests the canonical form of p (the WriteYAML output, which is
// interpolated, has defaults filled and URLs redacted). Comments, layout
// and passwords do not change the hash; any other content does. Leaving
// passwords out means the hash can be stored and shown without becoming a
// way to test guesses of a secret.
//
// The cutover blocks are left out: they hold the thresholds of the gates of
// `transit cutover`, which change nothing a run does, so tuning them while a
// run is in progress must not make it incompatible with the plan.
func hashPlan(p *Plan) string {
	c := p.clone()
	c.Cutover = nil
	for _, e := range c.Entities {
		e.Cutover = nil
	}
	var b bytes.Buffer
	if err := c.WriteYAML(&b); err != nil {
		return ""
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlParserMsg = regexp.MustCompile(`^(did not find expected (<document start>|node content|key|'-' indicator|',' or '\]'|',' or '\}')|found duplicate|found incompatible)`)
	yamlAnchor    = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlError turns a yaml.v3 syntax error into an *Error. yaml.v3 reports
// only a line (and for parser errors, as opposed to scanner errors, the
// line before the one at fault, counting from 0); the column given is that
// of the first non-blank character of the line.
func yamlError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if yamlParserMsg.MatchString(msg) {
			line++
		}
	}
	lines := bytes.Split(data, []byte("\n"))
	col := 0
	if m := yamlAnchor.FindStringSubmatch(msg); m != nil {
		// Point at the first use of the anchor.
		for i, l := range lines {
			if c := bytes.Index(l, []byte("*"+m[1])); c >= 0 {
				line, col = i+1, c+1
				break
			}
		}
	}
	line = min(max(line, 1), len(lines))
	if col == 0 {
		l := lines[line-1]
		col = len(l) - len(bytes.TrimLeft(l, " ")) + 1
	}
	return &Error{Pos: Pos{File: file, Line: line, Column: col}, Msg: "invalid YAML: " + msg}
}

func (d *decoder) plan(n *yaml.Node) *Plan {
	p := &Plan{Pos: d.at(n), Source: d.file}
	m := d.mapping(n, planSpec, "plan", nil, p)
	if m == nil {
		return p
	}
	if v := m.get("version"); v != nil {
		if m.int("version", &p.Version) && p.Version != 1 {
			d.errorf(v, "version must be 1, got %d", p.Version)
		}
	}
	m.str("name", &p.Name)
	m.str("naming", &p.Naming)
	m.str("ledger", &p.Ledger)
	if v := m.get("stores"); v != nil {
		keys, vals := d.entries(v, "stores")
		for i, k := range keys {
			if s := d.store(k, vals[i]); s != nil {
				p.Stores = append(p.Stores, s)
			}
		}
	}
	if v := m.get("tables"); v != nil {
		for i, it := range d.items(v, "tables") {
			if r := d.tableRule(i, it); r != nil {
				p.Tables = append(p.Tables, r)
			}
		}
	}
	if v := m.get("cutover"); v != nil {
		p.Cutover = d.cutover(v, "plan")
	}
	if v := m.get("entities"); v != nil {
		keys, vals := d.entries(v, "entities")
		for i, k := range keys {
			if e := d.entity(k, vals[i]); e != nil {
				p.Entities = append(p.Entities, e)
			}
		}
	}
	if v := m.get("feeds"); v != nil {
		keys, vals := d.entries(v, "feeds")
		for i, k := range keys {
			if f := d.feed(k, vals[i]); f != nil {
				p.Feeds = append(p.Feeds, f)
			}
		}
	}
	return p
}

func (d *decoder) store(k, v *yaml.Node) *Store {
	s := &Store{Name: k.Value, Pos: d.at(k)}
	what := fmt.Sprintf("store %q", s.Name)
	m := d.mapping(v, storeSpec, what, k, s)
	if m == nil {
		return s
	}
	m.str("kind", &s.Kind)
	m.str("url", &s.URL)
	m.str("path", &s.Path)
	m.str("schema", &s.Schema)
	m.str("delimiter", &s.Delimiter)
	var header bool
	if m.bool("header", &header) {
		s.Header = &header
	}
	if v := m.get("columns"); v != nil {
		keys, vals := d.entries(v, what+" columns")
		s.Columns = map[string]map[string]string{}
		for i, tk := range keys {
			tkeys, tvals := d.entries(vals[i], fmt.Sprintf("%s columns of %q", what, tk.Value))
			cols := map[string]string{}
			for j, ck := range tkeys {
				if t, ok := d.scalar(tvals[j], "type of column "+strconv.Quote(ck.Value)); ok {
					cols[ck.Value] = t
					d.checkColumnType(tvals[j], ck.Value, t)
				}
			}
			s.Columns[tk.Value] = cols
		}
	}
	if v := m.get("limits"); v != nil {
		s.Limits = d.limits(v, what)
	}
	d.secret(m, "username", &s.Username, &s.UsernameRef)
	d.secret(m, "password", &s.Password, &s.PasswordRef)
	d.secret(m, "api_key", &s.APIKey, &s.APIKeyRef)
	return s
}

// secret decodes a credential, which the plan may give only as ${VAR}
// (or ${VAR:-default}): the text as written goes to *ref, the value to
// *dst.
func (d *decoder) secret(m *mapping, key string, dst, ref *string) {
	n := m.get(key)
	if n == nil {
		return
	}
	r := d.resolve(n)
	if r == nil {
		return
	}
	raw := strings.TrimSpace(r.Value)
	if r.Kind != yaml.ScalarNode || !strings.HasPrefix(raw, "${") || !strings.HasSuffix(raw, "}") || strings.Count(raw, "${") != 1 {
		d.errorf(n, "%s: secrets come only from the environment; write %s: \"${VAR}\"", key, key)
		return
	}
	if v, ok := d.scalar(n, key); ok {
		*dst, *ref = v, raw
	}
}

func (d *decoder) feed(k, v *yaml.Node) *Feed {
	f := &Feed{Name: k.Value, Pos: d.at(k), Keep: 1}
	what := fmt.Sprintf("feed %q", f.Name)
	m := d.mapping(v, feedSpec, what, k, f)
	if m == nil {
		return nil
	}
	var from, to string
	if m.str("from", &from) {
		f.FromStore, f.FromTable = splitRef(from)
		if f.FromStore == "" || f.FromTable == "" || f.FromTable == "*" {
			d.errorf(m.get("from"), "%s: from must be store.table, got %q", what, from)
		}
	}
	if m.str("to", &to) {
		f.ToStore, f.ToAlias = splitRef(to)
		if f.ToStore == "" || strings.HasSuffix(to, ".") || f.ToAlias == "*" {
			d.errorf(m.get("to"), "%s: to must be store.alias (elasticsearch) or store (redis), got %q", what, to)
		}
	}
	if m.strList("id", &f.ID) && len(f.ID) == 0 {
		d.errorf(m.get("id"), "%s: id must name at least one column", what)
	}
	if v := m.get("mapping"); v != nil {
		f.Mapping = d.stringMap(v, what+" mapping")
	}
	if v := m.get("documents"); v != nil {
		f.Documents = &Documents{Pos: d.at(v)}
		dm := d.mapping(v, documentsSpec, what+" documents", m.keyNode("documents"), f.Documents)
		if dm != nil {
			dm.str("query", &f.Documents.Query)
			if dv := dm.get("depends_on"); dv != nil {
				f.Documents.DependsOn = d.stringMap(dv, what+" depends_on")
			}
		}
	}
	m.str("key", &f.Key)
	m.str("format", &f.Format)
	m.duration("ttl", &f.TTL)
	m.strList("columns", &f.Columns)
	m.int("keep", &f.Keep)
	return f
}

// keyNode returns the key node of key, or nil.
func (m *mapping) keyNode(key string) *yaml.Node {
	for _, k := range m.keys {
		if k.Value == key {
			return k
		}
	}
	return nil
}

// stringMap decodes a mapping of names to scalar values.
func (d *decoder) stringMap(n *yaml.Node, what string) map[string]string {
	keys, vals := d.entries(n, what)
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		if s, ok := d.scalar(vals[i], k.Value); ok {
			out[k.Value] = s
		}
	}
	return out
}

func (d *decoder) tableRule(i int, n *yaml.Node) *TableRule {
	r := &TableRule{Pos: d.at(n), Create: true, Indexes: true, ForeignKeys: true}
	m := d.mapping(n, tableRuleSpec, fmt.Sprintf("tables[%d]", i), nil, r)
	if m == nil {
		return nil
	}
	m.str("from", &r.From)
	m.str("to", &r.To)
	m.strList("exclude", &r.Exclude)
	m.bool("create", &r.Create)
	m.bool("indexes", &r.Indexes)
	m.bool("foreign_keys", &r.ForeignKeys)
	m.int("batch_size", &r.BatchSize)
	m.int("max_rejects", &r.MaxRejects)
	return r
}

func (d *decoder) entity(k, v *yaml.Node) *Entity {
	e := &Entity{Name: k.Value, Pos: d.at(k), Create: true, Indexes: true, ForeignKeys: true,
		Lag: DefaultLag}
	what := fmt.Sprintf("entity %q", e.Name)
	m := d.mapping(v, entitySpec, what, k, e)
	if m == nil {
		return nil
	}
	set := map[string]bool{}
	for _, kn := range m.keys {
		set[kn.Value] = true
	}
	if d.set == nil {
		d.set = map[*Entity]map[string]bool{}
	}
	d.set[e] = set
	var from, to string
	if m.str("from", &from) {
		e.FromStore, e.FromTable = splitRef(from)
		switch {
		case e.FromTable == "*":
			d.errorf(m.get("from"), "%s: a wildcard (%s) is only allowed in tables:; name one table here", what, from)
		case e.FromStore == "" || e.FromTable == "":
			d.errorf(m.get("from"), "%s: from must be store.table, got %q", what, from)
		}
	}
	if m.str("to", &to) {
		e.ToStore, e.ToTable = splitRef(to)
		if e.ToStore == "" || e.ToTable == "*" || strings.HasSuffix(to, ".") {
			d.errorf(m.get("to"), "%s: to must be store or store.table, got %q", what, to)
		}
	}
	m.strList("id", &e.ID)
	m.str("version", &e.Version)
	m.duration("lag", &e.Lag)
	m.int("batch_size", &e.BatchSize)
	m.int("max_rejects", &e.MaxRejects)
	m.bool("create", &e.Create)
	m.bool("indexes", &e.Indexes)
	m.bool("foreign_keys", &e.ForeignKeys)
	if v := m.get("id"); v != nil && len(e.ID) == 0 {
		d.errorf(v, "%s: id must name at least one column", what)
	}
	if v := m.get("columns"); v != nil {
		keys, vals := d.entries(v, what+" columns")
		e.Columns = map[string]*ColumnRule{}
		for i, ck := range keys {
			if c := d.columnRule(ck, vals[i]); c != nil {
				e.Columns[ck.Value] = c
			}
		}
	}
	if v := m.get("checks"); v != nil {
		for _, it := range d.items(v, what+" checks") {
			if c := d.check(it); c != nil {
				e.Checks = append(e.Checks, c)
			}
		}
		nameChecks(e.Checks)
	}
	if v := m.get("cutover"); v != nil {
		e.Cutover = d.cutover(v, what)
	}
	return e
}

// splitRef splits "store.table" at the first dot; "store" gives table "".
func splitRef(s string) (store, table string) {
	store, table, _ = strings.Cut(s, ".")
	return store, table
}

func (d *decoder) columnRule(k, v *yaml.Node) *ColumnRule {
	c := &ColumnRule{Pos: d.at(k)}
	what := fmt.Sprintf("column %q", k.Value)
	m := d.mapping(v, columnRuleSpec, what, k, c)
	if m == nil {
		return nil
	}
	m.str("to", &c.To)
	m.str("type", &c.Type)
	m.bool("drop", &c.Drop)
	if c.Drop {
		for _, key := range []string{"to", "type"} {
			if m.has(key) {
				d.errorf(m.get(key), "%s: drop cannot be combined with %s", what, key)
			}
		}
	}
	return c
}
