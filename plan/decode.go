package plan

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the work done on one file, so that nested aliases
// (a "billion laughs" file) cannot make Parse run for ever.
const maxNodes = 200000

// decoder walks the yaml.Node tree of a plan, interpolating scalar values
// and recording problems with their positions.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   errorList
	nodes  int
	// pos records where the value of a key of a decoded object was, for
	// the validation messages that come later.
	pos map[any]map[string]Pos
	// set records which optional keys an entity gave explicitly.
	set map[*Entity]map[string]bool
}

func (d *decoder) at(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.add(d.at(n), format, args...)
}

// valuePos is where key's value of the decoded object owner was, or def.
func (d *decoder) valuePos(owner any, key string, def Pos) Pos {
	if p, ok := d.pos[owner][key]; ok {
		return p
	}
	return def
}

// resolve follows aliases; it returns nil once the node budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(n, "plan too large (aliases expand to more than %d values)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// mapping is one decoded YAML mapping checked against an object spec.
type mapping struct {
	d     *decoder
	spec  *object
	what  string // e.g. `store "legacy"`, used in messages
	node  *yaml.Node
	owner any
	vals  map[string]*yaml.Node
	keys  []*yaml.Node // key nodes in file order
}

// pairs returns the key/value pairs of a mapping node, rejecting merge keys
// and duplicate keys.
func (d *decoder) pairs(n *yaml.Node, what string) (keys, vals []*yaml.Node) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain names, got %s", what, describeNode(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			d.errorf(k, "%s: merge keys (<<) are not supported", what)
			continue
		}
		if first, ok := seen[k.Value]; ok {
			d.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return keys, vals
}

// mapping checks that n is a mapping holding only keys of spec and all its
// required keys. keyNode, if not nil, is where a missing key is reported.
// It returns nil (after recording the problem) if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, spec *object, what string, keyNode *yaml.Node, owner any) *mapping {
	if n = d.resolve(n); n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, got %s", what, describeNode(n))
		return nil
	}
	m := &mapping{d: d, spec: spec, what: what, node: n, owner: owner, vals: map[string]*yaml.Node{}}
	keys, vals := d.pairs(n, what)
	for i, k := range keys {
		if spec.field(k.Value) == nil {
			d.unknownKey(k, what, spec.keys())
			continue
		}
		m.keys = append(m.keys, k)
		m.vals[k.Value] = vals[i]
	}
	if keyNode == nil {
		keyNode = n
	}
	for _, f := range spec.Fields {
		if f.Required && m.vals[f.Key] == nil {
			d.errorf(keyNode, "%s: missing key %q", what, f.Key)
		}
	}
	return m
}

func (d *decoder) unknownKey(k *yaml.Node, what string, valid []string) {
	if s := suggest(k.Value, valid); s != "" {
		d.errorf(k, "unknown key %q in %s; did you mean %q?", k.Value, what, s)
		return
	}
	d.errorf(k, "unknown key %q in %s (valid keys: %s)", k.Value, what, strings.Join(valid, ", "))
}

// get returns the value node of key, or nil if absent.
func (m *mapping) get(key string) *yaml.Node {
	if m == nil {
		return nil
	}
	v := m.vals[key]
	if v == nil {
		return nil
	}
	if m.owner != nil {
		if m.d.pos == nil {
			m.d.pos = map[any]map[string]Pos{}
		}
		if m.d.pos[m.owner] == nil {
			m.d.pos[m.owner] = map[string]Pos{}
		}
		m.d.pos[m.owner][key] = m.d.at(v)
	}
	return v
}

func (m *mapping) has(key string) bool { return m != nil && m.vals[key] != nil }

// scalar returns the interpolated text of a scalar node.
func (d *decoder) scalar(n *yaml.Node, key string) (string, bool) {
	if n = d.resolve(n); n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, "%s must be a single value, got %s", key, describeNode(n))
		return "", false
	}
	s, err := interpolate(n.Value, d.lookup)
	if err != nil {
		d.errorf(n, "%s: %v", key, err)
		return "", false
	}
	return s, true
}

func quoted(n *yaml.Node) bool {
	return n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
}

