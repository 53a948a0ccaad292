package port

import (
	"context"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// afterChunk builds an entity's primary key (when deferred) and indexes as
// soon as its last chunk is in, while other tables are still copying.
func (r *runner) afterChunk(es *entityState) {
	ok, err := r.l.ClaimIndexes(r.work, r.run.ID, es.Name)
	if err != nil || !ok {
		return
	}
	// The final step does all this again (idempotently); not fatal here.
	t0 := time.Now()
	if err := r.addKey(r.work, es); err != nil {
		r.log.Warn("early primary key failed; will retry at the end", "entity", es.Name, "err", err)
		return
	}
	if es.Spec.Indexes && len(es.Target.Indexes) > 0 {
		if err := es.Sink.Finish(r.work, indexOnly(es), false); err != nil {
			r.log.Warn("early index build failed; will retry at the end", "entity", es.Name, "err", err)
			return
		}
	}
	r.log.Debug("entity copied: keys and indexes built", "entity", es.Name, "took", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	r.earlyForeignKeys(es)
	r.log.Debug("entity copied: foreign keys added", "entity", es.Name, "took", time.Since(t0).Round(time.Millisecond))
}

func (r *runner) addKey(ctx context.Context, es *entityState) error {
	if kd, ok := es.Sink.(sinks.KeyDeferrer); ok {
		return kd.AddKey(ctx, es.Target)
	}
	return nil
}

func indexOnly(es *entityState) *record.Table {
	t := *es.Target
	if !es.Spec.Indexes {
		t.Indexes = nil
	}
	return &t
}

// finish runs the after-data steps once all chunks are done. One process
// does them (advisory lock); the others wait for the run to be marked done.
func (r *runner) finish() error {
	ctx := r.work
	for {
		got, unlock, err := r.l.TryFinishLock(ctx, r.p.Name)
		if err != nil {
			return err
		}
		if got {
			defer unlock()
			break
		}
		st, err := r.l.RunStatus(ctx, r.run.ID, nil)
		if err != nil {
			return err
		}
		if st.RunStatus != "running" {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.stop.Done():
			return nil
		}
	}
	st, err := r.l.RunStatus(ctx, r.run.ID, nil)
	if err != nil {
		return err
	}
	if st.RunStatus != "running" || st.Pending > 0 {
		return nil
	}
	t0 := time.Now()
	for _, es := range r.order {
		if err := r.addKey(ctx, es); err != nil {
			return fmt.Errorf("finish %s: %w", es.Name, err)
		}
		if err := es.Sink.Finish(ctx, indexOnly(es), false); err != nil {
			return fmt.Errorf("finish %s: %w", es.Name, err)
		}
	}
	r.log.Debug("finish: keys and indexes", "took", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	// Foreign keys are validated side by side (see the sink's Finish):
	// each check scans one table.
	g := new(errgroup.Group)
	g.SetLimit(max(2, r.opts.Workers))
	for _, es := range r.order {
		if !es.Spec.ForeignKeys || len(es.Target.ForeignKeys) == 0 {
			continue
		}
		g.Go(func() error {
			if err := es.Sink.Finish(ctx, indexOnly(es), true); err != nil {
				return fmt.Errorf("foreign keys of %s: %w", es.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	r.log.Debug("finish: foreign keys", "took", time.Since(t0).Round(time.Millisecond))
	totals, err := r.l.Totals(ctx, r.run.ID)
	if err != nil {
		return err
	}
	wms := map[string]any{}
	for _, es := range r.order {
		if es.Version == "" {
			continue
		}
		// A backfill leaves the highest version of its planning scan: a
		// row changed behind its cursor has a newer one, so the next
		// catch-up moves it. A catch-up reads in version order and leaves
		// the highest version it moved.
		var wm any
		if es.run.Mode == "backfill" {
			wm = es.run.StartMax
			if r.opts.Until != nil && wm != nil {
				if u := untilValue(es, *r.opts.Until); record.Compare(wm, u) > 0 {
					wm = u
				}
			}
		} else if t := totals[es.Name]; t != nil {
			wm = t.MaxVersion
		}
		prev, err := r.l.Watermark(ctx, r.p.Name, es.Name)
		if err != nil {
			return err
		}
		if wm == nil || (prev != nil && record.Compare(prev, wm) > 0) {
			wm = prev
		}
		if wm != nil {
			wms[es.Name] = wm
		}
	}
	return r.l.FinishRun(ctx, r.run.ID, r.p.Name, wms)
}

func (r *runner) fillResult(res *Result) error {
	ctx := r.final
	totals, err := r.l.Totals(ctx, r.run.ID)
	if err != nil {
		return err
	}
	st, err := r.l.RunStatus(ctx, r.run.ID, nil)
	if err != nil {
		return err
	}
	res.Done = st.RunStatus == "done"
	own, err := r.l.RunStatus(ctx, r.run.ID, r.names)
	if err != nil {
		return err
	}
	res.OwnDone = res.Done || own.Pending == 0
	for _, es := range r.order {
		er := EntityResult{Name: es.Name, Target: es.Spec.ToStore + "." + es.Target.Name, Mode: es.run.Mode, Planned: es.run.Rows, MaxRejects: es.Spec.MaxRejects}
		if t := totals[es.Name]; t != nil {
			er.Read, er.Written, er.Rejected = t.Read, t.Written, t.Rejected
		}
		if er.Rejected > 0 {
			er.Rejects, _, _ = r.l.Rejects(ctx, r.run.ID, es.Name, 5)
		}
		if er.Rejected > int64(er.MaxRejects) {
			res.OverRejects = true
		}
		res.Entities = append(res.Entities, er)
	}
	sort.SliceStable(res.Entities, func(i, j int) bool { return res.Entities[i].Name < res.Entities[j].Name })
	return nil
}

func (r *runner) snapshot() []EntityProgress {
	out := make([]EntityProgress, 0, len(r.order))
	for _, es := range r.order {
		out = append(out, EntityProgress{
			Entity: es.Name, Mode: es.run.Mode, Planned: es.run.Rows,
			Read: es.read.Load(), Written: es.written.Load(), Rejected: es.rejected.Load(),
			Throttled: r.throttled(es),
		})
	}
	return out
}

func (r *runner) reportProgress(done <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r.opts.Progress(r.snapshot())
		}
	}
}
