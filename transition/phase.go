// Package transition keeps each entity's phase in the ledger and moves it,
// one step at a time, through old → shadow → migrating → new, and back.
//
//   - Get, List and Set read and change phases (transit.phases); every
//     change is recorded in transit.phase_history with who made it, when
//     and why, and announced with NOTIFY transit_phases in the same
//     transaction (a trigger of migration 007_phases.sql).
//   - Watch follows the phases of a plan for readers (package dualread):
//     LISTEN on a dedicated connection, or polling when the ledger sits
//     behind a transaction-mode pooler, where LISTEN cannot work.
//   - Check runs the gates a step forward must pass; Status gathers the
//     facts `transit status` prints.
package transition

import (
	"fmt"
	"strings"
)

// Phase is where an entity's reads are answered from.
type Phase string

// The phases, in order.
const (
	Old       Phase = "old"       // the old store answers
	Shadow    Phase = "shadow"    // old answers; new is read too and compared
	Migrating Phase = "migrating" // new answers; a miss falls back to old and is ported
	New       Phase = "new"       // new answers; old is no longer read
)

// Phases lists the phases in order.
var Phases = []Phase{Old, Shadow, Migrating, New}

// ParsePhase returns the phase named s.
func ParsePhase(s string) (Phase, error) {
	for _, p := range Phases {
		if string(p) == s {
			return p, nil
		}
	}
	names := make([]string, len(Phases))
	for i, p := range Phases {
		names[i] = string(p)
	}
	return "", fmt.Errorf("unknown phase %q (want one of %s)", s, strings.Join(names, ", "))
}

// index is p's place in Phases, -1 when p is not a phase.
func (p Phase) index() int {
	for i, q := range Phases {
		if p == q {
			return i
		}
	}
	return -1
}

// Next is the phase after p, "" after New.
func (p Phase) Next() Phase {
	i := p.index()
	if i < 0 || i+1 >= len(Phases) {
		return ""
	}
	return Phases[i+1]
}

// Prev is the phase before p, "" before Old.
func (p Phase) Prev() Phase {
	i := p.index()
	if i <= 0 {
		return ""
	}
	return Phases[i-1]
}
