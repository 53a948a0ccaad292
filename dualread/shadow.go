package dualread

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/verify"
)

// shadowRecorder compares sampled shadow reads with the new store in the
// background: the answer never waits for it. Reads are queued (a full
// queue drops the sample and counts it), compared field by field through
// verify's canonical encoding, and their counts added to
// transit.shadow_stats every flush interval; differing records go to
// transit.shadow_mismatches, of which the newest keep rows per entity stay.
type shadowRecorder struct {
	r     *Reader
	queue chan shadowRead
	done  chan struct{}
	wg    sync.WaitGroup
	// pending counts the reads queued and not compared yet.
	pending atomic.Int64

	mu                sync.Mutex
	reads, mismatches int64
	found             []mismatch
}

type shadowRead struct {
	keys []record.Key
	old  []*Record
}

type mismatch struct {
	id       string
	fields   []string
	old, new map[string]any
}

func newShadowRecorder(r *Reader) *shadowRecorder {
	s := &shadowRecorder{r: r, queue: make(chan shadowRead, r.opts.shadowQueue), done: make(chan struct{})}
	s.wg.Add(2)
	go s.compareLoop()
	go s.flushLoop()
	return s
}

// offer queues a read for comparison, if it is sampled and there is room.
func (s *shadowRecorder) offer(keys []record.Key, old []*Record) {
	if !s.r.sample() {
		return
	}
	// The caller owns the records it got: compare copies.
	cp := make([]*Record, len(old))
	for i, rec := range old {
		if rec != nil {
			c := *rec
			c.Fields = make(map[string]any, len(rec.Fields))
			for k, v := range rec.Fields {
				c.Fields[k] = v
			}
			cp[i] = &c
		}
	}
	s.pending.Add(1)
	select {
	case s.queue <- shadowRead{keys: keys, old: cp}:
	default:
		s.pending.Add(-1)
		s.r.metrics.shadow.WithLabelValues(s.r.entity, "dropped").Add(float64(len(keys)))
	}
}

func (s *shadowRecorder) compareLoop() {
	defer s.wg.Done()
	for {
		select {
		case sr := <-s.queue:
			s.compare(sr)
		case <-s.done:
			// Compare what is queued already, then stop.
			for {
				select {
				case sr := <-s.queue:
					s.compare(sr)
				default:
					return
				}
			}
		}
	}
}

func (s *shadowRecorder) compare(sr shadowRead) {
	defer s.pending.Add(-1)
	r := s.r
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.opts.timeout)
	defer cancel()
	rows, cols, err := r.getRows(ctx, FromNew, sr.keys)
	if err != nil {
		r.metrics.shadow.WithLabelValues(r.entity, "error").Add(float64(len(sr.keys)))
		r.log.Warn("shadow read of the new store failed", "err", err)
		return
	}
	kc := make([]record.Column, len(r.ent.KeyIdx))
	for i, ix := range r.ent.KeyIdx {
		kc[i] = cols[ix]
	}
	byKey := make(map[string][]any, len(rows))
	for _, row := range rows {
		byKey[canonicalKey(kc, r.rowKey(row))] = row
	}
	var found []mismatch
	for i, k := range sr.keys {
		newRow := byKey[canonicalKey(r.keyCols, k)]
		if m := r.diff(k, sr.old[i], newRow, cols); m != nil {
			found = append(found, *m)
		}
	}
	r.metrics.shadow.WithLabelValues(r.entity, "match").Add(float64(len(sr.keys) - len(found)))
	r.metrics.shadow.WithLabelValues(r.entity, "mismatch").Add(float64(len(found)))
	s.mu.Lock()
	s.reads += int64(len(sr.keys))
	s.mismatches += int64(len(found))
	if room := r.opts.shadowKeep - len(s.found); room > 0 {
		s.found = append(s.found, found[:min(room, len(found))]...)
	}
	s.mu.Unlock()
}

