package dualread

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
)

// TestOpenWithOldStoreDown: Readers open while the old store refuses
// connections, its table described from the ledger as the last open with
// the store up recorded it. Phase new answers from the new store; in
// migrating a miss is ErrDegraded; once the store is back, a miss is read
// from it and ported again. With no description recorded, the open fails
// and says how to get one.
func TestOpenWithOldStoreDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 20, true)
	f.run(t)
	u, err := url.Parse(f.murl)
	if err != nil {
		t.Fatal(err)
	}
	addr := f.proxy.Addr()
	f.proxy.Close()
	if _, err := Open(ctx, f.plan, "orders", WithPhases(&phases{})); err == nil || !strings.Contains(err.Error(), "holds no description of its table orders") {
		t.Fatalf("open with the old store down and nothing recorded: %v", err)
	}

	up := testenv.NewProxyAt(t, addr, u.Host)
	f.open(t, "orders", &phases{}).Close() // records the description
	up.Close()

	f.pg(t, `DELETE FROM shop.orders WHERE id > 10`)
	ph := &phases{}
	ph.set("orders", PhaseNew)
	r := f.open(t, "orders", ph, WithTimeout(2*time.Second), WithBreaker(2, 200*time.Millisecond))
	rec, err := r.Get(ctx, 5)
	if err != nil || rec == nil || rec.Source != FromNew || rec.Fields["customer"] != "customer 5" {
		t.Fatalf("phase new, id 5: %+v %v", rec, err)
	}
	if rec, err := r.Get(ctx, 15); !errors.Is(err, ErrNotFound) {
		t.Fatalf("phase new, id 15 (only in old): %+v %v, want not found", rec, err)
	}
	ph.set("orders", PhaseMigrating)
	if _, err := r.Get(ctx, 16); !errors.Is(err, ErrDegraded) || !strings.Contains(err.Error(), "old store unreachable") {
		t.Fatalf("migrating, id 16 with old down: %v, want ErrDegraded", err)
	}

	testenv.NewProxyAt(t, addr, u.Host)
	deadline := time.Now().Add(3 * reopenEvery)
	for {
		rec, err := r.Get(ctx, 17)
		if err == nil && rec != nil && rec.Source == FromOld && rec.Fields["customer"] == "customer 17" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old store came back but id 17 is still %+v %v", rec, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := f.pgInt(t, `SELECT count(*) FROM shop.orders WHERE id = 17`); n != 1 {
		t.Fatalf("id 17 not ported: %d rows", n)
	}
}
