package plan

import "github.com/transitdb/transit/internal/redact"

// RedactURL returns u with any password replaced by "xxxxx" (see
// internal/redact.URL, transit's one redactor).
func RedactURL(u string) string { return redact.URL(u) }

// Redacted returns a deep copy of p with every store URL passed through
// RedactURL. Entities keep pointing at the copy's table rules.
func (p *Plan) Redacted() *Plan {
	c := p.clone()
	for _, s := range c.Stores {
		s.URL = RedactURL(s.URL)
		for _, v := range []*string{&s.Username, &s.Password, &s.APIKey} {
			if *v != "" {
				*v = "xxxxx"
			}
		}
	}
	return c
}

// clone deep-copies p.
func (p *Plan) clone() *Plan {
	c := *p
	c.Cutover = p.Cutover.clone()
	c.Stores = make([]*Store, len(p.Stores))
	for i, s := range p.Stores {
		cs := *s
		if s.Header != nil {
			h := *s.Header
			cs.Header = &h
		}
		if s.Columns != nil {
			cs.Columns = make(map[string]map[string]string, len(s.Columns))
			for t, cols := range s.Columns {
				m := make(map[string]string, len(cols))
				for k, v := range cols {
					m[k] = v
				}
				cs.Columns[t] = m
			}
		}
		cs.Limits = s.Limits.clone()
		c.Stores[i] = &cs
	}
	rules := map[*TableRule]*TableRule{}
	c.Tables = make([]*TableRule, len(p.Tables))
	for i, r := range p.Tables {
		cr := *r
		cr.Exclude = cloneStrings(r.Exclude)
		c.Tables[i] = &cr
		rules[r] = &cr
	}
	ruleCopy := func(r *TableRule) *TableRule {
		if r == nil {
			return nil
		}
		if cr, ok := rules[r]; ok {
			return cr
		}
		cr := *r
		cr.Exclude = cloneStrings(r.Exclude)
		rules[r] = &cr
		return &cr
	}
	c.Entities = make([]*Entity, len(p.Entities))
	for i, e := range p.Entities {
		ce := *e
		ce.ID = cloneStrings(e.ID)
		ce.FromRule = ruleCopy(e.FromRule)
		ce.Overrides = ruleCopy(e.Overrides)
		ce.Cutover = e.Cutover.clone()
		if e.Columns != nil {
			ce.Columns = make(map[string]*ColumnRule, len(e.Columns))
			for k, col := range e.Columns {
				cc := *col
				ce.Columns[k] = &cc
			}
		}
		if e.Checks != nil {
			ce.Checks = make([]*Check, len(e.Checks))
			for j, ch := range e.Checks {
				cc := *ch
				cc.Columns = cloneStrings(ch.Columns)
				cc.RefColumns = cloneStrings(ch.RefColumns)
				cc.Values = cloneStrings(ch.Values)
				if ch.Min != nil {
					v := *ch.Min
					cc.Min = &v
				}
				if ch.Max != nil {
					v := *ch.Max
					cc.Max = &v
				}
				ce.Checks[j] = &cc
			}
		}
		c.Entities[i] = &ce
	}
	c.Feeds = make([]*Feed, len(p.Feeds))
	for i, f := range p.Feeds {
		cf := *f
		cf.ID = cloneStrings(f.ID)
		cf.Columns = cloneStrings(f.Columns)
		if f.Mapping != nil {
			cf.Mapping = make(map[string]string, len(f.Mapping))
			for k, v := range f.Mapping {
				cf.Mapping[k] = v
			}
		}
		if f.Documents != nil {
			cd := *f.Documents
			if f.Documents.DependsOn != nil {
				cd.DependsOn = make(map[string]string, len(f.Documents.DependsOn))
				for k, v := range f.Documents.DependsOn {
					cd.DependsOn[k] = v
				}
			}
			cf.Documents = &cd
		}
		c.Feeds[i] = &cf
	}
	return &c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
