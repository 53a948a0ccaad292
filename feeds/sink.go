package feeds

import (
	"context"
	"fmt"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sinks/doc"
)

// docSink lets port's engine write a feed generation: it is a sinks.Sink
// whose batches become documents of generation gen with one version (the
// rebuild slot's consistent point).
type docSink struct {
	f       *Feed
	gen     string
	version uint64
	plain   PlainWriter // set for an initial build (see plainSafe)
}

var _ sinks.Sink = (*docSink)(nil)

func (s *docSink) Prepare(ctx context.Context, _ *record.Table, _ bool) (bool, error) {
	return false, s.f.Target.Create(ctx, s.gen)
}

// Write turns b's rows into documents: a row is a document (table form),
// or the rows' IDs render documents through the feed's query. A rejected
// document is reported against the row it came from.
func (s *docSink) Write(ctx context.Context, t *record.Table, b *record.Batch, _ sinks.WriteOptions) (sinks.WriteResult, error) {
	idx := make([]int, len(s.f.id))
	for i, k := range s.f.id {
		idx[i] = -1
		for j, c := range b.Columns {
			if c.Name == k {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return sinks.WriteResult{}, fmt.Errorf("feed %s: batch lacks id column %q", s.f.Name(), k)
		}
	}
	// rowOf maps a document's ID to its row, for the documents form
	// (the table form's document i is row i).
	var rowOf map[string]int
	var docs []doc.Doc
	if s.f.Spec.Documents == nil {
		docs = make([]doc.Doc, 0, len(b.Rows))
		for _, row := range b.Rows {
			fields := make(map[string]any, len(b.Columns))
			for j, c := range b.Columns {
				fields[c.Name] = row[j]
			}
			docs = append(docs, doc.Doc{ID: s.f.docID(fields), Fields: fields, Version: s.version})
		}
	} else {
		rowOf = make(map[string]int, len(b.Rows))
		ids := make([]record.Key, len(b.Rows))
		for r, row := range b.Rows {
			k := make(record.Key, len(idx))
			for i, j := range idx {
				k[i] = row[j]
			}
			ids[r] = k
			rowOf[DocID(k)] = r
		}
		var err error
		if docs, err = s.f.render(ctx, ids, s.version); err != nil {
			return sinks.WriteResult{}, err
		}
	}
	write := s.f.Target.Write
	if s.plain != nil && !hasDelete(docs) {
		write = s.plain.WritePlain
	}
	res, err := write(ctx, s.gen, docs)
	if err != nil {
		return sinks.WriteResult{}, err
	}
	out := sinks.WriteResult{Written: res.Written + res.Skipped}
	for _, rj := range res.Rejects {
		row := 0
		if rj.Row >= 0 && rj.Row < len(docs) {
			row = rj.Row
			if rowOf != nil {
				row = rowOf[docs[rj.Row].ID]
			}
		}
		out.Rejects = append(out.Rejects, sinks.Reject{Row: row, Reason: fmt.Sprintf("document %s: %s", docIDOf(docs, rj.Row), rj.Reason)})
	}
	return out, nil
}

// hasDelete says whether docs hold a delete (a documents query that
// renders nothing for an id), which only the versioned Write can apply.
func hasDelete(docs []doc.Doc) bool {
	for _, d := range docs {
		if d.Delete {
			return true
		}
	}
	return false
}

func docIDOf(docs []doc.Doc, i int) string {
	if i >= 0 && i < len(docs) {
		return docs[i].ID
	}
	return "?"
}

func (s *docSink) Finish(context.Context, *record.Table, bool) error { return nil }
func (s *docSink) Close() error                                      { return nil }