// diff compares the old record with the new row field by field; nil when
// they agree (or both are missing).
func (r *Reader) diff(k record.Key, old *Record, newRow []any, newCols []record.Column) *mismatch {
	if old == nil && newRow == nil {
		return nil
	}
	m := &mismatch{id: idText(k)}
	if old != nil {
		m.old = jsonFields(old.Fields)
	}
	if newRow != nil {
		m.new = map[string]any{}
		for i, v := range newRow {
			m.new[r.newCols[i]] = jsonValue(v)
		}
	}
	switch {
	case old == nil:
		m.fields = []string{"(missing in old)"}
		return m
	case newRow == nil:
		m.fields = []string{"(missing in new)"}
		return m
	}
	var a, b []byte
	for i, name := range r.ent.Read {
		oc := r.ent.From.Column(name)
		a = verify.AppendField(a[:0], *oc, old.Fields[r.newCols[i]])
		b = verify.AppendField(b[:0], newCols[i], newRow[i])
		if string(a) != string(b) {
			m.fields = append(m.fields, r.newCols[i])
		}
	}
	if len(m.fields) == 0 {
		return nil
	}
	return m
}

func jsonFields(f map[string]any) map[string]any {
	out := make(map[string]any, len(f))
	for k, v := range f {
		out[k] = jsonValue(v)
	}
	return out
}

// idText is an ID as text: its value, or its values joined by "/".
func idText(k record.Key) string {
	if len(k) != 1 {
		b, _ := json.Marshal(jsonKey(k))
		return string(b)
	}
	b, _ := json.Marshal(jsonKey(k)[0])
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	return string(b)
}

func (s *shadowRecorder) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.r.opts.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.done:
			return
		}
	}
}

// flush adds the counts gathered since the last flush to the ledger. On
// failure they are kept for the next one.
func (s *shadowRecorder) flush() {
	s.mu.Lock()
	reads, mism, found := s.reads, s.mismatches, s.found
	s.reads, s.mismatches, s.found = 0, 0, nil
	s.mu.Unlock()
	if reads == 0 && len(found) == 0 {
		return
	}
	r := s.r
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.write(ctx, reads, mism, found)
	if err != nil {
		r.log.Warn("recording shadow reads failed; kept for the next flush", "err", err)
		s.mu.Lock()
		s.reads += reads
		s.mismatches += mism
		if room := r.opts.shadowKeep - len(s.found); room > 0 {
			s.found = append(s.found, found[:min(room, len(found))]...)
		}
		s.mu.Unlock()
	}
}

func (s *shadowRecorder) write(ctx context.Context, reads, mism int64, found []mismatch) error {
	r := s.r
	tx, err := r.ledger.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `INSERT INTO transit.shadow_stats (plan, entity, reads, mismatches) VALUES ($1, $2, $3, $4)
		ON CONFLICT (plan, entity) DO UPDATE SET reads = shadow_stats.reads + EXCLUDED.reads,
			mismatches = shadow_stats.mismatches + EXCLUDED.mismatches, updated_at = now()`,
		r.plan.Name, r.entity, reads, mism); err != nil {
		return err
	}
	for _, m := range found {
		fields, _ := json.Marshal(m.fields)
		var old, nw []byte
		if m.old != nil {
			old, _ = json.Marshal(m.old)
		}
		if m.new != nil {
			nw, _ = json.Marshal(m.new)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO transit.shadow_mismatches (plan, entity, id, fields, old, new) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.plan.Name, r.entity, m.id, fields, nullBytes(old), nullBytes(nw)); err != nil {
			return err
		}
	}
	if len(found) > 0 {
		// Bounded: keep the newest shadowKeep rows of this entity.
		if _, err := tx.Exec(ctx, `DELETE FROM transit.shadow_mismatches WHERE ctid IN (
				SELECT ctid FROM transit.shadow_mismatches WHERE plan = $1 AND entity = $2
				ORDER BY seen_at DESC OFFSET $3)`, r.plan.Name, r.entity, r.opts.shadowKeep); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// close compares what is queued, writes the last counts and stops.
func (s *shadowRecorder) close() {
	close(s.done)
	s.wg.Wait()
	s.flush()
}

// Flush compares the shadow reads queued so far and writes the counts to
// the ledger now (tests, and before a gate is checked by hand).
func (r *Reader) Flush() {
	for r.shadow.pending.Load() > 0 {
		select {
		case <-r.shadow.done:
			r.shadow.flush()
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	r.shadow.flush()
}
