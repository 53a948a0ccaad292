package dualread

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/transitdb/transit/record"
)

// TestCoalescedReadsEachGetTheirOwn: many concurrent reads of the new
// store share queries, and each still gets exactly its own records (and
// its own misses), for single IDs, GetMany and composite IDs.
func TestCoalescedReadsEachGetTheirOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 200, false)
	f.run(t)
	ph := &phases{}
	ph.set("orders", PhaseNew)
	ph.set("lines", PhaseNew)
	r := f.open(t, "orders", ph)
	lines := f.open(t, "lines", ph)
	ctx := context.Background()
	want := func(id int64, rec *Record) error {
		if id > 200 {
			if rec != nil {
				return fmt.Errorf("id %d: got %+v, want none", id, rec.Fields)
			}
			return nil
		}
		if rec == nil || rec.Fields["id"] != id || rec.Fields["customer"] != fmt.Sprintf("customer %d", id) || rec.Source != FromNew {
			return fmt.Errorf("id %d: got %+v", id, rec)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				switch i % 4 {
				case 0, 1: // one ID, sometimes missing
					id := int64(1 + rand.IntN(250))
					rec, err := r.Get(ctx, id)
					if errors.Is(err, ErrNotFound) {
						err = nil
					}
					if err == nil {
						err = want(id, rec)
					}
					if err != nil {
						errs <- err
						return
					}
				case 2: // several IDs in one call, a repeat and a miss among them
					ids := []int64{int64(1 + rand.IntN(200)), int64(201 + rand.IntN(50)), int64(1 + rand.IntN(200))}
					ids = append(ids, ids[0])
					keys := make([]record.Key, len(ids))
					for j, id := range ids {
						keys[j] = record.Key{id}
					}
					recs, err := r.GetMany(ctx, keys)
					if err != nil {
						errs <- err
						return
					}
					for j, id := range ids {
						if err := want(id, recs[j]); err != nil {
							errs <- fmt.Errorf("GetMany %v: %w", ids, err)
							return
						}
					}
				case 3: // composite IDs
					k := [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}}[rand.IntN(4)]
					rec, err := lines.Get(ctx, k[0], k[1])
					sku := map[[2]int]string{{1, 1}: "a", {1, 2}: "b", {2, 1}: "c"}[k]
					switch {
					case sku == "" && !errors.Is(err, ErrNotFound):
						errs <- fmt.Errorf("line %v: got %+v, %v; want not found", k, rec, err)
						return
					case sku != "" && (err != nil || rec.Fields["sku"] != sku):
						errs <- fmt.Errorf("line %v: got %+v, %v; want sku %s", k, rec, err, sku)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if r.coalesced.Load() == 0 {
		t.Fatal("64 concurrent readers never shared a query of the new store")
	}
	// A read whose context is done is not sent and says so.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Get(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: err = %v, want context.Canceled", err)
	}
}
