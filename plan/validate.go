package plan

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/transitdb/transit/record"
)

// Abilities says, for each kind of store, whether transit can read from it
// (as a source) and write to it (as a target) today. A plan that uses a
// kind for what it cannot do yet fails plan check at the store reference,
// not at run time. When a sink or source lands, flip its flag here.
var Abilities = map[string]struct{ Read, Write bool }{
	"postgres":      {Read: true, Write: true},
	"mysql":         {Read: true},
	"sqlite":        {Read: true},
	"csv":           {Read: true},
	"jsonl":         {Read: true},
	"elasticsearch": {},
	"redis":         {},
}

// kindsThat lists, sorted, the kinds for which can says yes.
func kindsThat(can func(read, write bool) bool) string {
	var ks []string
	for k, a := range Abilities {
		if can(a.Read, a.Write) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Kinds of store by what they are reached through.
var (
	serverKinds = []string{"postgres", "mysql", "elasticsearch", "redis"}
	fileKinds   = []string{"sqlite", "csv", "jsonl"}
	urlSchemes  = map[string][]string{
		"postgres":      {"postgres", "postgresql"},
		"mysql":         {"mysql"},
		"elasticsearch": {"http", "https"},
		"redis":         {"redis", "rediss", "unix"},
	}
)

func (d *decoder) checkColumnType(n *yaml.Node, col, t string) {
	if _, err := record.ParseDeclared(t); err != nil {
		d.errorf(n, "column %q: %v", col, err)
	}
}

// validate checks what the decoder cannot see key by key, and fills the
// defaults that depend on other parts of the plan.
func (d *decoder) validate(p *Plan) {
	if p.Naming == "" {
		p.Naming = NamingKeep
	}
	for _, s := range p.Stores {
		d.validateStore(s)
	}
	d.validateLedger(p)
	for _, r := range p.Tables {
		d.validateRule(p, r)
	}
	targets := map[string]*Entity{}
	for _, e := range p.Entities {
		d.validateEntity(p, e)
		if e.ToStore != "" && e.ToTable != "" {
			key := e.ToStore + "." + e.ToTable
			if first, ok := targets[key]; ok {
				d.errs.add(d.valuePos(e, "to", e.Pos), "entity %q writes %s, which entity %q (line %d) writes too", e.Name, key, first.Name, first.Pos.Line)
			} else {
				targets[key] = e
			}
		}
	}
	feedTargets := map[string]*Feed{}
	for _, f := range p.Feeds {
		d.validateFeed(p, f)
		if f.ToStore == "" {
			continue
		}
		key := f.ToStore + "." + f.ToAlias
		if s := p.Store(f.ToStore); s != nil && s.Kind == "redis" {
			key = f.ToStore + " " + f.keyPrefix()
		}
		if first, ok := feedTargets[key]; ok {
			d.errs.add(d.valuePos(f, "to", f.Pos), "feed %q writes where feed %q (line %d) writes too", f.Name, first.Name, first.Pos.Line)
		} else {
			feedTargets[key] = f
		}
	}
}

// keyPrefix is the literal start of a Redis feed's key template.
func (f *Feed) keyPrefix() string {
	if i := strings.IndexByte(f.Key, '{'); i >= 0 {
		return f.Key[:i]
	}
	return f.Key
}

// FeedTargetKinds are the kinds of store a feed can write to.
var FeedTargetKinds = []string{"elasticsearch", "redis"}

func (d *decoder) validateFeed(p *Plan, f *Feed) {
	what := fmt.Sprintf("feed %q", f.Name)
	at := func(key string) Pos { return d.valuePos(f, key, f.Pos) }
	if f.FromStore != "" {
		s := p.Store(f.FromStore)
		switch {
		case s == nil:
			d.unknownStore(p, at("from"), what+": from", f.FromStore)
		case s.Kind != "postgres" && s.Kind != "":
			d.errs.add(at("from"), "%s: from must be a table of a postgres store (feeds read PostgreSQL's logical replication); %q is %s", what, f.FromStore, s.Kind)
		}
	}
	kind := ""
	if f.ToStore != "" {
		s := p.Store(f.ToStore)
		switch {
		case s == nil:
			d.unknownStore(p, at("to"), what+": to", f.ToStore)
		case !contains(FeedTargetKinds, s.Kind):
			d.errs.add(at("to"), "%s: to must be an elasticsearch alias or a redis store; %q is %s", what, f.ToStore, s.Kind)
		default:
			kind = s.Kind
		}
	}
	switch kind {
	case "elasticsearch":
		if f.ToAlias == "" {
			d.errs.add(at("to"), "%s: to must name the alias readers use: %s.<alias>", what, f.ToStore)
		} else if f.ToAlias != strings.ToLower(f.ToAlias) || strings.ContainsAny(f.ToAlias, ` "*\\<|,>/?#:`) || strings.HasPrefix(f.ToAlias, "_") {
			d.errs.add(at("to"), "%s: %q is not a valid Elasticsearch alias (lower case, no spaces or \\/*?\"<>|,#:, not starting with _)", what, f.ToAlias)
		}
		for _, key := range []string{"key", "format", "ttl"} {
			if d.has(f, key) {
				d.errs.add(at(key), "%s: %s applies only to redis feeds", what, key)
			}
		}
	case "redis":
		if f.ToAlias != "" {
			d.errs.add(at("to"), "%s: a redis feed names the store only (to: %s); the key template says where keys go", what, f.ToStore)
		}
		if d.has(f, "mapping") {
			d.errs.add(at("mapping"), "%s: mapping applies only to elasticsearch feeds", what)
		}
		if f.Key == "" {
			d.errs.add(f.Pos, "%s: a redis feed needs key (a template such as \"customer:{customer_id}\")", what)
		} else {
			d.checkKeyTemplate(f, what, at("key"))
		}
		if f.Format == "" {
			f.Format = FeedFormatHash
		}
	}
	if doc := f.Documents; doc != nil {
		dat := d.valuePos(doc, "query", doc.Pos)
		if doc.Query != "" && !strings.Contains(doc.Query, "$1") {
			d.errs.add(dat, "%s: documents query must select the IDs in $1 (e.g. WHERE id = ANY($1))", what)
		}
		if len(f.ID) == 0 {
			d.errs.add(f.Pos, "%s: with documents, id must name the column(s) of the query holding the document ID", what)
		}
		if len(doc.DependsOn) > 0 && len(f.ID) > 1 {
			d.errs.add(d.valuePos(doc, "depends_on", doc.Pos), "%s: depends_on needs a single-column id", what)
		}
		for t, col := range doc.DependsOn {
			if strings.Contains(t, ".") || t == "" || col == "" {
				d.errs.add(d.valuePos(doc, "depends_on", doc.Pos), "%s: depends_on: want table: column (a table of the same store), got %q: %q", what, t, col)
			}
		}
	}
}

// checkKeyTemplate checks a Redis key template: braces balanced, at least
// one {field}, and every field stored (when columns limit the fields).
func (d *decoder) checkKeyTemplate(f *Feed, what string, at Pos) {
	s := f.Key
	n := 0
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.Contains(s, "}") {
				d.errs.add(at, "%s: key template %q: } without {", what, f.Key)
				return
			}
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			d.errs.add(at, "%s: key template %q: unclosed {", what, f.Key)
			return
		}
		name := s[i+1 : i+j]
		if name == "" {
			d.errs.add(at, "%s: key template %q: empty {}", what, f.Key)
			return
		}
		n++
		if len(f.Columns) > 0 && !contains(f.Columns, name) && !contains(f.ID, name) {
			d.errs.add(at, "%s: key template field %q is not among columns or id", what, name)
		}
		s = s[i+j+1:]
	}
	if n == 0 {
		d.errs.add(at, "%s: key template %q names no {field}; keys would collide", what, f.Key)
	}
}

