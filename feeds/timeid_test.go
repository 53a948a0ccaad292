package feeds_test

import (
	"context"
	"testing"

	"github.com/transitdb/transit/feeds"
	redissink "github.com/transitdb/transit/sinks/redis"
)

// TestVerifyTimestampID: a feed whose id is a timestamp column, in the
// plain and in the documents form, verifies clean after a rebuild: the
// engine and verify render the time in the ID alike.
func TestVerifyTimestampID(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"plain", `    from: main.event
    to: cache
    key: "PREFIXe:{at}"
    id: at
`},
		{"documents", `    from: main.event
    to: cache
    key: "PREFIXd:{at}"
    format: json
    documents:
      query: "SELECT e.at, e.note, e.local FROM event e WHERE e.at = ANY($1)"
    id: at
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, 1, tc.yaml, []string{`CREATE TABLE shop.event (at timestamptz PRIMARY KEY, note text, local timestamp)`,
				`INSERT INTO shop.event SELECT timestamptz '2024-03-01 12:00:00.123456+02' + g * interval '1 minute 0.5 seconds', 'n'||g, timestamp '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 30) g`})
			ctx := context.Background()
			if _, err := e.feed.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err := e.feed.Compare(ctx, redissink.Generation, 10)
			if err != nil || !rep.Consistent() || rep.Docs != 30 {
				t.Fatalf("after a rebuild: %v %s", err, feeds.Summary(rep, 5))
			}
		})
	}
}
