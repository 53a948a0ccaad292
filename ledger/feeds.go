package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rebuild phases, in order.
const (
	PhaseBackfill = "backfill" // the chunked backfill writes the new generation
	PhaseCatchup  = "catchup"  // the new generation catches up from its slot
	PhaseVerify   = "verify"   // the new generation is compared with PostgreSQL
	PhaseSwitch   = "switch"   // readers are being switched to the new generation
)

// FeedState is the ledger's row of one feed.
type FeedState struct {
	Plan, Feed   string
	Slot         string // the slot feed run streams from ("" before the first rebuild)
	Publication  string
	Confirmed    uint64 // checkpoint LSN (0 = none)
	CurrentGen   string // the generation readers use
	RebuildGen   string // generation being built ("" = no rebuild in progress)
	RebuildSlot  string
	RebuildPub   string
	RebuildLSN   uint64 // the rebuild slot's consistent point
	RebuildPhase string
	RebuildStart time.Time
	LastRebuild  time.Time // zero: never
	RebuildMsg   string
	LastVerify   time.Time
	VerifyMsg    string
	Events       int64
	LastCommit   time.Time
}

const feedCols = `plan, feed, slot, publication, coalesce((confirmed_lsn - '0/0')::numeric, 0)::text,
	current_gen, rebuild_gen, rebuild_slot, rebuild_pub, coalesce((rebuild_lsn - '0/0')::numeric, 0)::text,
	rebuild_phase, rebuild_started, last_rebuild_at, last_rebuild_result, last_verify_at, last_verify_result,
	events, last_commit_at`

