package transition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/plan"
)

// GateResult is the outcome of one gate of a step forward.
type GateResult struct {
	Name   string `json:"name"` // lag | verify | shadow | audit | rejects
	Passed bool   `json:"passed"`
	Value  string `json:"value"`  // what the ledger says
	Limit  string `json:"limit"`  // the threshold from the plan
	Detail string `json:"detail"` // why it failed, or what it means
}

// The gates.
const (
	GateLag     = "lag"     // catch-up lag ≤ max_lag
	GateVerify  = "verify"  // the last verify is clean and younger than max_verify_age
	GateShadow  = "shadow"  // mismatch rate ≤ max_mismatch_rate over ≥ min_shadow_reads
	GateAudit   = "audit"   // the entity's error-severity checks passed in the last audit
	GateRejects = "rejects" // no rejects left unresolved
)

// GatesFor names the gates of a step forward to phase to. Entering shadow
// only adds reads of new that are compared and thrown away, so it needs
// only a finished, recent run (new holds the data); entering migrating
// (new answers) and new (old is no longer read) need every gate.
func GatesFor(to Phase) []string {
	switch to {
	case Shadow:
		return []string{GateLag}
	case Migrating, New:
		return []string{GateLag, GateVerify, GateShadow, GateAudit, GateRejects}
	}
	return nil
}

// Evaluate runs the gates of a step to phase to on the facts f, with the
// thresholds g. errorChecks is how many error-severity checks the plan
// gives the entity (the audit gate passes without any).
func Evaluate(f Facts, g plan.CutoverGates, errorChecks int, to Phase) []GateResult {
	var out []GateResult
	for _, name := range GatesFor(to) {
		var r GateResult
		switch name {
		case GateLag:
			r = lagGate(f, g)
		case GateVerify:
			r = verifyGate(f, g)
		case GateShadow:
			r = shadowGate(f, g)
		case GateAudit:
			r = auditGate(f, errorChecks)
		case GateRejects:
			r = GateResult{Name: GateRejects, Passed: f.Rejects == 0, Value: fmt.Sprint(f.Rejects), Limit: "0"}
			if !r.Passed {
				r.Detail = fmt.Sprintf("%d rejected rows since the last clean verify; fix them, run again and verify", f.Rejects)
			}
		}
		out = append(out, r)
	}
	return out
}

func lagGate(f Facts, g plan.CutoverGates) GateResult {
	r := GateResult{Name: GateLag, Limit: "≤ " + formatDur(g.MaxLag)}
	if f.LastRun == nil {
		r.Value = "never ported"
		r.Detail = "no finished run moved this entity; run transit run"
		return r
	}
	r.Value = formatDur(f.Lag)
	r.Passed = f.Lag <= g.MaxLag
	if !r.Passed {
		r.Detail = fmt.Sprintf("the last finished run (%d) started %s ago; run transit run to catch up", f.LastRun.ID, formatDur(f.Lag))
	}
	return r
}

func verifyGate(f Facts, g plan.CutoverGates) GateResult {
	r := GateResult{Name: GateVerify, Limit: "clean, ≤ " + formatDur(g.MaxVerifyAge) + " old"}
	v := f.LastVerify
	if v == nil {
		r.Value = "never verified"
		r.Detail = "run transit verify"
		return r
	}
	age := time.Since(v.FinishedAt)
	state := v.Status
	if v.Incomplete {
		state += ", incomplete"
	}
	r.Value = fmt.Sprintf("%s, %s old", state, formatDur(age))
	switch {
	case !v.Clean():
		r.Detail = fmt.Sprintf("the last verify (%d) is not clean; repair or run again, then transit verify", v.ID)
	case age > g.MaxVerifyAge:
		r.Detail = fmt.Sprintf("the last verify (%d) is too old; run transit verify", v.ID)
	default:
		r.Passed = true
	}
	return r
}

func shadowGate(f Facts, g plan.CutoverGates) GateResult {
	r := GateResult{Name: GateShadow, Limit: fmt.Sprintf("≤ %s over ≥ %d reads", formatRate(g.MaxMismatchRate), g.MinShadowReads)}
	s := f.Shadow
	if s == nil {
		s = &ShadowFact{}
	}
	r.Value = fmt.Sprintf("%s (%d mismatches in %d reads)", formatRate(s.Rate()), s.Mismatches, s.Reads)
	switch {
	case s.Reads < int64(g.MinShadowReads):
		r.Detail = fmt.Sprintf("only %d shadow reads; read through transit in shadow until there are %d", s.Reads, g.MinShadowReads)
	case s.Rate() > g.MaxMismatchRate:
		r.Detail = "too many shadow mismatches; see transit.shadow_mismatches, repair, verify"
	default:
		r.Passed = true
	}
	return r
}

