package dualread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	pgsink "github.com/transitdb/transit/sinks/postgres"
)

// TestPortRacesCatchUp (issue 10, acceptance 2): 50 readers (two Readers,
// as two server processes, 25 goroutines each) port the same record while
// a catch-up batch writes a newer version of it through the same sink
// write a run uses: exactly one row remains, with the newest version.
// Repeated 100 times, one record each.
func TestPortRacesCatchUp(t *testing.T) {
	t.Parallel()
	const rounds = 100
	f := newFixture(t, rounds, false)
	f.run(t)
	f.pg(t, `DELETE FROM shop.orders`) // every record must be ported again
	ph := &phases{}
	ph.set("orders", PhaseMigrating)
	readers := []*Reader{f.open(t, "orders", ph, WithNegativeTTL(0), WithTimeout(10*time.Second)), f.open(t, "orders", ph, WithNegativeTTL(0), WithTimeout(10*time.Second))}
	ctx := context.Background()
	sink, err := pgsink.Open(ctx, f.purl, "shop")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ent := readers[0].ent
	conn, err := pgx.Connect(ctx, f.purl)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	newer := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ported, caughtUpFirst := 0, 0
	for i := 1; i <= rounds; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, 51)
		start := make(chan struct{})
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rec, err := readers[g%2].Get(ctx, i)
				if err == nil && rec.Fields["id"] != int64(i) {
					err = fmt.Errorf("got %+v", rec)
				}
				errs <- err
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			row := []any{int64(i), fmt.Sprintf("catch-up %d", i), "1.00", nil, newer.Add(time.Duration(i) * time.Second)}
			_, err := sink.Write(ctx, ent.Target, &record.Batch{Columns: ent.Target.Columns, Rows: [][]any{row}},
				sinks.WriteOptions{Version: "updated_at"})
			errs <- err
		}()
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		var n int
		var customer string
		var version time.Time
		if err := conn.QueryRow(ctx, `SELECT count(*) OVER (), customer, updated_at FROM shop.orders WHERE id = $1`, i).Scan(&n, &customer, &version); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		want := newer.Add(time.Duration(i) * time.Second)
		if n != 1 || customer != fmt.Sprintf("catch-up %d", i) || !version.Equal(want) {
			t.Fatalf("round %d: %d rows, customer %q, version %v; want one row of version %v", i, n, customer, version, want)
		}
	}
	for _, r := range readers {
		ported += int(value(r.metrics.ports.WithLabelValues("orders")))
	}
	caughtUpFirst = rounds*50 - int(value(readers[0].metrics.fallbacks.WithLabelValues("orders"))+value(readers[1].metrics.fallbacks.WithLabelValues("orders")))
	t.Logf("%d ports raced the catch-up writes; %d reads found the catch-up row already", ported, caughtUpFirst)
	if ported == 0 {
		t.Fatal("no port happened: the race was not exercised")
	}
}
