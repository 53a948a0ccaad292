package feeds

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// waitVisible returns once every transaction of xids is visible to new
// snapshots of the feed's database.
//
// Why: a change is applied by rendering its documents from PostgreSQL as
// it is now, with the transaction's commit LSN as version. PostgreSQL
// writes (and flushes, and so can decode and send) a commit record a
// moment before the committing backend leaves the process array, and only
// then does the transaction become visible to new snapshots. A render in
// that moment read the row as it was before and wrote it with the new
// version: the change was lost until the row changed again, and a replay
// could not repair it (the stale document already held the version).
// Measured before this wait: about one transaction in a thousand at 100
// transactions/s (bench/feedlag -slow, `make bench` feeds lag: a change
// seen one cycle of the keys, 1 s, late, or never when it was the last).
//
// Visibility only ever grows for a committed transaction, so once a fresh
// snapshot shows every transaction, every later read (the render) sees
// them too. The wait is one short query per batch; it polls with a
// growing delay (200 µs to 50 ms) in the rare case it must wait.
func (f *Feed) waitVisible(ctx context.Context, xids []uint32) error {
	if len(xids) == 0 || f.pool == nil {
		return nil
	}
	delay := 200 * time.Microsecond
	start := time.Now()
	warned := false
	for {
		var snap string
		if err := f.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&snap); err != nil {
			return fmt.Errorf("feed %s: snapshot: %w", f.Name(), err)
		}
		ok, err := visibleIn(snap, xids)
		if err != nil {
			return fmt.Errorf("feed %s: %w", f.Name(), err)
		}
		if ok {
			return nil
		}
		if !warned && time.Since(start) > 5*time.Second {
			f.log.Warn("waiting for committed transactions to become visible", "xids", xids, "snapshot", snap)
			warned = true
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// visibleIn reports whether every transaction of xids (32-bit, as the
// replication stream names them) is visible in snap, the text of a
// pg_snapshot ("xmin:xmax:xip,…", 64-bit ids): below xmin, or below xmax
// and not in progress. A 32-bit id is widened to 64 bits next to xmax (the
// nearest one in modular distance, so the epoch is right across a
// wraparound).
func visibleIn(snap string, xids []uint32) (bool, error) {
	parts := strings.SplitN(snap, ":", 3)
	if len(parts) != 3 {
		return false, fmt.Errorf("snapshot %q: want xmin:xmax:xip", snap)
	}
	xmin, err1 := strconv.ParseUint(parts[0], 10, 64)
	xmax, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("snapshot %q: bad xmin or xmax", snap)
	}
	var running map[uint64]bool
	if parts[2] != "" {
		running = map[uint64]bool{}
		for _, s := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return false, fmt.Errorf("snapshot %q: bad xip %q", snap, s)
			}
			running[x] = true
		}
	}
	for _, x := range xids {
		full := int64(xmax) + int64(int32(x-uint32(xmax)))
		if full < 0 {
			return false, fmt.Errorf("transaction %d: no 64-bit id near snapshot %q", x, snap)
		}
		u := uint64(full)
		if u < xmin {
			continue
		}
		if u >= xmax || running[u] {
			return false, nil
		}
	}
	return true, nil
}

// inProgress returns the in-progress transactions of snapshot text snap
// (its xip list), as the 32-bit ids waitVisible takes; nil when it cannot
// read them.
func inProgress(snap string) []uint32 {
	parts := strings.SplitN(snap, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return nil
	}
	var out []uint32
	for _, s := range strings.Split(parts[2], ",") {
		x, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, uint32(x))
	}
	return out
}
