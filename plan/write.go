package plan

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// WriteYAML writes p as plan YAML that Parse accepts again: entities as
// they are in p.Entities now (including any expanded from wildcards),
// every default written out, store URLs redacted, and literal "$" escaped
// where interpolation would otherwise read it. Key order is fixed, so the
// output is canonical (Plan.Hash is its digest).
func (p *Plan) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(p.node()); err != nil {
		return err
	}
	return enc.Close()
}

// node building helpers

func mapNode(flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: escapeDollars(s)}
}

func quotedNode(s string) *yaml.Node {
	n := strNode(s)
	n.Style = yaml.DoubleQuotedStyle
	return n
}

func singleQuotedNode(s string) *yaml.Node {
	n := strNode(s)
	n.Style = yaml.SingleQuotedStyle
	return n
}

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func floatNode(f float64) *yaml.Node {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(f), 10)}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func listNode(ss []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, strNode(key), v)
}

// formatDuration writes 24h rather than 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (p *Plan) node() *yaml.Node {
	root := mapNode(false)
	add(root, "version", intNode(p.Version))
	add(root, "name", strNode(p.Name))
	if p.Naming != "" {
		add(root, "naming", strNode(p.Naming))
	}
	stores := mapNode(false)
	for _, s := range p.Stores {
		add(stores, s.Name, s.node())
	}
	if len(p.Stores) == 0 {
		stores.Style = yaml.FlowStyle
	}
	add(root, "stores", stores)
	if p.Ledger != "" {
		add(root, "ledger", strNode(p.Ledger))
	}
	if len(p.Tables) > 0 {
		tables := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, r := range p.Tables {
			tables.Content = append(tables.Content, r.node())
		}
		add(root, "tables", tables)
	}
	if len(p.Entities) > 0 {
		ents := mapNode(false)
		for _, e := range p.Entities {
			add(ents, e.Name, e.node())
		}
		add(root, "entities", ents)
	}
	if p.Cutover != nil {
		add(root, "cutover", p.Cutover.node())
	}
	if len(p.Feeds) > 0 {
		feeds := mapNode(false)
		for _, f := range p.Feeds {
			add(feeds, f.Name, f.node())
		}
		add(root, "feeds", feeds)
	}
	return root
}

func (f *Feed) node() *yaml.Node {
	m := mapNode(false)
	add(m, "from", strNode(f.FromStore+"."+f.FromTable))
	to := f.ToStore
	if f.ToAlias != "" {
		to += "." + f.ToAlias
	}
	add(m, "to", strNode(to))
	if len(f.ID) > 0 {
		add(m, "id", listNode(f.ID))
	}
	if len(f.Mapping) > 0 {
		mm := mapNode(true)
		for _, k := range sortedKeys(f.Mapping) {
			add(mm, k, strNode(f.Mapping[k]))
		}
		add(m, "mapping", mm)
	}
	if f.Documents != nil {
		dm := mapNode(false)
		add(dm, "query", quotedNode(f.Documents.Query))
		if len(f.Documents.DependsOn) > 0 {
			dep := mapNode(true)
			for _, k := range sortedKeys(f.Documents.DependsOn) {
				add(dep, k, strNode(f.Documents.DependsOn[k]))
			}
			add(dm, "depends_on", dep)
		}
		add(m, "documents", dm)
	}
	if f.Key != "" {
		add(m, "key", quotedNode(f.Key))
	}
	if f.Format != "" {
		add(m, "format", strNode(f.Format))
	}
	if f.TTL > 0 {
		add(m, "ttl", strNode(formatDuration(f.TTL)))
	}
	if len(f.Columns) > 0 {
		add(m, "columns", listNode(f.Columns))
	}
	add(m, "keep", intNode(f.Keep))
	return m
}

func (s *Store) node() *yaml.Node {
	m := mapNode(false)
	add(m, "kind", strNode(s.Kind))
	if s.URL != "" {
		add(m, "url", strNode(RedactURL(s.URL)))
	}
	if s.Path != "" {
		add(m, "path", strNode(s.Path))
	}
	if s.Schema != "" {
		add(m, "schema", strNode(s.Schema))
	}
	if s.Delimiter != "" {
		add(m, "delimiter", quotedNode(s.Delimiter))
	}
	if s.Header != nil {
		add(m, "header", boolNode(*s.Header))
	}
	if len(s.Columns) > 0 {
		tables := mapNode(false)
		for _, t := range sortedKeys(s.Columns) {
			cols := mapNode(true)
			for _, c := range sortedKeys(s.Columns[t]) {
				add(cols, c, strNode(s.Columns[t][c]))
			}
			add(tables, t, cols)
		}
		add(m, "columns", tables)
	}
	if !s.Limits.IsZero() {
		add(m, "limits", s.Limits.node())
	}
	// Credentials as written (${VAR}), never their values.
	for _, c := range [][2]string{{"username", s.UsernameRef}, {"password", s.PasswordRef}, {"api_key", s.APIKeyRef}} {
		if c[1] != "" {
			add(m, c[0], &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c[1], Style: yaml.DoubleQuotedStyle})
		}
	}
	return m
}

