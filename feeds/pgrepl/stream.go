package pgrepl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// Op is the kind of a change.
type Op string

// The ops.
const (
	Insert   Op = "insert"
	Update   Op = "update"
	Delete   Op = "delete"
	Truncate Op = "truncate"
)

// Change is one row change (or one truncated table).
type Change struct {
	Table string // "schema.name"
	Op    Op
	// Key holds the replica identity columns: of the new row for an insert
	// or an update that kept its key, of the old row otherwise.
	Key map[string]any
	// New holds the new row (insert, update), decoded with pgx's type map.
	// A TOASTed value the update did not change is absent: pgoutput does
	// not send it.
	New map[string]any
}

// Tx is one committed transaction.
type Tx struct {
	Xid        uint32
	Xids       []uint32 // of a merged batch: every transaction's Xid (nil: Xid alone)
	CommitLSN  LSN      // the commit record's position
	EndLSN     LSN      // end of the transaction: confirmed once Apply succeeds
	CommitTime time.Time
	Changes    []Change
}

// Apply consumes one committed transaction. Returning nil means it is
// durably applied: only then is its EndLSN confirmed to the server. An
// error stops Stream; the transaction comes again after a restart.
type Apply func(ctx context.Context, tx Tx) error

// ApplyBatch consumes consecutive committed transactions, in commit
// order. Returning nil means all of them are durably applied: only then is
// the last one's EndLSN confirmed.
type ApplyBatch func(ctx context.Context, txs []Tx) error

// StreamOptions tune Stream.
type StreamOptions struct {
	// StatusInterval is how often the confirmed position is sent
	// (default 10s); it is also sent when the server asks.
	StatusInterval time.Duration
	// MaxBatch is the most transactions StreamBatches hands over at once
	// (default 1000; a batch also ends at 10,000 changes, or when no
	// further transaction arrives within Linger).
	MaxBatch int
	// Linger is how long StreamBatches waits for one more transaction
	// before it applies what it holds (default 2ms).
	Linger time.Duration
	// OnKeepalive, when set, is called with the server's sent position of
	// each keepalive, after every transaction received before it has been
	// applied: everything the slot holds up to that position is applied.
	OnKeepalive func(serverWALEnd LSN)
}

// ApplyError is an error Apply returned.
type ApplyError struct{ Err error }

func (e *ApplyError) Error() string { return "pgrepl: apply: " + e.Err.Error() }
func (e *ApplyError) Unwrap() error { return e.Err }

// Stream reads the slot's changes from its confirmed position (the server
// keeps it; transactions not confirmed yet come again) and hands each
// committed transaction to apply, until ctx ends (then it returns
// ctx.Err()) or apply or the connection fails.
func Stream(ctx context.Context, rawURL string, names Names, apply Apply, opts StreamOptions) error {
	opts.MaxBatch = 1
	return StreamBatches(ctx, rawURL, names, func(ctx context.Context, txs []Tx) error {
		for _, tx := range txs {
			if err := apply(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	}, opts)
}

// StreamBatches is Stream handing over several consecutive transactions at
// once when they arrive together (a backlog, a busy server), so the
// consumer can write them in one go.
func StreamBatches(ctx context.Context, rawURL string, names Names, apply ApplyBatch, opts StreamOptions) error {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Linger <= 0 {
		opts.Linger = 2 * time.Millisecond
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 10 * time.Second
	}
	rurl, err := ReplicationURL(rawURL)
	if err != nil {
		return err
	}
	conn, err := pgconn.Connect(ctx, rurl)
	if err != nil {
		return fmt.Errorf("pgrepl: replication connect: %w", err)
	}
	defer conn.Close(context.Background())
	err = pglogrepl.StartReplication(ctx, conn, names.Slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + names.Publication + "'"},
	})
	if err != nil {
		return fmt.Errorf("pgrepl: start replication on %s: %w", names.Slot, err)
	}
	d := decoder{rels: map[uint32]*pglogrepl.RelationMessage{}, types: pgtype.NewMap()}
	var confirmed LSN // 0 = nothing to confirm yet (the server ignores 0)
	send := func() error {
		if confirmed == 0 {
			return nil
		}
		err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: confirmed})
		if err != nil {
			return fmt.Errorf("pgrepl: status update: %w", err)
		}
		return nil
	}
	defer func() {
		// Report the last confirmed position before leaving, and end the
		// copy so the server has processed it when Stream returns.
		if confirmed == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if pglogrepl.SendStandbyStatusUpdate(fctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: confirmed}) == nil {
			_, _ = pglogrepl.SendStandbyCopyDone(fctx, conn)
		}
	}()
	var pending []Tx
	changes := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := apply(ctx, pending); err != nil {
			return &ApplyError{Err: err}
		}
		confirmed = pending[len(pending)-1].EndLSN
		pending, changes = pending[:0], 0
		return nil
	}
	next := time.Now().Add(opts.StatusInterval)
	for {
		if time.Now().After(next) {
			if err := send(); err != nil {
				return err
			}
			next = time.Now().Add(opts.StatusInterval)
		}
		deadline := next
		if len(pending) > 0 {
			deadline = time.Now().Add(opts.Linger)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		raw, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				if err := flush(); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("pgrepl: receive: %w", err)
		}
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("pgrepl: server: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("pgrepl: keepalive: %w", err)
				}
				if opts.OnKeepalive != nil {
					if err := flush(); err != nil {
						return err
					}
					opts.OnKeepalive(ka.ServerWALEnd)
				}
				if ka.ReplyRequested {
					if confirmed == 0 {
						// Answer anyway so the server does not time us out;
						// position 0 confirms nothing.
						err = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{})
					} else {
						err = send()
					}
					if err != nil {
						return err
					}
					next = time.Now().Add(opts.StatusInterval)
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("pgrepl: xlogdata: %w", err)
				}
				tx, err := d.decode(xld.WALData)
				if err != nil {
					return err
				}
				if tx == nil {
					continue
				}
				pending = append(pending, *tx)
				changes += len(tx.Changes)
				if len(pending) >= opts.MaxBatch || changes >= 10000 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	}
}

