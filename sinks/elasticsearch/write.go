package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sinks/doc"
)

// item is one encoded bulk action.
type item struct {
	row   int    // index in the docs given to Write
	lines []byte // action line, and source line for an index
}

// Write stores docs into gen with the bulk API, versioned
// (version_type=external_gte, version = Doc.Version), in requests of at
// most BulkDocs documents and BulkBytes bytes.
//
// Outcomes per document: stored or deleted (also a delete of a missing
// document, which leaves a tombstone) → Written; a 409 version conflict
// (gen holds a newer version) → Skipped; refused for itself (a mapping
// error, document_parsing_exception, a value JSON cannot hold) → a Reject
// with the reason; refused for load (an item 429) → sent again, alone with
// the other refused items, with backoff. A whole request refused for a
// transient reason is sent again too. gen must exist (Create): like any
// bulk request, a write into a missing index lets Elasticsearch create it
// with dynamic mapping when the cluster allows auto-creation (the default),
// so never write into a generation after Drop. An error means the call failed
// (retries spent, a permanent failure, ctx done); writing the same docs
// again is safe.
func (t *Target) Write(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	var res doc.Result
	if err := t.checkGen(gen); err != nil {
		return res, err
	}
	if len(docs) == 0 {
		return res, nil
	}
	if err := t.cfg.Border.Rows(ctx, len(docs)); err != nil {
		return res, err
	}
	var (
		buf   []byte
		items []item
		keys  []string
		size  int
	)
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		err := t.bulk(ctx, gen, items, &res)
		items, buf, size = items[:0], nil, 0
		return err
	}
	for i := range docs {
		start := len(buf)
		var err error
		buf, err = t.appendItem(buf, &docs[i], keys)
		if err != nil {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: "document " + quoteID(docs[i].ID) + ": " + err.Error()})
			continue
		}
		n := len(buf) - start
		if len(items) > 0 && (len(items) >= t.cfg.BulkDocs || size+n > t.cfg.BulkBytes) {
			line := append([]byte(nil), buf[start:]...)
			buf = buf[:start]
			if err := flush(); err != nil {
				return res, err
			}
			buf = line
			start = 0
		}
		items = append(items, item{row: i, lines: buf[start:len(buf):len(buf)]})
		size += n
	}
	if err := flush(); err != nil {
		return res, err
	}
	sort.Slice(res.Rejects, func(a, b int) bool { return res.Rejects[a].Row < res.Rejects[b].Row })
	return res, nil
}

func quoteID(id string) string { return fmt.Sprintf("%q", id) }

// bulkItem is one entry of a bulk answer's items (under its action key).
type bulkItem struct {
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Result string `json:"result"`
	Error  *cause `json:"error"`
}

// bulk sends items in one request, and again those refused for load.
func (t *Target) bulk(ctx context.Context, gen string, items []item, res *doc.Result) error {
	op := "bulk into " + gen
	var bo backoff.BackOff
	for round := 1; ; round++ {
		size := 0
		for _, it := range items {
			size += len(it.lines)
		}
		body := make([]byte, 0, size)
		for _, it := range items {
			body = append(body, it.lines...)
		}
		_, answer, err := t.call(ctx, op, func() esapi.Request {
			return esapi.BulkRequest{Index: gen, Body: bytes.NewReader(body)}
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge && len(items) == 1 {
				res.Rejects = append(res.Rejects, sinks.Reject{Row: items[0].row,
					Reason: fmt.Sprintf("document is too large for one bulk request (%d bytes): %s", size, e.Reason)})
				return nil
			}
			return err
		}
		var r struct {
			Items []map[string]bulkItem `json:"items"`
		}
		if err := json.Unmarshal(answer, &r); err != nil {
			return fmt.Errorf("elasticsearch %s: decode the answer: %w", op, err)
		}
		if len(r.Items) != len(items) {
			return fmt.Errorf("elasticsearch %s: %d items sent, %d answered", op, len(items), len(r.Items))
		}
		var again []item
		for k, m := range r.Items {
			var action string
			var it bulkItem
			for a, v := range m {
				action, it = a, v
			}
			switch {
			case it.Error == nil && it.Status < 300:
				res.Written++
			case it.Error == nil && action == "delete" && it.Status == http.StatusNotFound:
				res.Written++ // nothing to delete; the tombstone holds the version
			case it.Status == http.StatusConflict && it.Error != nil && it.Error.Type == "version_conflict_engine_exception":
				res.Skipped++
			case it.Status == http.StatusTooManyRequests || it.Status == http.StatusServiceUnavailable ||
				it.Status == http.StatusBadGateway || it.Status == http.StatusGatewayTimeout:
				again = append(again, items[k])
			default:
				reason := fmt.Sprintf("status %d", it.Status)
				if it.Error != nil {
					reason = it.Error.Type + ": " + it.Error.text()
				}
				res.Rejects = append(res.Rejects, sinks.Reject{Row: items[k].row,
					Reason: "document " + quoteID(it.ID) + " refused by Elasticsearch: " + reason})
			}
		}
		if len(again) == 0 {
			return nil
		}
		if bo == nil {
			bo = t.newBackoff(ctx)
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			if ctx.Err() != nil {
				return fmt.Errorf("elasticsearch %s: %w (%d documents still refused for load)", op, ctx.Err(), len(again))
			}
			return fmt.Errorf("elasticsearch %s: %d documents still refused for load after %d rounds (Elasticsearch answered 429 for them)", op, len(again), round)
		}
		t.log.Warn("elasticsearch refused documents for load, sending them again", "op", op, "documents", len(again), "round", round, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("elasticsearch %s: %w (%d documents still refused for load)", op, ctx.Err(), len(again))
		}
		items = again
	}
}