func (d *decoder) validateStore(s *Store) {
	at := func(key string) Pos { return d.valuePos(s, key, s.Pos) }
	switch {
	case s.Kind == "":
		return
	case contains(serverKinds, s.Kind):
		if s.URL == "" && !d.has(s, "url") {
			d.errs.add(s.Pos, "store %q: a %s store needs url", s.Name, s.Kind)
		}
		if d.has(s, "path") {
			d.errs.add(at("path"), "store %q: path does not apply to %s stores; use url", s.Name, s.Kind)
		}
		if s.URL != "" {
			d.checkURL(s, at("url"))
		}
	case contains(fileKinds, s.Kind):
		if s.Path == "" && !d.has(s, "path") {
			d.errs.add(s.Pos, "store %q: a %s store needs path", s.Name, s.Kind)
		}
		if d.has(s, "url") {
			d.errs.add(at("url"), "store %q: url does not apply to %s stores; use path", s.Name, s.Kind)
		}
	}
	if d.has(s, "schema") && s.Kind != "postgres" {
		d.errs.add(at("schema"), "store %q: schema applies only to postgres stores", s.Name)
	}
	for _, key := range []string{"delimiter", "header"} {
		if d.has(s, key) && s.Kind != "csv" {
			d.errs.add(at(key), "store %q: %s applies only to csv stores", s.Name, key)
		}
	}
	if d.has(s, "columns") && s.Kind != "csv" && s.Kind != "jsonl" {
		d.errs.add(at("columns"), "store %q: columns applies only to csv and jsonl stores", s.Name)
	}
	if d.has(s, "delimiter") && len([]rune(s.Delimiter)) != 1 {
		d.errs.add(at("delimiter"), "store %q: delimiter must be one character, got %q", s.Name, s.Delimiter)
	}
	for _, key := range []string{"username", "password", "api_key"} {
		if d.has(s, key) && s.Kind != "elasticsearch" {
			d.errs.add(at(key), "store %q: %s applies only to elasticsearch stores", s.Name, key)
		}
	}
	if d.has(s, "api_key") && (d.has(s, "username") || d.has(s, "password")) {
		d.errs.add(at("api_key"), "store %q: give api_key or username/password, not both", s.Name)
	}
	d.validateLimits(s)
	switch s.Kind {
	case "postgres":
		if s.Schema == "" {
			s.Schema = DefaultSchema
		}
	case "csv":
		if s.Delimiter == "" {
			s.Delimiter = DefaultDelimiter
		}
		if s.Header == nil {
			t := true
			s.Header = &t
		}
	}
}