// decoder turns pgoutput messages into transactions.
type decoder struct {
	rels  map[uint32]*pglogrepl.RelationMessage
	types *pgtype.Map
	tx    *Tx
}

// decode handles one message and returns a transaction at its commit.
func (d *decoder) decode(data []byte) (*Tx, error) {
	m, err := pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("pgrepl: parse pgoutput: %w", err)
	}
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		d.rels[m.RelationID] = m
	case *pglogrepl.BeginMessage:
		d.tx = &Tx{Xid: m.Xid, CommitLSN: m.FinalLSN, CommitTime: m.CommitTime}
	case *pglogrepl.CommitMessage:
		if d.tx == nil {
			return nil, errors.New("pgrepl: commit without begin")
		}
		tx := d.tx
		d.tx = nil
		tx.CommitLSN, tx.EndLSN, tx.CommitTime = m.CommitLSN, m.TransactionEndLSN, m.CommitTime
		return tx, nil
	case *pglogrepl.InsertMessage:
		return nil, d.add(m.RelationID, Insert, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return nil, d.add(m.RelationID, Update, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return nil, d.add(m.RelationID, Delete, m.OldTuple, nil)
	case *pglogrepl.TruncateMessage:
		if d.tx == nil {
			return nil, errors.New("pgrepl: truncate outside a transaction")
		}
		for _, id := range m.RelationIDs {
			rel, ok := d.rels[id]
			if !ok {
				return nil, fmt.Errorf("pgrepl: truncate of unknown relation %d", id)
			}
			d.tx.Changes = append(d.tx.Changes, Change{Table: rel.Namespace + "." + rel.RelationName, Op: Truncate})
		}
	}
	return nil, nil
}

func (d *decoder) add(relID uint32, op Op, old, new *pglogrepl.TupleData) error {
	if d.tx == nil {
		return fmt.Errorf("pgrepl: %s outside a transaction", op)
	}
	rel, ok := d.rels[relID]
	if !ok {
		return fmt.Errorf("pgrepl: %s on unknown relation %d", op, relID)
	}
	c := Change{Table: rel.Namespace + "." + rel.RelationName, Op: op}
	var err error
	if new != nil {
		if c.New, err = d.values(rel, new, false); err != nil {
			return err
		}
	}
	if old != nil {
		c.Key, err = d.values(rel, old, true)
	} else if new != nil {
		c.Key, err = d.values(rel, new, true)
	}
	if err != nil {
		return err
	}
	d.tx.Changes = append(d.tx.Changes, c)
	return nil
}

// values decodes a tuple; keyOnly keeps the replica identity columns.
func (d *decoder) values(rel *pglogrepl.RelationMessage, t *pglogrepl.TupleData, keyOnly bool) (map[string]any, error) {
	out := make(map[string]any, len(t.Columns))
	for i, col := range t.Columns {
		if i >= len(rel.Columns) {
			return nil, fmt.Errorf("pgrepl: %s.%s: tuple has more columns than the relation",
				rel.Namespace, rel.RelationName)
		}
		rc := rel.Columns[i]
		if keyOnly && rc.Flags&1 == 0 {
			continue
		}
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			out[rc.Name] = nil
		case pglogrepl.TupleDataTypeToast:
			// unchanged TOASTed value: not sent
		case pglogrepl.TupleDataTypeText:
			v, err := d.decodeText(rc.DataType, col.Data)
			if err != nil {
				return nil, fmt.Errorf("pgrepl: %s.%s.%s: %w", rel.Namespace, rel.RelationName, rc.Name, err)
			}
			out[rc.Name] = v
		default:
			return nil, fmt.Errorf("pgrepl: %s.%s.%s: unexpected tuple data type %q",
				rel.Namespace, rel.RelationName, rc.Name, col.DataType)
		}
	}
	return out, nil
}

func (d *decoder) decodeText(oid uint32, data []byte) (any, error) {
	if dt, ok := d.types.TypeForOID(oid); ok {
		return dt.Codec.DecodeValue(d.types, oid, pgtype.TextFormatCode, data)
	}
	return string(data), nil
}
