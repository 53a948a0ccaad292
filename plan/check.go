package plan

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// check decodes one item of an entity's checks list: a mapping with exactly
// one kind key, plus optional severity and name. The kind's value is its
// long form (a mapping) or, for not_null, unique and sql, its short form.
func (d *decoder) check(n *yaml.Node) *Check {
	r := d.resolve(n)
	if r == nil {
		return nil
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, "check must be a mapping with one kind key (%s), got %s", kindList(), describeNode(r))
		return nil
	}
	c := &Check{Pos: d.at(r)}
	keys, vals := d.pairs(r, "check")
	var kindKey, kindVal, sevNode, nameNode *yaml.Node
	for i, k := range keys {
		switch {
		case checkKindSpec(k.Value) != nil:
			if kindKey != nil {
				d.errorf(k, "check has two kinds, %q and %q; write one per list item", kindKey.Value, k.Value)
				continue
			}
			kindKey, kindVal = k, vals[i]
		case k.Value == "severity":
			sevNode = vals[i]
		case k.Value == "name":
			nameNode = vals[i]
		default:
			d.unknownKey(k, "check", checkItemKeys())
		}
	}
	if kindKey == nil {
		d.errorf(r, "check needs one kind key (%s)", kindList())
		return nil
	}
	c.Kind = kindKey.Value
	c.Pos = d.at(kindKey)
	if sevNode != nil {
		d.severity(sevNode, c)
	}
	if nameNode != nil {
		c.Name, _ = d.scalar(nameNode, "name")
	}
	spec := checkKindSpec(c.Kind)
	what := c.Kind + " check"
	kv := d.resolve(kindVal)
	if kv == nil {
		return nil
	}
	var m *mapping
	switch {
	case kv.Kind == yaml.MappingNode:
		m = d.mapping(kv, spec, what, kindKey, c)
	case spec.Short != nil && *spec.Short == vStringList:
		c.Columns, _ = d.strList(kv, c.Kind)
	case spec.Short != nil && *spec.Short == vString:
		c.SQL, _ = d.scalar(kv, c.Kind)
	default:
		var req []string
		for _, f := range spec.Fields {
			if f.Required {
				req = append(req, f.Key)
			}
		}
		d.errorf(kv, "%s needs a mapping with %s, got %s", what, strings.Join(req, ", "), describeNode(kv))
		return nil
	}
	if m != nil {
		if v := m.get("severity"); v != nil {
			if sevNode != nil {
				d.errorf(v, "%s: severity given twice", what)
			} else {
				d.severity(v, c)
			}
		}
		if v := m.get("name"); v != nil {
			if nameNode != nil {
				d.errorf(v, "%s: name given twice", what)
			} else {
				c.Name, _ = d.scalar(v, "name")
			}
		}
		d.checkBody(m, c)
	}
	if c.Severity == "" {
		c.Severity = SeverityError
	}
	d.checkComplete(kindKey, c, what)
	return c
}

func kindList() string {
	names := make([]string, len(checkKinds))
	for i, k := range checkKinds {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

func (d *decoder) severity(n *yaml.Node, c *Check) {
	s, ok := d.scalar(n, "severity")
	if !ok {
		return
	}
	if !contains(severityNames, s) {
		d.errorf(n, "severity must be error or warn, got %q", s)
		return
	}
	c.Severity = s
}

// checkBody decodes the long form of a check.
func (d *decoder) checkBody(m *mapping, c *Check) {
	var col string
	if m.str("column", &col) {
		c.Columns = []string{col}
	}
	switch c.Kind {
	case CheckNotNull, CheckUnique:
		m.strList("columns", &c.Columns)
	case CheckReferences:
		m.strList("columns", &c.Columns)
		m.str("to", &c.Ref)
		m.strList("ref_columns", &c.RefColumns)
	case CheckPattern:
		if m.str("regex", &c.Pattern) {
			d.compileRegex(m.get("regex"), c.Pattern)
		}
	case CheckRange:
		m.numberOrText("min", &c.Min, &c.MinText)
		m.numberOrText("max", &c.Max, &c.MaxText)
	case CheckAcceptedValues:
		m.strList("values", &c.Values)
	case CheckMaxNullFraction:
		if m.number("max", &c.Fraction) && c.Fraction > 1 {
			d.errorf(m.get("max"), "max must be a fraction between 0 and 1, got %g", c.Fraction)
		}
	case CheckRowCount:
		var lo, hi int
		if m.int("min", &lo) {
			f := float64(lo)
			c.Min = &f
		}
		if m.int("max", &hi) {
			f := float64(hi)
			c.Max = &f
		}
	case CheckFreshness:
		if m.duration("max_age", &c.MaxAge) && c.MaxAge == 0 {
			d.errorf(m.get("max_age"), "max_age must be > 0")
		}
	case CheckSQL:
		m.str("query", &c.SQL)
	}
}

// checkComplete reports what a check of its kind still lacks.
func (d *decoder) checkComplete(k *yaml.Node, c *Check, what string) {
	switch c.Kind {
	case CheckNotNull, CheckUnique, CheckReferences:
		if len(c.Columns) == 0 {
			d.errorf(k, "%s needs at least one column", what)
		}
		if c.Kind == CheckReferences && len(c.RefColumns) != len(c.Columns) && len(c.RefColumns) > 0 {
			d.errorf(k, "%s: columns and ref_columns differ in length (%d and %d)", what, len(c.Columns), len(c.RefColumns))
		}
	case CheckAcceptedValues:
		if len(c.Values) == 0 && len(c.Columns) > 0 {
			d.errorf(k, "%s needs at least one value", what)
		}
	case CheckRange:
		switch {
		case c.Min == nil && c.Max == nil && c.MinText == "" && c.MaxText == "":
			d.errorf(k, "%s needs min or max", what)
		case (c.Min != nil && c.MaxText != "") || (c.MinText != "" && c.Max != nil):
			d.errorf(k, "%s: min and max must both be numbers or both be text", what)
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			d.errorf(k, "%s: min %g is greater than max %g", what, *c.Min, *c.Max)
		case c.MinText != "" && c.MaxText != "" && c.MinText > c.MaxText:
			d.errorf(k, "%s: min %q is greater than max %q", what, c.MinText, c.MaxText)
		}
	case CheckRowCount:
		switch {
		case c.Min == nil && c.Max == nil:
			d.errorf(k, "%s needs min or max", what)
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			d.errorf(k, "%s: min %g is greater than max %g", what, *c.Min, *c.Max)
		}
	case CheckSQL:
		if strings.TrimSpace(c.SQL) == "" {
			d.errorf(k, "%s needs a query", what)
		}
	}
}

// nameChecks gives every unnamed check a name derived from its kind and
// columns ("not_null_Email"), made unique within the entity.
func nameChecks(cs []*Check) {
	used := map[string]bool{}
	for _, c := range cs {
		if c.Name != "" {
			used[c.Name] = true
		}
	}
	for _, c := range cs {
		if c.Name != "" {
			continue
		}
		base := strings.Join(append([]string{c.Kind}, c.Columns...), "_")
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		c.Name = name
	}
}
