package plan

import (
	"fmt"
	"strings"
)

// Advice is what the author of a valid plan should know before relying on
// it: choices the plan leaves to defaults that a migration may regret.
// transit plan check prints each as a note; none is an error.
func (p *Plan) Advice() []string {
	var out []string
	if p.LedgerDefaulted {
		written := map[string]bool{}
		for _, e := range p.Entities {
			if e.ToStore != "" {
				written[e.ToStore] = true
			}
		}
		for _, r := range p.Tables {
			store, _, _ := strings.Cut(r.To, ".")
			written[store] = true
		}
		if !written[p.Ledger] {
			for _, s := range p.Stores {
				if s.Kind == "postgres" && written[s.Name] {
					out = append(out, fmt.Sprintf("the ledger (runs, checkpoints, phases, verify history) defaults to %s, the first postgres store, which this plan only reads from; "+
						"add `ledger: %s` to keep it with the target, which outlives the old store (set it before the first run: a ledger moved later starts empty)", p.Ledger, s.Name))
					break
				}
			}
		}
	}
	return out
}
