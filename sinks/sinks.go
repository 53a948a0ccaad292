// Package sinks defines what transit asks of a store it writes to. Each kind
// lives in a sub-package and passes the shared suite in sinks/sinktest.
package sinks

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/record"
)

// Sink writes batches into one store, idempotently: writing the same batch
// twice leaves the store as writing it once.
type Sink interface {
	// Prepare makes the target table ready for t's rows. With create set it
	// creates the table (columns and primary key, no secondary indexes or
	// foreign keys) when it does not exist. It reports whether the table
	// held no rows when Prepare looked.
	Prepare(ctx context.Context, t *record.Table, create bool) (empty bool, err error)
	// Write stores b into table t. Rows the store refuses one by one come
	// back in WriteResult.Rejects; an error means the whole batch failed and
	// nothing of it was kept.
	Write(ctx context.Context, t *record.Table, b *record.Batch, opts WriteOptions) (WriteResult, error)
	// Finish runs the after-data steps for t: secondary indexes, foreign
	// keys (only with fks set), identity/sequence values past the max ID.
	// Finish is idempotent.
	Finish(ctx context.Context, t *record.Table, fks bool) error
	// Close releases the connections.
	Close() error
}

// WriteOptions tune one Write.
type WriteOptions struct {
	// Version names the version column: an incoming row replaces a stored
	// one only when its version is not older. Empty = newest write wins.
	Version string
	// Fresh says no row in this batch's key range can already be in the
	// target, so the sink may take a faster path (a plain COPY).
	Fresh bool
}

// WriteResult says what one Write did.
type WriteResult struct {
	Written int      // rows inserted or changed
	Rejects []Reject // rows refused, each with its reason
}

// Reject is a row a sink refused.
type Reject struct {
	Row    int // index into the batch's rows
	Reason string
}

// TxWriter is a sink whose writes can join a PostgreSQL transaction the
// caller owns, so the caller's checkpoint commits in the same transaction as
// the data (exactly-once in effect). The caller begins tx on Pool(); when
// WriteTx returns an error the caller must roll tx back.
type TxWriter interface {
	Pool() *pgxpool.Pool
	WriteTx(ctx context.Context, tx pgx.Tx, t *record.Table, b *record.Batch, opts WriteOptions) (WriteResult, error)
}

// Deleter is a sink that can delete records by ID (verify's
// --repair-deletes).
type Deleter interface {
	// Delete removes the rows of table t whose key equals one of ids and
	// returns how many it removed. Missing IDs are not an error.
	Delete(ctx context.Context, t *record.Table, ids []record.Key) (int, error)
}

// KeyDeferrer is a sink that can create a table without its primary key and
// add the key once the data is in: a bulk load with no index to maintain is
// much faster. The engine only defers the key of a table it created itself
// and fills with exactly-once batches, so no duplicate can get in meanwhile.
type KeyDeferrer interface {
	// PrepareDeferred creates t without its primary key when it does not
	// exist yet, and reports whether it did.
	PrepareDeferred(ctx context.Context, t *record.Table) (created bool, err error)
	// AddKey adds t's primary key when the table has none (idempotent).
	AddKey(ctx context.Context, t *record.Table) error
}
