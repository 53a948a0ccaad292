package dualread

import (
	"context"
	"fmt"
	"time"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// OnDemandRunID is the run_id of the rejects of on-demand ports in
// transit.rejects: they belong to no run.
const OnDemandRunID = ledger.NoRun

// port writes one row read from the old store into the new one through the
// write path of `transit run`: the entity's sink, with the entity's version
// column, so the upsert never replaces a newer row (a catch-up batch that
// wrote the same record meanwhile wins). A row the sink refuses is recorded
// in transit.rejects, as a run records its rejects.
func (r *Reader) port(ctx context.Context, row []any) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	opts := sinks.WriteOptions{}
	if r.ent.Version != "" {
		opts.Version = r.ent.TargetName(r.ent.Version)
	}
	batch := &record.Batch{Columns: r.ent.Target.Columns, Rows: [][]any{row}}
	var res sinks.WriteResult
	err := r.through(ctx, r.newB, func(ctx context.Context) error {
		if err := r.newB.Rows(ctx, 1); err != nil {
			return err
		}
		var err error
		res, err = r.ent.Sink.Write(ctx, r.ent.Target, batch, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("port %s: write: %w", r.entity, err)
	}
	if len(res.Rejects) > 0 {
		r.metrics.rejects.WithLabelValues(r.entity).Inc()
		if err := r.reject(ctx, row, res.Rejects[0].Reason); err != nil {
			return fmt.Errorf("port %s: record reject: %w", r.entity, err)
		}
		return fmt.Errorf("port %s: the new store refused the record: %s", r.entity, res.Rejects[0].Reason)
	}
	r.metrics.ports.WithLabelValues(r.entity).Inc()
	return nil
}

// reject records a refused row in transit.rejects, as a run does (key and
// payload as JSON), under run_id OnDemandRunID.
func (r *Reader) reject(ctx context.Context, row []any, reason string) error {
	payload := make(map[string]any, len(row))
	for i, v := range row {
		payload[r.newCols[i]] = jsonValue(v)
	}
	return ledger.InsertReject(ctx, r.ledger, OnDemandRunID, r.entity, jsonKey(r.rowKey(row)), reason, payload)
}

func jsonKey(k record.Key) record.Key {
	out := make(record.Key, len(k))
	for i, v := range k {
		switch v.(type) {
		case nil, int64, uint64, float64, string, bool, []byte, time.Time:
			out[i] = v
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// jsonValue makes v fit JSON: an Invalid shows its reason and raw text.
func jsonValue(v any) any {
	if x, ok := v.(record.Invalid); ok {
		return map[string]string{"invalid": x.Reason, "raw": x.Raw}
	}
	return v
}