func scanFeed(row pgx.Row) (*FeedState, error) {
	var f FeedState
	var conf, rlsn string
	var rs, lr, lv, lc *time.Time
	if err := row.Scan(&f.Plan, &f.Feed, &f.Slot, &f.Publication, &conf, &f.CurrentGen, &f.RebuildGen,
		&f.RebuildSlot, &f.RebuildPub, &rlsn, &f.RebuildPhase, &rs, &lr, &f.RebuildMsg, &lv, &f.VerifyMsg,
		&f.Events, &lc); err != nil {
		return nil, err
	}
	if _, err := fmt.Sscan(conf, &f.Confirmed); err != nil {
		return nil, fmt.Errorf("ledger: feed %s confirmed lsn %q: %w", f.Feed, conf, err)
	}
	if _, err := fmt.Sscan(rlsn, &f.RebuildLSN); err != nil {
		return nil, fmt.Errorf("ledger: feed %s rebuild lsn %q: %w", f.Feed, rlsn, err)
	}
	for _, p := range []struct {
		src *time.Time
		dst *time.Time
	}{{rs, &f.RebuildStart}, {lr, &f.LastRebuild}, {lv, &f.LastVerify}, {lc, &f.LastCommit}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return &f, nil
}

// lsnText renders an LSN as pg_lsn text.
func lsnText(v uint64) string { return fmt.Sprintf("%X/%X", uint32(v>>32), uint32(v)) }

// Feed returns the state of feed in plan, or a zero state (Slot "") when
// the ledger has none yet.
func (l *Ledger) Feed(ctx context.Context, plan, feed string) (*FeedState, error) {
	f, err := scanFeed(l.Pool.QueryRow(ctx, "SELECT "+feedCols+" FROM transit.feeds WHERE plan = $1 AND feed = $2", plan, feed))
	if errors.Is(err, pgx.ErrNoRows) {
		return &FeedState{Plan: plan, Feed: feed}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: feed %s: %w", feed, err)
	}
	return f, nil
}

// Feeds returns the states of every feed of plan the ledger knows.
func (l *Ledger) Feeds(ctx context.Context, plan string) ([]*FeedState, error) {
	rows, err := l.Pool.Query(ctx, "SELECT "+feedCols+" FROM transit.feeds WHERE plan = $1 ORDER BY feed", plan)
	if err != nil {
		return nil, fmt.Errorf("ledger: feeds: %w", err)
	}
	defer rows.Close()
	var out []*FeedState
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// StartRebuild records that gen is being built from slot (with
// publication pub), whose consistent point is lsn.
func (l *Ledger) StartRebuild(ctx context.Context, plan, feed, gen, slot, pub string, lsn uint64) error {
	_, err := l.Pool.Exec(ctx, `INSERT INTO transit.feeds (plan, feed, rebuild_gen, rebuild_slot, rebuild_pub, rebuild_lsn, rebuild_phase, rebuild_started)
		VALUES ($1, $2, $3, $4, $5, $6::pg_lsn, 'backfill', now())
		ON CONFLICT (plan, feed) DO UPDATE SET rebuild_gen = $3, rebuild_slot = $4, rebuild_pub = $5,
			rebuild_lsn = $6::pg_lsn, rebuild_phase = 'backfill', rebuild_started = now(), updated_at = now()`,
		plan, feed, gen, slot, pub, lsnText(lsn))
	if err != nil {
		return fmt.Errorf("ledger: start rebuild of %s: %w", feed, err)
	}
	return nil
}

// SetRebuildPhase moves the rebuild of gen to phase.
func (l *Ledger) SetRebuildPhase(ctx context.Context, plan, feed, gen, phase string) error {
	tag, err := l.Pool.Exec(ctx, `UPDATE transit.feeds SET rebuild_phase = $4, updated_at = now()
		WHERE plan = $1 AND feed = $2 AND rebuild_gen = $3`, plan, feed, gen, phase)
	if err != nil {
		return fmt.Errorf("ledger: rebuild of %s: %w", feed, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("ledger: feed %s is not rebuilding %s", feed, gen)
	}
	return nil
}

// FinishRebuild makes gen the feed's current generation and the rebuild's
// slot the one feed run streams from, with its checkpoint at confirmed.
// It returns the slot and publication the feed used before ("" if none),
// for the caller to drop.
func (l *Ledger) FinishRebuild(ctx context.Context, plan, feed, gen string, confirmed uint64, result string) (oldSlot, oldPub string, err error) {
	err = l.Pool.QueryRow(ctx, `UPDATE transit.feeds f SET current_gen = rebuild_gen, slot = rebuild_slot,
			publication = rebuild_pub, confirmed_lsn = $4::pg_lsn, rebuild_gen = '', rebuild_slot = '', rebuild_pub = '',
			rebuild_lsn = NULL, rebuild_phase = '', rebuild_started = NULL, last_rebuild_at = now(),
			last_rebuild_result = $5, updated_at = now(),
			retired = CASE WHEN old.slot <> '' AND old.slot <> f.rebuild_slot
				AND NOT (old.slot || ' ' || old.publication) = ANY (f.retired)
				THEN array_append(f.retired, old.slot || ' ' || old.publication) ELSE f.retired END
		FROM (SELECT slot, publication FROM transit.feeds WHERE plan = $1 AND feed = $2 FOR UPDATE) old
		WHERE f.plan = $1 AND f.feed = $2 AND f.rebuild_gen = $3
		RETURNING old.slot, old.publication`, plan, feed, gen, lsnText(confirmed), result).Scan(&oldSlot, &oldPub)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("ledger: feed %s is not rebuilding %s", feed, gen)
	}
	if err != nil {
		return "", "", fmt.Errorf("ledger: finish rebuild of %s: %w", feed, err)
	}
	return oldSlot, oldPub, nil
}

// Retired returns the slots (and their publications) that rebuilds of
// the feed switched away from and that are not known to be dropped yet:
// FinishRebuild records the old slot in the same statement as the switch.
func (l *Ledger) Retired(ctx context.Context, plan, feed string) (slots, pubs []string, err error) {
	var els []string
	err = l.Pool.QueryRow(ctx, `SELECT retired FROM transit.feeds WHERE plan = $1 AND feed = $2`, plan, feed).Scan(&els)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: retired slots of %s: %w", feed, err)
	}
	for _, e := range els {
		slot, pub, _ := strings.Cut(e, " ")
		slots, pubs = append(slots, slot), append(pubs, pub)
	}
	return slots, pubs, nil
}

// Unretire forgets retired slot slot of the feed (it was dropped).
func (l *Ledger) Unretire(ctx context.Context, plan, feed, slot string) error {
	_, err := l.Pool.Exec(ctx, `UPDATE transit.feeds SET retired = ARRAY(SELECT e FROM unnest(retired) e WHERE split_part(e, ' ', 1) <> $3)
		WHERE plan = $1 AND feed = $2`, plan, feed, slot)
	if err != nil {
		return fmt.Errorf("ledger: forget retired slot %s of %s: %w", slot, feed, err)
	}
	return nil
}

// Confirm stores lsn as the checkpoint of the feed's slot, adds events,
// and records the commit time of the last applied transaction. It reports
// false when the feed no longer streams from slot (a rebuild switched it
// to another): the caller must stop and start again from the ledger.
func (l *Ledger) Confirm(ctx context.Context, plan, feed, slot string, lsn uint64, events int64, commit time.Time) (bool, error) {
	tag, err := l.Pool.Exec(ctx, `UPDATE transit.feeds SET confirmed_lsn = greatest(confirmed_lsn, $4::pg_lsn),
			events = events + $5, last_commit_at = $6, updated_at = now()
		WHERE plan = $1 AND feed = $2 AND slot = $3`, plan, feed, slot, lsnText(lsn), events, commit)
	if err != nil {
		return false, fmt.Errorf("ledger: confirm %s: %w", feed, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordVerify stores the time and outcome of a verify of the feed.
func (l *Ledger) RecordVerify(ctx context.Context, plan, feed, result string) error {
	_, err := l.Pool.Exec(ctx, `INSERT INTO transit.feeds (plan, feed, last_verify_at, last_verify_result) VALUES ($1, $2, now(), $3)
		ON CONFLICT (plan, feed) DO UPDATE SET last_verify_at = now(), last_verify_result = $3, updated_at = now()`, plan, feed, result)
	if err != nil {
		return fmt.Errorf("ledger: record verify of %s: %w", feed, err)
	}
	return nil
}

// DropFeed forgets the feed (after its slot and publication are gone).
func (l *Ledger) DropFeed(ctx context.Context, plan, feed string) error {
	if _, err := l.Pool.Exec(ctx, "DELETE FROM transit.feeds WHERE plan = $1 AND feed = $2", plan, feed); err != nil {
		return fmt.Errorf("ledger: drop feed %s: %w", feed, err)
	}
	return nil
}