// has reports whether key was given for the decoded object owner.
func (d *decoder) has(owner any, key string) bool {
	_, ok := d.pos[owner][key]
	return ok
}

func (d *decoder) checkURL(s *Store, at Pos) {
	schemes := urlSchemes[s.Kind]
	scheme, _, ok := strings.Cut(s.URL, "://")
	if !ok {
		// libpq also takes key=value connection strings.
		if s.Kind == "postgres" && strings.Contains(s.URL, "=") {
			return
		}
		d.errs.add(at, "store %q: url must start with %s://, got %q", s.Name, schemes[0], RedactURL(s.URL))
		return
	}
	if !contains(schemes, strings.ToLower(scheme)) {
		d.errs.add(at, "store %q: a %s url must start with %s, got %s://", s.Name, s.Kind, joinSchemes(schemes), scheme)
	}
}

func joinSchemes(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s + "://"
	}
	return strings.Join(out, " or ")
}

func (d *decoder) validateLedger(p *Plan) {
	if p.Ledger != "" {
		at := d.valuePos(p, "ledger", p.Pos)
		s := p.Store(p.Ledger)
		switch {
		case s == nil:
			d.unknownStore(p, at, "ledger", p.Ledger)
		case s.Kind != "postgres" && s.Kind != "":
			d.errs.add(at, "ledger must name a postgres store; %q is %s", p.Ledger, s.Kind)
		}
		return
	}
	for _, s := range p.Stores {
		if s.Kind == "postgres" {
			p.Ledger, p.LedgerDefaulted = s.Name, true
			return
		}
	}
	// No postgres store: fine for a read-only (audit) plan, not for one
	// that writes.
	for _, r := range p.Tables {
		d.errs.add(d.valuePos(r, "to", r.Pos), "no postgres store to keep transit's ledger in; add one (and ledger: its name)")
		return
	}
	for _, e := range p.Entities {
		if e.ToStore != "" || d.set[e]["to"] {
			d.errs.add(d.valuePos(e, "to", e.Pos), "no postgres store to keep transit's ledger in; add one (and ledger: its name)")
			return
		}
	}
}

