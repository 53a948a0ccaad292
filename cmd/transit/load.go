package main

import (
	"context"
	"log/slog"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/stores"
)

// openPlan is how every command that works on a plan's data starts: load
// and check the plan, expand its tables: rules against the live stores,
// keep the entities named with --entity (all when none) that pass keep
// (nil keeps all), and resolve them. Every error is a usage/plan/connection
// error (exit 2). The caller closes the returned store set.
func openPlan(ctx context.Context, path string, entities []string, keep func(*plan.Entity) bool, log *slog.Logger) (*plan.Plan, *stores.Set, []*port.Entity, error) {
	p, err := plan.Load(path)
	if err != nil {
		return nil, nil, nil, fail(exitUsage, err)
	}
	set := stores.New(p)
	ents, err := func() ([]*port.Entity, error) {
		specs, err := port.Expand(ctx, p, set, log)
		if err != nil {
			return nil, err
		}
		if specs, err = selectEntities(specs, entities); err != nil {
			return nil, err
		}
		if keep != nil {
			var kept []*plan.Entity
			for _, s := range specs {
				if keep(s) {
					kept = append(kept, s)
				}
			}
			specs = kept
		}
		return port.Resolve(ctx, p, specs, set)
	}()
	if err != nil {
		set.Close()
		return nil, nil, nil, fail(exitUsage, err)
	}
	return p, set, ents, nil
}
