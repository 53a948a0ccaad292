package feeds_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/feeds/feedverify"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	redissink "github.com/transitdb/transit/sinks/redis"
)

// TestDocIDSameRule: the engine and feedverify render every ID alike, so
// a document the engine wrote is found under the ID verify expects, and
// ParseID turns it back into the key values.
func TestDocIDSameRule(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 30, 0, 500, time.FixedZone("x", 3600))
	for _, vals := range [][]any{
		{int64(42)}, {"plain"}, {"a:b"}, {`back\slash`}, {`:\:`}, {int64(1), "x:y"},
		{ts}, {[]byte("by:tes")}, {nil, int64(3)}, {"", ""}, {float64(1.5)},
	} {
		a, b := feeds.DocID(vals), feedverify.DocID(vals)
		if a != b {
			t.Errorf("%#v: feeds.DocID %q, feedverify.DocID %q", vals, a, b)
		}
	}
	e := newEnv(t, 1, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"
`)
	for _, id := range []string{"7", "123456"} {
		k, err := e.feed.ParseID(id)
		if err != nil || len(k) != 1 || k[0] != mustInt(t, id) || feeds.DocID(k) != id {
			t.Errorf("ParseID(%q) = %#v, %v", id, k, err)
		}
	}
	if _, err := e.feed.ParseID("x"); err == nil {
		t.Error("ParseID of a non-integer id for an int column: no error")
	}
	if _, err := e.feed.ParseID("1:2"); err == nil {
		t.Error("ParseID of two parts for one id column: no error")
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestVerifyBeforeSwitch: a rebuild compares the generation with
// PostgreSQL before the switch and records the outcome; a difference
// blocks the switch with an error naming the counts and the differences.
func TestVerifyBeforeSwitch(t *testing.T) {
	var damage func()
	e := newEnv(t, 50, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"
`, func(o *feeds.Options) {
		o.Verify = func(ctx context.Context, f *feeds.Feed, gen string) error {
			if damage != nil {
				damage()
			}
			return feeds.VerifyBeforeSwitch(ctx, f, gen)
		}
	})
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := e.l.Feed(ctx, e.p.Name, "cust")
	if err != nil || st.LastVerify.IsZero() || !strings.Contains(st.VerifyMsg, "equal") {
		t.Fatalf("a clean verify is not recorded: %+v %v", st, err)
	}
	// Damage the keyspace at every compare (so catching up again cannot
	// mend it): the rebuild must refuse to switch.
	damage = func() {
		e.rdb.HSet(ctx, e.prefix+"c:5", "name", "damaged")
		e.rdb.HSet(ctx, e.prefix+"c:900", "id", "900", "name", "ghost", "_v", "00000000000000000001")
	}
	_, err = e.feed.Rebuild(ctx)
	if !errors.Is(err, feeds.ErrDiffers) {
		t.Fatalf("rebuild of a differing generation: %v", err)
	}
	for _, want := range []string{"50 documents in PostgreSQL, 51 in live", "0 missing, 1 extra, 1 changed", "extra 900", `changed 5 (name "name 5" → "damaged")`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	st, err = e.l.Feed(ctx, e.p.Name, "cust")
	if err != nil || st.RebuildGen == "" || !strings.Contains(st.VerifyMsg, "1 extra, 1 changed") {
		t.Fatalf("the failed verify is not recorded, or the rebuild finished: %+v %v", st, err)
	}
	// Repaired, the same rebuild resumes and switches.
	damage = nil
	rep, err := e.feed.Compare(ctx, redissink.Generation, 10)
	if err != nil || rep.Consistent() {
		t.Fatalf("compare: %v %+v", err, rep)
	}
	for _, id := range rep.RepairIDs() {
		k, err := e.feed.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.feed.Refeed(ctx, redissink.Generation, []record.Key{k}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatalf("resumed rebuild after the repair: %v", err)
	}
}

// TestVerifyBeforeSwitchInFlight: a row changed just before every compare
// (as a steady writer does) makes each compare differ, but only in
// documents the catch-up after it applies: the rebuild switches, records
// how many settled that way, and ends equal to PostgreSQL. A damaged key
// beside such a change is no change in flight: the rebuild still refuses
// and names it.
func TestVerifyBeforeSwitchInFlight(t *testing.T) {
	var before func(n int)
	compares := 0
	e := newEnv(t, 50, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"
`, func(o *feeds.Options) {
		o.Verify = func(ctx context.Context, f *feeds.Feed, gen string) error {
			compares++
			if before != nil {
				before(compares)
			}
			return feeds.VerifyBeforeSwitch(ctx, f, gen)
		}
	})
	ctx := context.Background()
	before = func(n int) {
		testenv.Exec(t, e.url,
			fmt.Sprintf(`UPDATE shop.customer SET name = 'in flight %d' WHERE id = %d`, n, 10+n),
			fmt.Sprintf(`DELETE FROM shop.customer WHERE id = %d`, 40+n),
			fmt.Sprintf(`INSERT INTO shop.customer VALUES (%d, 'new %d', NULL, NULL)`, 100+n, n))
	}
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatalf("rebuild under changes in flight: %v", err)
	}
	if compares != 1 {
		t.Errorf("%d compares, want 1 (the differences settle by the catch-up)", compares)
	}
	st, err := e.l.Feed(ctx, e.p.Name, "cust")
	if err != nil || !strings.Contains(st.VerifyMsg, "equal (3 documents that changed during the compare were applied by the catch-up after it)") {
		t.Fatalf("verify record: %q %v", st.VerifyMsg, err)
	}
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))

	// The same changes, and a key damaged where nothing changed.
	c0 := compares
	inFlight := before
	before = func(n int) {
		inFlight(n)
		e.rdb.HSet(ctx, e.prefix+"c:5", "name", "damaged")
	}
	_, err = e.feed.Rebuild(ctx)
	if !errors.Is(err, feeds.ErrDiffers) || !strings.Contains(err.Error(), `changed 5 (name "name 5" → "damaged")`) {
		t.Fatalf("rebuild with a damaged key: %v", err)
	}
	if compares-c0 != 3 {
		t.Errorf("%d compares, want 3 (a difference no change explains is compared again twice)", compares-c0)
	}
}

// TestVerifyDocuments: the documents form compares through the feed's
// query (run with the store's schema as search_path, unqualified table
// names as the engine runs them) and finds a changed document.
func TestVerifyDocuments(t *testing.T) {
	e := newEnv(t, 20, `    from: main.customer
    to: cache
    key: "PREFIXd:{id}"
    format: json
    documents:
      query: "SELECT c.id, c.name, c.score, (SELECT json_agg(i.total ORDER BY i.id) FROM invoice i WHERE i.customer_id = c.id) AS invoices FROM customer c WHERE c.id = ANY($1)"
      depends_on: { invoice: customer_id }
    id: id`)
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.feed.Compare(ctx, redissink.Generation, 10)
	if err != nil || !rep.Consistent() || rep.Docs != 20 {
		t.Fatalf("after a rebuild: %v %s", err, feeds.Summary(rep, 5))
	}
	testenv.Exec(t, e.url, `UPDATE shop.invoice SET total = total + 1 WHERE customer_id = 3`)
	rep, err = e.feed.Compare(ctx, redissink.Generation, 10)
	if err != nil || rep.Changed != 1 || strings.Join(rep.RepairIDs(), ",") != "3" {
		t.Fatalf("an invoice changed without a stream: %v %s", err, feeds.Summary(rep, 5))
	}
}

// TestVerifyKeyWithoutID: a Redis key under the feed's prefix that holds
// no id field (written by someone else) is reported extra under the ID its
// key names, and re-feeding that ID deletes it.
func TestVerifyKeyWithoutID(t *testing.T) {
	e := newEnv(t, 3, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"
`)
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	e.rdb.HSet(ctx, e.prefix+"c:777", "name", "no id field")
	rep, err := e.feed.Compare(ctx, redissink.Generation, 10)
	if err != nil || rep.Extra != 1 || strings.Join(rep.RepairIDs(), ",") != "777" {
		t.Fatalf("compare: %v %s", err, feeds.Summary(rep, 5))
	}
	k, err := e.feed.ParseID("777")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.feed.Refeed(ctx, redissink.Generation, []record.Key{k}); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.rdb.Exists(ctx, e.prefix+"c:777").Result(); n != 0 {
		t.Fatal("the key without an id field is still there after the repair")
	}
	if rep, err = e.feed.Compare(ctx, redissink.Generation, 10); err != nil || !rep.Consistent() {
		t.Fatalf("after the repair: %v %s", err, feeds.Summary(rep, 5))
	}
}
