package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/stores"
	"github.com/transitdb/transit/verify"
)

// deletesHelp is the part of `transit run --help` about --deletes.
const deletesHelp = `
--deletes: after the run, delete from each entity's target the records whose
key the source no longer holds (deleted in the old store, or never there),
so the new store converges on the old one. Keys are compared chunk by chunk
with verify's key hashing (inside the database on PostgreSQL and
MySQL/MariaDB, streamed for SQLite and files); only chunks that differ are
narrowed, so memory stays flat whatever the table's size. Each key is looked
up in the source once more right before it is deleted. Counts per entity go
to the output and to the ledger (transit.deletes). Idempotent: after a kill
the next run --deletes finishes the job.`

// deletesResult is what a --deletes pass did to one entity.
type deletesResult struct {
	Entity string
	Target string
	Rep    *verify.OnlyInNewReport
	Prior  []port.UnfinishedDeletes
}

func countsOf(r *verify.OnlyInNewReport) port.DeleteCounts {
	return port.DeleteCounts{RowsOld: r.RowsOld, RowsNew: r.RowsNew, Chunks: r.Chunks, ChunksDiffering: r.ChunksDiffering,
		Found: r.Found, Kept: r.Kept, Deleted: r.Deleted}
}

// checkDeletes refuses --deletes up front for a target that cannot delete.
func checkDeletes(ents []*port.Entity) error {
	for _, e := range ents {
		if e.Target == nil {
			continue
		}
		if err := port.CanDelete(e); err != nil {
			return fmt.Errorf("--deletes: %w", err)
		}
	}
	return nil
}

