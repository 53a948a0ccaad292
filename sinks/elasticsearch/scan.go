package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/transitdb/transit/sinks/doc"
)

// Scan reads every document of gen through a point in time, in pages of
// PageSize sorted on IDField with search_after, and calls fn with each
// page. It refreshes gen first, so the scan sees every write made before
// it (a generation being loaded has refresh off). Doc.Fields is the stored _source (decoded JSON; numbers as
// json.Number) without IDField; Doc.Version is the stored external
// version. The point in time is closed at the end, also on failure.
func (t *Target) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) (err error) {
	if err := t.checkGen(gen); err != nil {
		return err
	}
	// A generation being loaded has refresh off: without a refresh the
	// point in time would miss every write since the last one.
	if _, _, err := t.call(ctx, "refresh "+gen, func() esapi.Request {
		return esapi.IndicesRefreshRequest{Index: []string{gen}}
	}); err != nil {
		return err
	}
	_, body, err := t.call(ctx, "open point in time on "+gen, func() esapi.Request {
		return esapi.OpenPointInTimeRequest{Index: []string{gen}, KeepAlive: DefaultKeepAlive}
	})
	if err != nil {
		return err
	}
	var open struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &open); err != nil || open.ID == "" {
		return fmt.Errorf("elasticsearch open point in time on %s: no id in the answer %.200s", gen, body)
	}
	pitID := open.ID
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		b, _ := json.Marshal(map[string]string{"id": pitID})
		_, _, cerr := t.call(cctx, "close point in time on "+gen, func() esapi.Request {
			return esapi.ClosePointInTimeRequest{Body: bytes.NewReader(b)}
		}, 404)
		if cerr != nil {
			t.log.Warn("could not close a point in time; it expires by itself", "index", gen, "keep_alive", DefaultKeepAlive, "err", cerr)
		}
	}()
	var after []any
	for page := 1; ; page++ {
		req := map[string]any{
			"size":             t.cfg.PageSize,
			"pit":              map[string]any{"id": pitID, "keep_alive": DefaultKeepAlive},
			"sort":             []any{map[string]any{IDField: map[string]any{"order": "asc"}}},
			"version":          true,
			"track_total_hits": false,
		}
		if after != nil {
			req["search_after"] = after
		}
		rb, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("elasticsearch scan %s: %w", gen, err)
		}
		_, body, err := t.call(ctx, fmt.Sprintf("scan %s (page %d)", gen, page), func() esapi.Request {
			return esapi.SearchRequest{Body: bytes.NewReader(rb)}
		})
		if err != nil {
			return err
		}
		var r struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					ID      string         `json:"_id"`
					Version json.Number    `json:"_version"`
					Source  map[string]any `json:"_source"`
					Sort    []any          `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("elasticsearch scan %s: decode page %d: %w", gen, page, err)
		}
		if r.PitID != "" {
			pitID = r.PitID
		}
		hits := r.Hits.Hits
		if len(hits) == 0 {
			return nil
		}
		docs := make([]doc.Doc, len(hits))
		for i, h := range hits {
			v, err := strconv.ParseUint(h.Version.String(), 10, 64)
			if err != nil {
				return fmt.Errorf("elasticsearch scan %s: document %q has version %q: %w", gen, h.ID, h.Version, err)
			}
			delete(h.Source, IDField)
			docs[i] = doc.Doc{ID: h.ID, Fields: h.Source, Version: v}
		}
		if err := fn(docs); err != nil {
			return err
		}
		if len(hits) < t.cfg.PageSize {
			return nil
		}
		after = hits[len(hits)-1].Sort
	}
}
