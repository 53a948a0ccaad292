// Package pgrepl reads PostgreSQL changes through logical replication
// (pgoutput, protocol v1) for feeds: it sets up a publication and a slot,
// exports the slot's snapshot for a gap-free backfill, streams committed
// transactions as simple change events, confirms only what the consumer
// has durably applied, and drops the slot and publication when done.
//
// Setup and drop talk over a normal connection and a replication one
// (the same URL with replication=database, added here).
package pgrepl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LSN is a WAL position.
type LSN = pglogrepl.LSN

// Names are the publication and slot of one feed.
type Names struct {
	Publication string
	Slot        string
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// NamesFor derives the publication and slot names of feed in plan:
// lower-case, [a-z0-9_] only, at most 63 bytes (PostgreSQL's limit).
func NamesFor(plan, feed string) Names {
	base := "transit_" + sanitize(plan) + "_" + sanitize(feed)
	return Names{Publication: clip(base + "_pub"), Slot: clip(base + "_slot")}
}

func sanitize(s string) string {
	s = unsafeChars.ReplaceAllString(strings.ToLower(s), "_")
	return strings.Trim(s, "_")
}

// clip keeps name within 63 bytes, ending it in a hash of the whole name
// when it has to cut, so two long names stay distinct.
func clip(name string) string {
	if len(name) <= 63 {
		return name
	}
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return fmt.Sprintf("%s_%08x", name[:54], h)
}

// ReplicationURL returns rawURL with replication=database set.
func ReplicationURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("pgrepl: parse url: %w", err)
	}
	q := u.Query()
	q.Set("replication", "database")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Slot is the result of Setup.
type Slot struct {
	Names
	// Created says Setup created the slot now; then Snapshot names the
	// exported snapshot, valid while the Slot is open (until Close).
	Created  bool
	Snapshot string
	// Start is where streaming begins: the slot's consistent point when
	// created, its confirmed_flush_lsn when it existed (resume).
	Start LSN

	url  string
	repl *pgconn.PgConn // holds the exported snapshot; nil after Close
}

// Setup makes the publication (for exactly tables, "schema.name") and the
// logical slot of names, idempotently. Close the Slot once the backfill
// (if any) is done.
func Setup(ctx context.Context, rawURL string, names Names, tables []string) (*Slot, error) {
	if len(tables) == 0 {
		return nil, errors.New("pgrepl: no tables to publish")
	}
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("pgrepl: connect: %w", err)
	}
	defer conn.Close(ctx)
	if err := ensurePublication(ctx, conn, names.Publication, tables); err != nil {
		return nil, err
	}
	s := &Slot{Names: names, url: rawURL}
	var confirmed *string
	err = conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots
		WHERE slot_name = $1 AND database = current_database()`, names.Slot).Scan(&confirmed)
	switch {
	case err == nil:
		if confirmed == nil {
			return nil, fmt.Errorf("pgrepl: slot %s exists but is not logical", names.Slot)
		}
		if s.Start, err = pglogrepl.ParseLSN(*confirmed); err != nil {
			return nil, fmt.Errorf("pgrepl: slot %s: %w", names.Slot, err)
		}
		return s, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("pgrepl: look up slot: %w", err)
	}
	rurl, err := ReplicationURL(rawURL)
	if err != nil {
		return nil, err
	}
	repl, err := pgconn.Connect(ctx, rurl)
	if err != nil {
		return nil, fmt.Errorf("pgrepl: replication connect: %w", err)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, names.Slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		repl.Close(ctx)
		return nil, fmt.Errorf("pgrepl: create slot %s: %w", names.Slot, err)
	}
	if s.Start, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
		repl.Close(ctx)
		return nil, fmt.Errorf("pgrepl: slot %s: %w", names.Slot, err)
	}
	s.Created, s.Snapshot, s.repl = true, res.SnapshotName, repl
	return s, nil
}

// ensurePublication creates the publication or sets its tables.
func ensurePublication(ctx context.Context, conn *pgx.Conn, pub string, tables []string) error {
	list := make([]string, len(tables))
	for i, t := range tables {
		list[i] = quoteTable(t)
	}
	sort.Strings(list)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`,
		pub).Scan(&exists); err != nil {
		return fmt.Errorf("pgrepl: look up publication: %w", err)
	}
	verb := "CREATE PUBLICATION %s FOR TABLE %s"
	if exists {
		verb = "ALTER PUBLICATION %s SET TABLE %s"
	}
	q := fmt.Sprintf(verb, pgx.Identifier{pub}.Sanitize(), strings.Join(list, ", "))
	if _, err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("pgrepl: publication %s: %w", pub, err)
	}
	return nil
}

func quoteTable(t string) string {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return pgx.Identifier{t[:i], t[i+1:]}.Sanitize()
	}
	return pgx.Identifier{"public", t}.Sanitize()
}

// Backfill runs fn in a REPEATABLE READ transaction that sees the slot's
// exported snapshot, so rows read there plus the stream from Start miss
// nothing and hold nothing twice. Only for a slot Setup created now and
// has not closed.
func (s *Slot) Backfill(ctx context.Context, fn func(pgx.Tx) error) error {
	if s.repl == nil || s.Snapshot == "" {
		return errors.New("pgrepl: no exported snapshot (slot existed already, or closed)")
	}
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("pgrepl: backfill connect: %w", err)
	}
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("pgrepl: backfill begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(s.Snapshot)); err != nil {
		return fmt.Errorf("pgrepl: set snapshot: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Close releases the replication connection holding the snapshot.
func (s *Slot) Close(ctx context.Context) error {
	if s.repl == nil {
		return nil
	}
	err := s.repl.Close(ctx)
	s.repl = nil
	return err
}

// Status is a slot's position.
type Status struct {
	Confirmed LSN
	LagBytes  int64 // WAL written since Confirmed
	Active    bool
}

// SlotStatus reports the slot's confirmed LSN and lag.
func SlotStatus(ctx context.Context, rawURL, slot string) (Status, error) {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return Status{}, fmt.Errorf("pgrepl: connect: %w", err)
	}
	defer conn.Close(ctx)
	var st Status
	var confirmed string
	err = conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text,
		pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, active
		FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&confirmed, &st.LagBytes, &st.Active)
	if err != nil {
		return Status{}, fmt.Errorf("pgrepl: slot %s status: %w", slot, err)
	}
	st.Confirmed, err = pglogrepl.ParseLSN(confirmed)
	return st, err
}

// Drop removes the slot and the publication (each only if it exists) and
// returns how many bytes of WAL the slot was holding.
func Drop(ctx context.Context, rawURL string, names Names) (held int64, err error) {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return 0, fmt.Errorf("pgrepl: connect: %w", err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, names.Slot).Scan(&held)
	switch {
	case err == nil:
		if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", names.Slot); err != nil {
			return 0, fmt.Errorf("pgrepl: drop slot %s: %w", names.Slot, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("pgrepl: look up slot: %w", err)
	}
	if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{names.Publication}.Sanitize()); err != nil {
		return held, fmt.Errorf("pgrepl: drop publication: %w", err)
	}
	return held, nil
}
