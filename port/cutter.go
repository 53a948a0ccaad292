package port

import (
	"errors"
	"time"

	"github.com/transitdb/transit/ledger"
)

// cutAhead keeps the open chunks of the run cut ahead of the workers, in
// lease order: while an entity has fewer than Workers+1 chunks cut and
// free, it leases the entity's open chunk, cuts one chunk off (cutNext)
// and gives it back. A worker then mostly finds a cut chunk of the entity
// of the lowest priority (see leasePriorities) instead of finding its open
// chunk in the middle of a cut and going to a later entity. While nothing
// needs cutting it looks again every 20 ms, backing off to 100 ms (the
// chunks kept ahead last longer than that). Cutting is
// only an aid: on an error it stops, and the workers cut open chunks
// themselves, as they do in any process whose cutter is behind. It
// returns when no open chunk is left or done is closed.
func (r *runner) cutAhead(done <-chan struct{}) {
	ahead := r.opts.Workers + 1
	wait := func(d time.Duration) bool {
		select {
		case <-done:
			return false
		case <-r.stop.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	idle := 20 * time.Millisecond
	for {
		select {
		case <-done:
			return
		default:
		}
		c, err := r.l.LeaseOpen(r.work, r.run.ID, r.opts.LeaseTTL, r.names, ahead)
		if err != nil {
			r.log.Debug("cutting ahead stopped", "err", err)
			return
		}
		if c == nil {
			n, err := r.l.OpenChunks(r.work, r.run.ID, r.names)
			if err != nil || n == 0 {
				return
			}
			if !wait(idle) {
				return
			}
			idle = min(2*idle, 100*time.Millisecond)
			continue
		}
		idle = 20 * time.Millisecond
		err = r.cutNext(r.ents[c.Entity], c)
		if rerr := r.l.Release(r.work, c); err == nil {
			err = rerr
		}
		if err != nil && !errors.Is(err, ledger.ErrLeaseLost) {
			r.log.Debug("cutting ahead stopped", "entity", c.Entity, "err", err)
			return
		}
	}
}