// str decodes a string key of m into *dst, checking the spec's enum.
// scalar returns key's node and its scalar text; ok is false when key is
// absent or not a scalar (reported).
func (m *mapping) scalar(key string) (*yaml.Node, string, bool) {
	n := m.get(key)
	if n == nil {
		return nil, "", false
	}
	s, ok := m.d.scalar(n, key)
	return n, s, ok
}

func (m *mapping) str(key string, dst *string) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	if f := m.spec.field(key); f != nil && len(f.Enum) > 0 && !contains(f.Enum, s) {
		msg := fmt.Sprintf("%s must be one of %s; got %q", key, strings.Join(f.Enum, ", "), s)
		if sg := suggest(s, f.Enum); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		}
		m.d.errorf(n, "%s", msg)
		return false
	}
	*dst = s
	return true
}

func (m *mapping) int(key string, dst *int) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		m.d.errorf(n, "%s must be an integer, got %q", key, s)
		return false
	}
	if f := m.spec.field(key); f != nil && f.Min != nil && float64(v) < *f.Min {
		if *f.Min == 1 {
			m.d.errorf(n, "%s must be > 0, got %d", key, v)
		} else {
			m.d.errorf(n, "%s must be >= %g, got %d", key, *f.Min, v)
		}
		return false
	}
	*dst = v
	return true
}

func (m *mapping) bool(key string, dst *bool) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	switch s {
	case "true", "True", "TRUE":
		*dst = true
	case "false", "False", "FALSE":
		*dst = false
	default:
		m.d.errorf(n, "%s must be true or false, got %q", key, s)
		return false
	}
	return true
}

func (m *mapping) duration(key string, dst *time.Duration) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		m.d.errorf(n, "%s: invalid duration %q (examples: 500ms, 5s, 2m, 24h)", key, s)
		return false
	}
	*dst = v
	return true
}

func (m *mapping) number(key string, dst *float64) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		m.d.errorf(n, "%s must be a number, got %q", key, s)
		return false
	}
	if f := m.spec.field(key); f != nil && f.Min != nil && v < *f.Min {
		m.d.errorf(n, "%s must be >= %g, got %g", key, *f.Min, v)
		return false
	}
	*dst = v
	return true
}

// numberOrText decodes a range bound: an unquoted value that reads as a
// number is a number, anything else (quoted, or a date) is text.
func (m *mapping) numberOrText(key string, num **float64, text *string) bool {
	n, s, ok := m.scalar(key)
	if !ok {
		return false
	}
	if r := m.d.resolve(n); r != nil && !quoted(r) {
		if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			*num = &v
			return true
		}
	}
	if s == "" {
		m.d.errorf(n, "%s must not be empty", key)
		return false
	}
	*text = s
	return true
}

// strList decodes one string or a list of strings.
func (m *mapping) strList(key string, dst *[]string) bool {
	n := m.get(key)
	if n == nil {
		return false
	}
	v, ok := m.d.strList(n, key)
	if ok {
		*dst = v
	}
	return ok
}

func (d *decoder) strList(n *yaml.Node, key string) ([]string, bool) {
	r := d.resolve(n)
	if r == nil {
		return nil, false
	}
	if r.Kind != yaml.SequenceNode {
		s, ok := d.scalar(r, key)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	}
	out := make([]string, 0, len(r.Content))
	ok := true
	for _, it := range r.Content {
		s, good := d.scalar(it, key+" item")
		if good {
			out = append(out, s)
		}
		ok = ok && good
	}
	return out, ok
}

// entries returns the key and value nodes of a mapping-of-objects value.
func (d *decoder) entries(n *yaml.Node, what string) (keys, vals []*yaml.Node) {
	if n = d.resolve(n); n == nil {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, got %s", what, describeNode(n))
		return nil, nil
	}
	return d.pairs(n, what)
}

// items returns the elements of a list value.
func (d *decoder) items(n *yaml.Node, what string) []*yaml.Node {
	if n = d.resolve(n); n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, got %s", what, describeNode(n))
		return nil
	}
	return n.Content
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// compileRegex checks a pattern at parse time.
func (d *decoder) compileRegex(n *yaml.Node, s string) {
	if _, err := regexp.Compile(s); err != nil {
		d.errorf(n, "regex: %v", err)
	}
}