func (r *TableRule) node() *yaml.Node {
	m := mapNode(false)
	add(m, "from", strNode(r.From))
	add(m, "to", strNode(r.To))
	if len(r.Exclude) > 0 {
		add(m, "exclude", listNode(r.Exclude))
	}
	add(m, "create", boolNode(r.Create))
	add(m, "indexes", boolNode(r.Indexes))
	add(m, "foreign_keys", boolNode(r.ForeignKeys))
	if r.BatchSize > 0 {
		add(m, "batch_size", intNode(r.BatchSize))
	}
	add(m, "max_rejects", intNode(r.MaxRejects))
	return m
}

func (e *Entity) node() *yaml.Node {
	m := mapNode(false)
	add(m, "from", strNode(e.FromStore+"."+e.FromTable))
	if e.ToStore != "" {
		add(m, "to", strNode(e.ToStore+"."+e.ToTable))
	}
	if len(e.ID) > 0 {
		add(m, "id", listNode(e.ID))
	}
	if e.Version != "" {
		add(m, "version", strNode(e.Version))
	}
	add(m, "lag", strNode(formatDuration(e.Lag)))
	if len(e.Columns) > 0 {
		cols := mapNode(false)
		for _, name := range sortedKeys(e.Columns) {
			c := e.Columns[name]
			cm := mapNode(true)
			if c.To != "" {
				add(cm, "to", strNode(c.To))
			}
			if c.Type != "" {
				add(cm, "type", strNode(c.Type))
			}
			if c.Drop {
				add(cm, "drop", boolNode(true))
			}
			add(cols, name, cm)
		}
		add(m, "columns", cols)
	}
	if e.BatchSize > 0 {
		add(m, "batch_size", intNode(e.BatchSize))
	}
	add(m, "max_rejects", intNode(e.MaxRejects))
	add(m, "create", boolNode(e.Create))
	add(m, "indexes", boolNode(e.Indexes))
	add(m, "foreign_keys", boolNode(e.ForeignKeys))
	if len(e.Checks) > 0 {
		checks := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, c := range e.Checks {
			checks.Content = append(checks.Content, c.node())
		}
		add(m, "checks", checks)
	}
	if e.Cutover != nil {
		add(m, "cutover", e.Cutover.node())
	}
	return m
}

func (c *Check) node() *yaml.Node {
	item := mapNode(false)
	body := mapNode(true)
	column := func() {
		if len(c.Columns) > 0 {
			add(body, "column", strNode(c.Columns[0]))
		}
	}
	bound := func(key string, num *float64, text string) {
		switch {
		case num != nil:
			add(body, key, floatNode(*num))
		case text != "":
			add(body, key, quotedNode(text))
		}
	}
	var value *yaml.Node = body
	switch c.Kind {
	case CheckNotNull, CheckUnique:
		value = listNode(c.Columns)
	case CheckSQL:
		value = quotedNode(c.SQL)
	case CheckReferences:
		add(body, "columns", listNode(c.Columns))
		add(body, "to", strNode(c.Ref))
		add(body, "ref_columns", listNode(c.RefColumns))
	case CheckPattern:
		column()
		add(body, "regex", singleQuotedNode(c.Pattern))
	case CheckRange:
		column()
		bound("min", c.Min, c.MinText)
		bound("max", c.Max, c.MaxText)
	case CheckAcceptedValues:
		column()
		add(body, "values", listNode(c.Values))
	case CheckMaxNullFraction:
		column()
		add(body, "max", floatNode(c.Fraction))
	case CheckRowCount:
		bound("min", c.Min, "")
		bound("max", c.Max, "")
	case CheckFreshness:
		column()
		add(body, "max_age", strNode(formatDuration(c.MaxAge)))
	}
	add(item, c.Kind, value)
	if c.Severity != "" {
		add(item, "severity", strNode(c.Severity))
	}
	if c.Name != "" {
		add(item, "name", strNode(c.Name))
	}
	return item
}
