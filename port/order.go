package port

import (
	"cmp"
	"slices"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
)

// leasePriorities ranks the entities of a new run for the workers: tables
// that others reference come before the tables referencing them, and the
// larger come first among equals (longest job first). The largest table
// then finishes while smaller ones still copy, and its primary key and
// foreign keys are built side by side with them (see afterChunk) instead
// of alone at the end; a foreign key can be added as soon as both of its
// tables are in, which referenced-first makes early.
func leasePriorities(order []*entityState, plans []ledger.EntityPlan) {
	n := len(order)
	byTarget := make(map[string]int, n)
	for i, es := range order {
		byTarget[targetKey(es.Spec.ToStore, es.Target.Name)] = i
	}
	parents := make([][]int, n)
	for i, es := range order {
		for _, fk := range es.Target.ForeignKeys {
			if j, ok := byTarget[targetKey(es.Spec.ToStore, fk.RefTable)]; ok && j != i {
				parents[i] = append(parents[i], j)
			}
		}
	}
	// level: the longest chain of references above a table. A cycle
	// stops growing after n rounds.
	level := make([]int, n)
	for round := 0; round < n; round++ {
		changed := false
		for i := range order {
			for _, j := range parents[i] {
				if l := level[j] + 1; l > level[i] && l <= n {
					level[i], changed = l, true
				}
			}
		}
		if !changed {
			break
		}
	}
	rank := make([]int, n)
	for i := range rank {
		rank[i] = i
	}
	slices.SortStableFunc(rank, func(a, b int) int {
		if c := cmp.Compare(level[a], level[b]); c != 0 {
			return c
		}
		return cmp.Compare(plans[b].Rows, plans[a].Rows)
	})
	for p, i := range rank {
		plans[i].Priority = p
	}
}

// earlyForeignKeys adds, once es has its primary key, the foreign keys
// between es and the entities this process has already keyed: those of es
// and those referencing it. Validating a foreign key scans the referencing
// table; done here, it overlaps the copy of the tables still moving. The
// final step adds whatever is left (it skips the foreign keys already
// there), so a failure here is only logged.
func (r *runner) earlyForeignKeys(es *entityState) {
	type pending struct {
		child *entityState
		fks   []record.ForeignKey
	}
	var todo []pending
	r.keyedMu.Lock()
	r.keyed[es.Name] = true
	// es's own keys to the tables already keyed...
	if es.Spec.ForeignKeys {
		var fks []record.ForeignKey
		for _, fk := range es.Target.ForeignKeys {
			if p := r.byTarget[targetKey(es.Spec.ToStore, fk.RefTable)]; p != nil && r.keyed[p.Name] {
				fks = append(fks, fk)
			}
		}
		if len(fks) > 0 {
			todo = append(todo, pending{es, fks})
		}
	}
	// ...and the keys of the tables already keyed to es.
	for _, child := range r.referrers[es.Name] {
		if child == es || !r.keyed[child.Name] || !child.Spec.ForeignKeys {
			continue
		}
		var fks []record.ForeignKey
		for _, fk := range child.Target.ForeignKeys {
			if r.byTarget[targetKey(child.Spec.ToStore, fk.RefTable)] == es {
				fks = append(fks, fk)
			}
		}
		todo = append(todo, pending{child, fks})
	}
	r.keyedMu.Unlock()
	for _, p := range todo {
		t := &record.Table{Name: p.child.Target.Name, ForeignKeys: p.fks}
		if err := p.child.Sink.Finish(r.work, t, true); err != nil {
			r.log.Warn("early foreign key failed; will retry at the end", "entity", p.child.Name, "err", err)
		}
	}
}

// targetKey names a target table across stores.
func targetKey(store, table string) string { return store + "." + table }

// indexTargets fills r.byTarget (entity by target table) and r.referrers
// (the entities with a foreign key to an entity, by its name), once.
func (r *runner) indexTargets() {
	r.byTarget = make(map[string]*entityState, len(r.order))
	for _, es := range r.order {
		r.byTarget[targetKey(es.Spec.ToStore, es.Target.Name)] = es
	}
	r.referrers = map[string][]*entityState{}
	for _, es := range r.order {
		seen := map[*entityState]bool{}
		for _, fk := range es.Target.ForeignKeys {
			if p := r.byTarget[targetKey(es.Spec.ToStore, fk.RefTable)]; p != nil && !seen[p] {
				seen[p] = true
				r.referrers[p.Name] = append(r.referrers[p.Name], es)
			}
		}
	}
}
