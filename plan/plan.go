package plan

// Store returns the store named name, or nil.
func (p *Plan) Store(name string) *Store {
	for _, s := range p.Stores {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// LedgerStore returns the store transit keeps its own state in, or nil if
// the plan has none (a read-only plan without a postgres store).
func (p *Plan) LedgerStore() *Store {
	if p.Ledger == "" {
		return nil
	}
	return p.Store(p.Ledger)
}

// Entity returns the entity named name, or nil.
func (p *Plan) Entity(name string) *Entity {
	for _, e := range p.Entities {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// EntityFor returns the explicit entity (one not expanded from a wildcard)
// that reads store.table, or nil. Wildcard expansion skips tables for which
// it returns an entity: the explicit entity overrides the wildcard.
func (p *Plan) EntityFor(store, table string) *Entity {
	for _, e := range p.Entities {
		if e.FromRule == nil && e.FromStore == store && e.FromTable == table {
			return e
		}
	}
	return nil
}

// Writes reports whether the entity has a target (false: read-only, used
// by audit only).
func (e *Entity) Writes() bool { return e.ToStore != "" }

// Wildcard reports whether the rule moves every table of its store.
func (r *TableRule) Wildcard() bool {
	_, t := splitRef(r.From)
	return t == "*"
}

// Covers reports whether the rule moves the table of the store it reads.
func (r *TableRule) Covers(table string) bool {
	_, t := splitRef(r.From)
	if t == "*" {
		return !contains(r.Exclude, table)
	}
	return t == table
}

// Source splits From into its store and table ("*" for a wildcard).
func (r *TableRule) Source() (store, table string) { return splitRef(r.From) }

// Target splits To into its store and table ("" when the target tables are
// named by the plan's naming).
func (r *TableRule) Target() (store, table string) { return splitRef(r.To) }

// Feed returns the feed named name, or nil.
func (p *Plan) Feed(name string) *Feed {
	for _, f := range p.Feeds {
		if f.Name == name {
			return f
		}
	}
	return nil
}