func (d *decoder) unknownStore(p *Plan, at Pos, key, name string) {
	names := make([]string, len(p.Stores))
	for i, s := range p.Stores {
		names[i] = s.Name
	}
	if sg := suggest(name, names); sg != "" {
		d.errs.add(at, "%s: unknown store %q; did you mean %q?", key, name, sg)
		return
	}
	d.errs.add(at, "%s: unknown store %q", key, name)
}

// storeRef checks that name is a store that can be read (or written).
func (d *decoder) storeRef(p *Plan, at Pos, key, name string, write bool) bool {
	s := p.Store(name)
	if s == nil {
		d.unknownStore(p, at, key, name)
		return false
	}
	if s.Kind == "" {
		return true
	}
	a := Abilities[s.Kind]
	if write && !a.Write {
		d.errs.add(at, "%s: transit cannot write to %s store %q yet (writable kinds: %s)", key, s.Kind, name,
			kindsThat(func(_, w bool) bool { return w }))
		return false
	}
	if !write && !a.Read {
		d.errs.add(at, "%s: transit cannot read from %s store %q yet (readable kinds: %s)", key, s.Kind, name,
			kindsThat(func(r, _ bool) bool { return r }))
		return false
	}
	return true
}

func (d *decoder) validateRule(p *Plan, r *TableRule) {
	fromAt, toAt := d.valuePos(r, "from", r.Pos), d.valuePos(r, "to", r.Pos)
	store, table := splitRef(r.From)
	if r.From != "" {
		if store == "" || table == "" {
			d.errs.add(fromAt, "from must be store.* or store.table, got %q", r.From)
		} else {
			d.storeRef(p, fromAt, "from", store, false)
		}
	}
	if len(r.Exclude) > 0 && table != "*" {
		d.errs.add(d.valuePos(r, "exclude", r.Pos), "exclude applies only to a wildcard (from: %s.*)", store)
	}
	if r.To != "" {
		ts, tt := splitRef(r.To)
		switch {
		case ts == "" || tt == "*" || strings.HasSuffix(r.To, "."):
			d.errs.add(toAt, "to must be store or store.table, got %q", r.To)
		case tt != "" && table == "*":
			d.errs.add(toAt, "to must name a store only when from is a wildcard, got %q", r.To)
		default:
			d.storeRef(p, toAt, "to", ts, true)
		}
	}
}

func (d *decoder) validateEntity(p *Plan, e *Entity) {
	what := fmt.Sprintf("entity %q", e.Name)
	if e.FromStore != "" && e.FromTable != "" && e.FromTable != "*" {
		d.storeRef(p, d.valuePos(e, "from", e.Pos), what+": from", e.FromStore, false)
	}
	if e.ToStore != "" {
		d.storeRef(p, d.valuePos(e, "to", e.Pos), what+": to", e.ToStore, true)
	}
	set := d.set[e]
	if r := p.coveringRule(e.FromStore, e.FromTable); r != nil && e.FromTable != "" {
		e.Overrides = r
		if !set["to"] && r.To != "" {
			e.ToStore, e.ToTable = splitRef(r.To)
		}
		if !set["batch_size"] {
			e.BatchSize = r.BatchSize
		}
		if !set["max_rejects"] {
			e.MaxRejects = r.MaxRejects
		}
		if !set["create"] {
			e.Create = r.Create
		}
		if !set["indexes"] {
			e.Indexes = r.Indexes
		}
		if !set["foreign_keys"] {
			e.ForeignKeys = r.ForeignKeys
		}
	}
	if e.ToStore != "" && e.ToTable == "" {
		e.ToTable = p.TargetName(e.FromTable)
	}
	for _, c := range e.Checks {
		if c.Kind != CheckReferences || c.Ref == "" {
			continue
		}
		if store, table, ok := strings.Cut(c.Ref, "."); ok {
			if table == "" {
				d.errs.add(c.Pos, "%s: references: to must be store.table or table, got %q", what, c.Ref)
			} else if p.Store(store) == nil {
				d.unknownStore(p, c.Pos, what+": references", store)
			}
		}
	}
}

// coveringRule returns the first tables rule that moves store.table.
func (p *Plan) coveringRule(store, table string) *TableRule {
	for _, r := range p.Tables {
		s, t := splitRef(r.From)
		if s != store {
			continue
		}
		if t == table || (t == "*" && !contains(r.Exclude, table)) {
			return r
		}
	}
	return nil
}