func auditGate(f Facts, errorChecks int) GateResult {
	r := GateResult{Name: GateAudit, Limit: "error checks pass"}
	a := f.Audit
	switch {
	case errorChecks == 0:
		r.Passed, r.Value = true, "no error-severity checks in the plan"
	case a == nil:
		r.Value = "never audited"
		r.Detail = "run transit audit"
	case !a.Covered:
		r.Value = fmt.Sprintf("audit %d did not cover the entity", a.ID)
		r.Detail = "run transit audit with this entity"
	case len(a.Failed) > 0:
		r.Value = fmt.Sprintf("audit %d: %d failed (%s)", a.ID, len(a.Failed), strings.Join(a.Failed, ", "))
		r.Detail = "fix the data, then transit audit"
	default:
		r.Passed, r.Value = true, fmt.Sprintf("audit %d: passed", a.ID)
	}
	return r
}

func formatDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func formatRate(r float64) string {
	return fmt.Sprintf("%.4g%%", r*100)
}

// ErrStep says a step is not allowed from the entity's current phase.
var ErrStep = errors.New("step not allowed")

// StepOptions say how to take a step.
type StepOptions struct {
	DryRun bool   // check the gates only
	Force  bool   // step even when gates fail (needs Reason)
	Reason string // why; recorded in the history
	Actor  string // who; empty: Actor()
}

// StepResult is what a step did.
type StepResult struct {
	Entity  string       `json:"entity"`
	From    Phase        `json:"from"`
	To      Phase        `json:"to"`
	Gates   []GateResult `json:"gates"`
	Passed  bool         `json:"passed"`  // every gate passed
	Applied bool         `json:"applied"` // the phase changed
	Forced  bool         `json:"forced"`  // changed although gates failed
	State   State        `json:"-"`
}

// Failed names the gates that failed.
func (r StepResult) Failed() []string {
	var out []string
	for _, g := range r.Gates {
		if !g.Passed {
			out = append(out, g.Name)
		}
	}
	return out
}

// Forward moves entity one phase forward, to to, when the gates pass (or
// o.Force with a reason overrides them). Without o.DryRun and with gates
// failing and no force, it returns the result with Applied false and no
// error: the caller names the failed gates.
func Forward(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, entity string, to Phase, o StepOptions) (StepResult, error) {
	res := StepResult{Entity: entity, To: to}
	if o.Force && strings.TrimSpace(o.Reason) == "" {
		return res, fmt.Errorf("%w: --force needs --reason (it is recorded)", ErrStep)
	}
	f, err := Gather(ctx, pool, p.Name, entity)
	if err != nil {
		return res, err
	}
	res.From = f.State.Phase
	if next := res.From.Next(); to != next {
		if next == "" {
			return res, fmt.Errorf("%w: %s is already in %s, the last phase", ErrStep, entity, res.From)
		}
		return res, fmt.Errorf("%w: %s is in %s; one step at a time, the next is %s (to go back use transit rollback)", ErrStep, entity, res.From, next)
	}
	res.Gates = Evaluate(f, p.CutoverFor(entity), errorChecks(p, entity), to)
	res.Passed = len(res.Failed()) == 0
	if o.DryRun || (!res.Passed && !o.Force) {
		return res, nil
	}
	res.State, err = Set(ctx, pool, Change{Plan: p.Name, Entity: entity, From: res.From, To: to,
		Actor: o.Actor, Reason: o.Reason, Forced: !res.Passed, Gates: res.Gates})
	if err != nil {
		return res, err
	}
	res.Applied, res.Forced = true, !res.Passed
	return res, nil
}

// Rollback moves entity one phase back, at once, without gates.
func Rollback(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, entity string, o StepOptions) (StepResult, error) {
	res := StepResult{Entity: entity, Passed: true}
	cur, err := Get(ctx, pool, p.Name, entity)
	if err != nil {
		return res, err
	}
	res.From, res.To = cur.Phase, cur.Phase.Prev()
	if res.To == "" {
		return res, fmt.Errorf("%w: %s is in %s; there is no phase before it", ErrStep, entity, res.From)
	}
	if o.DryRun {
		return res, nil
	}
	res.State, err = Set(ctx, pool, Change{Plan: p.Name, Entity: entity, From: res.From, To: res.To, Actor: o.Actor, Reason: o.Reason})
	if err != nil {
		return res, err
	}
	res.Applied = true
	return res, nil
}

// errorChecks counts the error-severity checks the plan gives entity.
func errorChecks(p *plan.Plan, entity string) int {
	n := 0
	for _, e := range p.Entities {
		if e.Name != entity {
			continue
		}
		for _, c := range e.Checks {
			if c.Severity != plan.SeverityWarn {
				n++
			}
		}
	}
	return n
}
