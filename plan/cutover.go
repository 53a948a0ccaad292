package plan

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the cutover gates (see Cutover).
const (
	DefaultMaxLag          = time.Hour
	DefaultMaxVerifyAge    = 24 * time.Hour
	DefaultMaxMismatchRate = 0.001
	DefaultMinShadowReads  = 1000
)

// Cutover holds the thresholds of the gates `transit cutover` checks
// before an entity steps forward. A plan-level block sets defaults for
// every entity; an entity's own block overrides them key by key. Nil
// fields are not set here (see Plan.CutoverFor for the resolved values).
type Cutover struct {
	MaxLag          *time.Duration // catch-up lag at most this
	MaxVerifyAge    *time.Duration // the last verify is clean and at most this old
	MaxMismatchRate *float64       // shadow mismatches / shadow reads at most this (0..1)
	MinShadowReads  *int           // over at least this many shadow reads
	Pos             Pos
}

// CutoverGates are the resolved thresholds of one entity.
type CutoverGates struct {
	MaxLag          time.Duration `json:"max_lag"`
	MaxVerifyAge    time.Duration `json:"max_verify_age"`
	MaxMismatchRate float64       `json:"max_mismatch_rate"`
	MinShadowReads  int           `json:"min_shadow_reads"`
}

var cutoverSpec = &object{
	Name: "cutover",
	Doc:  "Thresholds of the gates transit cutover checks before a step forward. At plan level: defaults for every entity; in an entity: overrides, key by key.",
	Fields: []field{
		{Key: "max_lag", Kind: vDuration, Doc: "Largest catch-up lag allowed: the time since the start of the last finished run that moved the entity. Default 1h."},
		{Key: "max_verify_age", Kind: vDuration, Doc: "The last verify of the entity must be clean and at most this old. Default 24h."},
		{Key: "max_mismatch_rate", Kind: vNumber, Min: num(0), Doc: "Largest shadow mismatch rate allowed (mismatches / shadow reads, 0 to 1). Default 0.001."},
		{Key: "min_shadow_reads", Kind: vInt, Min: num(0), Doc: "Shadow reads needed before the mismatch rate counts. Default 1000."},
	},
}

// CutoverFor returns the thresholds for entity: its own cutover keys, else
// the plan's, else the defaults.
func (p *Plan) CutoverFor(entity string) CutoverGates {
	g := CutoverGates{MaxLag: DefaultMaxLag, MaxVerifyAge: DefaultMaxVerifyAge,
		MaxMismatchRate: DefaultMaxMismatchRate, MinShadowReads: DefaultMinShadowReads}
	g.apply(p.Cutover)
	for _, e := range p.Entities {
		if e.Name == entity {
			g.apply(e.Cutover)
			break
		}
	}
	return g
}

func (g *CutoverGates) apply(c *Cutover) {
	if c == nil {
		return
	}
	if c.MaxLag != nil {
		g.MaxLag = *c.MaxLag
	}
	if c.MaxVerifyAge != nil {
		g.MaxVerifyAge = *c.MaxVerifyAge
	}
	if c.MaxMismatchRate != nil {
		g.MaxMismatchRate = *c.MaxMismatchRate
	}
	if c.MinShadowReads != nil {
		g.MinShadowReads = *c.MinShadowReads
	}
}

func (d *decoder) cutover(v *yaml.Node, what string) *Cutover {
	c := &Cutover{Pos: d.at(v)}
	m := d.mapping(v, cutoverSpec, what+" cutover", nil, c)
	if m == nil {
		return c
	}
	var lag, age time.Duration
	if m.duration("max_lag", &lag) {
		c.MaxLag = &lag
	}
	if m.duration("max_verify_age", &age) {
		c.MaxVerifyAge = &age
	}
	var rate float64
	if n := m.get("max_mismatch_rate"); n != nil && m.number("max_mismatch_rate", &rate) {
		if rate > 1 {
			d.errorf(n, "max_mismatch_rate is a fraction from 0 to 1, got %g (write 0.01 for 1%%)", rate)
		} else {
			c.MaxMismatchRate = &rate
		}
	}
	var reads int
	if m.int("min_shadow_reads", &reads) {
		c.MinShadowReads = &reads
	}
	return c
}

func (c *Cutover) node() *yaml.Node {
	m := mapNode(false)
	if c.MaxLag != nil {
		add(m, "max_lag", strNode(formatDuration(*c.MaxLag)))
	}
	if c.MaxVerifyAge != nil {
		add(m, "max_verify_age", strNode(formatDuration(*c.MaxVerifyAge)))
	}
	if c.MaxMismatchRate != nil {
		add(m, "max_mismatch_rate", floatNode(*c.MaxMismatchRate))
	}
	if c.MinShadowReads != nil {
		add(m, "min_shadow_reads", intNode(*c.MinShadowReads))
	}
	if len(m.Content) == 0 {
		m.Style = yaml.FlowStyle
	}
	return m
}

func (c *Cutover) clone() *Cutover {
	if c == nil {
		return nil
	}
	n := *c
	if c.MaxLag != nil {
		v := *c.MaxLag
		n.MaxLag = &v
	}
	if c.MaxVerifyAge != nil {
		v := *c.MaxVerifyAge
		n.MaxVerifyAge = &v
	}
	if c.MaxMismatchRate != nil {
		v := *c.MaxMismatchRate
		n.MaxMismatchRate = &v
	}
	if c.MinShadowReads != nil {
		v := *c.MinShadowReads
		n.MinShadowReads = &v
	}
	return &n
}