// runDeletes deletes from each routed entity's target the keys only it
// holds, recording each pass in the ledger (pool). It stops at the first
// entity that fails, returning the results so far.
func runDeletes(ctx context.Context, set *stores.Set, ents []*port.Entity, pool *pgxpool.Pool, planName string, runID int64,
	prog *deletesProgress, log *slog.Logger) ([]deletesResult, error) {
	var out []deletesResult
	for _, e := range ents {
		if e.Target == nil {
			continue
		}
		res, err := deleteEntity(ctx, set, e, pool, planName, runID, prog, log)
		if res.Rep != nil {
			out = append(out, res)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func deleteEntity(ctx context.Context, set *stores.Set, e *port.Entity, pool *pgxpool.Pool, planName string, runID int64,
	prog *deletesProgress, log *slog.Logger) (deletesResult, error) {
	res := deletesResult{Entity: e.Name, Target: e.Spec.ToStore + "." + e.Target.Name}
	old, nw, err := verifySides(ctx, set, e)
	if err != nil {
		return res, err
	}
	dl, err := port.StartDeletes(ctx, pool, planName, e.Name, runID)
	if err != nil {
		return res, err
	}
	res.Prior = dl.Unfinished
	for _, u := range dl.Unfinished {
		log.Warn("an earlier --deletes pass did not finish (killed, or running elsewhere); this pass finishes its work",
			"entity", e.Name, "pass", u.ID, "started", u.Started, "last_seen", u.LastSeen, "deleted", u.Deleted)
	}
	opts := verify.OnlyInNewOptions{
		Entity: e.Name,
		Delete: func(ctx context.Context, keys []record.Key) (int, error) {
			n, err := port.DeleteKeys(ctx, e, keys)
			if n > 0 {
				if lerr := dl.Deleted(context.WithoutCancel(ctx), n); lerr != nil {
					log.Warn("deletes progress not kept in the ledger", "entity", e.Name, "err", lerr)
				}
			}
			return n, err
		},
	}
	opts.Progress = func(p verify.OnlyInNewProgress) {
		prog.update(p)
		c := port.DeleteCounts{RowsOld: p.RowsOld, RowsNew: p.RowsNew, Chunks: p.Chunks, Found: p.Found}
		if err := dl.Update(ctx, c); err != nil && ctx.Err() == nil {
			log.Warn("deletes progress not kept in the ledger", "entity", e.Name, "err", err)
		}
	}
	rep, err := verify.OnlyInNew(ctx, old, nw, opts)
	prog.done(e.Name)
	res.Rep = rep
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	perr := err
	if err != nil && ctx.Err() != nil {
		perr = errors.Join(ctx.Err(), err) // recorded as interrupted
	}
	if ferr := dl.Finish(fctx, countsOf(rep), perr); ferr != nil {
		log.Warn("deletes result not kept in the ledger", "entity", e.Name, "err", ferr)
	}
	return res, err
}

// deletesProgress shows a long --deletes pass: a line rewritten in place on
// a terminal, a line every few seconds otherwise, a JSON object per second
// with --output json.
type deletesProgress struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	tty   bool
	every time.Duration
	last  time.Time
	start time.Time
	drawn bool
}

func newDeletesProgress(stderr, stdout io.Writer, jsonOut bool) *deletesProgress {
	p := &deletesProgress{w: stderr, json: jsonOut, tty: isTTY(stderr) && !jsonOut, every: 2 * time.Second, start: time.Now()}
	if jsonOut {
		p.w, p.every = stdout, time.Second
	}
	if p.tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

func (p *deletesProgress) update(x verify.OnlyInNewProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < p.every && x.Done < x.Chunks {
		return
	}
	if p.last.IsZero() && x.Done == x.Chunks && time.Since(p.start) < p.every {
		return // short work: the summary says it all
	}
	p.last = time.Now()
	if p.json {
		line, _ := json.Marshal(map[string]any{"event": "deletes_progress", "entity": x.Entity, "chunks": x.Chunks,
			"chunks_done": x.Done, "rows_old": x.RowsOld, "rows_new": x.RowsNew, "found": x.Found, "deleted": x.Deleted})
		fmt.Fprintf(p.w, "%s\n", line)
		return
	}
	msg := fmt.Sprintf("deletes %s: chunk %d/%d, %d rows compared, %d only in new, %d deleted",
		x.Entity, x.Done, x.Chunks, max(x.RowsOld, x.RowsNew), x.Found, x.Deleted)
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[2K%s", msg)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, msg)
}

func (p *deletesProgress) done(string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.drawn = false
	}
	p.last = time.Time{}
	p.start = time.Now()
}

// writeDeletes reports what --deletes did, per entity.
func writeDeletes(w io.Writer, res []deletesResult, jsonOut bool) {
	if jsonOut {
		for _, r := range res {
			line, _ := json.Marshal(map[string]any{"event": "deletes", "entity": r.Entity, "target": r.Target,
				"rows_old": r.Rep.RowsOld, "rows_new": r.Rep.RowsNew, "chunks": r.Rep.Chunks,
				"chunks_differing": r.Rep.ChunksDiffering, "chunks_hashed": r.Rep.ChunksHashed,
				"leaves_fetched": r.Rep.LeavesFetched, "found": r.Rep.Found, "kept": r.Rep.Kept,
				"deleted": r.Rep.Deleted, "old_pushdown": r.Rep.OldPushdown, "new_pushdown": r.Rep.NewPushdown,
				"unfinished_before": len(r.Prior), "elapsed_s": r.Rep.Elapsed.Seconds()})
			fmt.Fprintf(w, "%s\n", line)
		}
		return
	}
	if len(res) == 0 {
		return
	}
	fmt.Fprintln(w, "\ndeletes: records only the target held")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "entity\ttarget\trows old\trows new\tchunks differing\tdeleted\tkept\ttook")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d/%d\t%d\t%d\t%s\n", r.Entity, r.Target, r.Rep.RowsOld, r.Rep.RowsNew,
			r.Rep.ChunksDiffering, r.Rep.Chunks, r.Rep.Deleted, r.Rep.Kept, r.Rep.Elapsed.Round(time.Millisecond))
	}
	tw.Flush()
	for _, r := range res {
		if r.Rep.Kept > 0 {
			fmt.Fprintf(w, "%s: %d keys looked absent from the source but were there on a second look (written meanwhile): kept\n",
				r.Entity, r.Rep.Kept)
		}
		if !r.Rep.Confirmed {
			fmt.Fprintf(w, "%s: the source cannot be asked by ID: keys were deleted without a second look\n", r.Entity)
		}
	}
}
