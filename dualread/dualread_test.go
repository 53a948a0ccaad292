package dualread

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/transitdb/transit/record"
)

func TestPhasesOldAndNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 50, false)
	f.run(t)
	ph := &phases{}
	r := f.open(t, "orders", ph)
	ctx := context.Background()
	if _, err := f.db.Exec(`UPDATE orders SET customer = 'changed in old' WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	rec, err := r.Get(ctx, "7")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Source != FromOld || rec.Fields["customer"] != "changed in old" {
		t.Fatalf("phase old: got %+v", rec)
	}
	if rec.Fields["amount"] != "8.75" {
		t.Errorf("amount = %#v, want \"8.75\"", rec.Fields["amount"])
	}
	ph.set("orders", PhaseNew)
	rec, err = r.Get(ctx, int64(7))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Source != FromNew || rec.Fields["customer"] != "customer 7" {
		t.Fatalf("phase new: got %+v", rec)
	}
	if _, err := r.Get(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Get(ctx, "x"); err == nil {
		t.Fatal("a non-numeric ID of a BIGINT key was accepted")
	}
	// GetMany keeps the order of the IDs and leaves missing ones nil.
	recs, err := r.GetMany(ctx, []record.Key{{3}, {999}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0] == nil || recs[0].Fields["id"] != int64(3) || recs[1] != nil || recs[2] == nil || recs[2].Fields["id"] != int64(1) {
		t.Fatalf("GetMany: %+v", recs)
	}
}

func TestCompositeID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5, false)
	f.run(t)
	ph := &phases{}
	r := f.open(t, "lines", ph)
	for _, phase := range []string{PhaseOld, PhaseNew} {
		ph.set("lines", phase)
		rec, err := r.Get(context.Background(), "1", "2")
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if rec.Fields["sku"] != "b" {
			t.Fatalf("%s: got %+v", phase, rec)
		}
		if _, err := r.Get(context.Background(), 1); err == nil {
			t.Fatalf("%s: a one-value ID of a two-column key was accepted", phase)
		}
	}
}

// TestShadowRecordsExactlyTheMismatches: three records made to differ in
// the new store (a changed field, a NULL, a missing row) are exactly the
// mismatches recorded, with their fields; counts reach shadow_stats.
func TestShadowRecordsExactlyTheMismatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 50, false)
	f.run(t)
	f.pg(t, `UPDATE shop.orders SET customer = 'tampered' WHERE id = 4`,
		`UPDATE shop.orders SET amount = NULL, note = 'x' WHERE id = 9`,
		`DELETE FROM shop.orders WHERE id = 13`)
	ph := &phases{}
	ph.set("orders", PhaseShadow)
	r := f.open(t, "orders", ph, WithShadowFlush(time.Hour))
	ctx := context.Background()
	for id := 1; id <= 20; id++ {
		rec, err := r.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Source != FromOld {
			t.Fatalf("shadow answered from %s", rec.Source)
		}
	}
	r.Flush()
	if n := f.pgInt(t, `SELECT reads FROM transit.shadow_stats WHERE entity = 'orders'`); n != 20 {
		t.Errorf("shadow reads = %d, want 20", n)
	}
	if n := f.pgInt(t, `SELECT mismatches FROM transit.shadow_stats WHERE entity = 'orders'`); n != 3 {
		t.Errorf("shadow mismatches = %d, want 3", n)
	}
	got := map[string]string{}
	rows := queryStrings(t, f.purl, `SELECT id, fields::text FROM transit.shadow_mismatches WHERE entity = 'orders' ORDER BY id`)
	for _, row := range rows {
		got[row[0]] = row[1]
	}
	want := map[string]string{"13": `["(missing in new)"]`, "4": `["customer"]`, "9": `["amount", "note"]`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mismatches = %v, want %v", got, want)
	}
	if v := value(r.metrics.shadow.WithLabelValues("orders", "mismatch")); v != 3 {
		t.Errorf("mismatch metric = %v", v)
	}
}

// TestShadowBounded: at most keep mismatch rows stay per entity.
func TestShadowBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30, false)
	f.run(t)
	f.pg(t, `UPDATE shop.orders SET customer = 'tampered'`)
	ph := &phases{}
	ph.set("orders", PhaseShadow)
	r := f.open(t, "orders", ph, WithShadow(1, 5), WithShadowFlush(time.Hour))
	for round := 0; round < 2; round++ {
		for id := 1; id <= 30; id++ {
			if _, err := r.Get(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
		r.Flush()
	}
	if n := f.pgInt(t, `SELECT count(*) FROM transit.shadow_mismatches WHERE entity = 'orders'`); n != 5 {
		t.Errorf("kept %d mismatch rows, want 5", n)
	}
	if n := f.pgInt(t, `SELECT mismatches FROM transit.shadow_stats WHERE entity = 'orders'`); n != 60 {
		t.Errorf("counted %d mismatches, want 60", n)
	}
}

// TestMigratingPortsMisses: in migrating, records deleted from the new
// store are answered from the old one and ported; the next read finds
// them in the new store.
func TestMigratingPortsMisses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 50, false)
	f.run(t)
	f.pg(t, `DELETE FROM shop.orders WHERE id BETWEEN 21 AND 40`)
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	r := f.open(t, "orders", ph)
	ctx := context.Background()
	for id := 21; id <= 40; id++ {
		rec, err := r.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Source != FromOld || !rec.Ported || rec.Fields["customer"] != fmt.Sprintf("customer %d", id) {
			t.Fatalf("id %d: %+v", id, rec)
		}
	}
	if n := f.pgInt(t, `SELECT count(*) FROM shop.orders`); n != 50 {
		t.Fatalf("new store has %d rows after the ports, want 50", n)
	}
	// The ported row is the old one, field for field.
	var a, b string
	if err := f.db.QueryRow(`SELECT CONCAT_WS('|', customer, amount, COALESCE(note, 'NULL'), DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f')) FROM orders WHERE id = 25`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	b = queryStrings(t, f.purl, `SELECT concat_ws('|', customer, amount, COALESCE(note, 'NULL'), to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.US')) FROM shop.orders WHERE id = 25`)[0][0]
	if a != b {
		t.Fatalf("ported row %q, old row %q", b, a)
	}
	rec, err := r.Get(ctx, 30)
	if err != nil || rec.Source != FromNew || rec.Ported {
		t.Fatalf("second read: %+v, %v", rec, err)
	}
	if v := value(r.metrics.ports.WithLabelValues("orders")); v != 20 {
		t.Errorf("ports = %v, want 20", v)
	}
}

// TestNegativeCache: a record in neither store is not looked for again
// until the negative TTL has passed.
func TestNegativeCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10, false)
	f.run(t)
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	r := f.open(t, "orders", ph, WithNegativeTTL(400*time.Millisecond))
	ctx := context.Background()
	if _, err := r.Get(ctx, 500); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if _, err := f.db.Exec(`INSERT INTO orders VALUES (500, 'late', 1, NULL, NOW(6))`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, 500); !errors.Is(err, ErrNotFound) {
		t.Fatalf("within the TTL: err = %v, want ErrNotFound (cached)", err)
	}
	if v := value(r.metrics.negative.WithLabelValues("orders")); v != 1 {
		t.Errorf("negative hits = %v, want 1", v)
	}
	time.Sleep(450 * time.Millisecond)
	rec, err := r.Get(ctx, 500)
	if err != nil || !rec.Ported {
		t.Fatalf("after the TTL: %+v, %v", rec, err)
	}
}

// TestConcurrentMissesCollapse: 50 readers missing the same ID in the new
// store make one fallback read and one port. The old store is stalled
// until all 50 have missed, so none can find the record already ported.
func TestConcurrentMissesCollapse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10, true)
	f.run(t)
	f.pg(t, `DELETE FROM shop.orders WHERE id = 3`)
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	r := f.open(t, "orders", ph, WithTimeout(10*time.Second))
	ctx := context.Background()
	if _, err := r.Get(ctx, 1); err != nil { // warm the old store's connection pool
		t.Fatal(err)
	}
	f.proxy.Stall()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := r.Get(ctx, 3)
			if err == nil && rec.Fields["customer"] != "customer 3" {
				err = fmt.Errorf("got %+v", rec)
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for value(r.metrics.fallbacks.WithLabelValues("orders")) < 50 {
		if time.Now().After(deadline) {
			t.Fatal("the 50 readers did not all miss")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.proxy.Resume()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v := value(r.metrics.ports.WithLabelValues("orders")); v != 1 {
		t.Fatalf("ports = %v, want 1", v)
	}
}

// TestDegradedWhenOldStoreDown: in migrating, with the old store stalled,
// records in the new store are still answered and misses are ErrDegraded,
// quickly once the breaker is open.
func TestDegradedWhenOldStoreDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20, true)
	f.run(t)
	f.pg(t, `DELETE FROM shop.orders WHERE id > 10`)
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	// A deadline long enough for a cold connection on a loaded machine;
	// the breaker makes the wait short anyway once it opens.
	r := f.open(t, "orders", ph, WithTimeout(2*time.Second), WithBreaker(2, time.Minute))
	ctx := context.Background()
	if _, err := r.GetMany(ctx, []record.Key{{1}, {2}}); err != nil { // open the connections first
		t.Fatal(err)
	}
	f.proxy.Stall()
	for id := 11; id <= 20; id++ {
		t0 := time.Now()
		_, err := r.Get(ctx, id)
		if !errors.Is(err, ErrDegraded) {
			t.Fatalf("id %d: err = %v, want ErrDegraded", id, err)
		}
		if id > 13 && time.Since(t0) > 500*time.Millisecond {
			t.Errorf("id %d: degraded answer took %v with the breaker open", id, time.Since(t0))
		}
		rec, err := r.Get(ctx, id-10)
		if err != nil || rec.Source != FromNew {
			t.Fatalf("id %d in the new store: %+v, %v", id-10, rec, err)
		}
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestPortRejectRecorded: a record the new store refuses (a MariaDB zero
// date) is still answered from the old store, and the refusal is recorded
// in transit.rejects as a run records its rejects (run_id 0: no run).
func TestPortRejectRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5, false)
	f.run(t)
	if _, err := f.db.Exec(`SET SESSION sql_mode = ''; INSERT INTO orders VALUES (9001, 'zero date', 1, NULL, '0000-00-00 00:00:00')`); err != nil {
		t.Fatal(err)
	}
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	r := f.open(t, "orders", ph)
	rec, err := r.Get(context.Background(), 9001)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Source != FromOld || rec.Ported || rec.Fields["customer"] != "zero date" {
		t.Fatalf("got %+v", rec)
	}
	if n := f.pgInt(t, `SELECT count(*) FROM shop.orders WHERE id = 9001`); n != 0 {
		t.Fatalf("the refused row is in the new store (%d)", n)
	}
	rows := queryStrings(t, f.purl, `SELECT run_id::text, key::text, reason, payload->>'customer' FROM transit.rejects WHERE entity = 'orders'`)
	if len(rows) != 1 || rows[0][0] != "0" || rows[0][1] != `["i:9001"]` || rows[0][3] != "zero date" || !strings.Contains(rows[0][2], "updated_at") {
		t.Fatalf("rejects: %v", rows)
	}
	if v := value(r.metrics.rejects.WithLabelValues("orders")); v != 1 {
		t.Errorf("rejects metric = %v", v)
	}
}
