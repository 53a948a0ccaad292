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
			p.Ledger = s.Name
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
