// Package sources defines what transit asks of a store it reads from. Each
// kind of store lives in a sub-package (mysql, sqlite, postgres, csv, jsonl)
// and every one of them passes the shared suite in sources/sourcetest.
//
// The core interface is small; abilities only some stores have (fetching
// records by ID, server-side checksums) are separate interfaces found with a
// type assertion.
package sources

import (
	"context"
	"errors"
	"fmt"

	"github.com/transitdb/transit/record"
)

// Source reads tables of one store.
type Source interface {
	// Tables lists the names of the tables (files, collections) the store
	// holds, in a stable order.
	Tables(ctx context.Context) ([]string, error)
	// Describe returns the columns, primary key, indexes and foreign keys of
	// one table. A missing table is a *NotFoundError.
	Describe(ctx context.Context, table string) (*record.Table, error)
	// Scan streams the rows selected by q in ascending q.OrderBy order,
	// calling emit with batches of at most q.BatchSize rows. The Batch and
	// its row slices may be reused after emit returns, so emit must copy the
	// rows it keeps; the values inside them (strings, []byte, time.Time) are
	// never reused or aliased to driver buffers, so a shallow copy of each
	// row is enough. Memory stays bounded whatever the table's size. Scan
	// stops with emit's error, or ctx's.
	Scan(ctx context.Context, q Query, emit func(*record.Batch) error) error
	// Close releases the connections.
	Close() error
}

// Query selects the rows of one table for Scan. Keyset pagination: the
// source never uses OFFSET.
type Query struct {
	Table   string
	Columns []string // columns to return, in this order; nil = all, in table order
	// OrderBy is the sort key: the ID key columns for a backfill, or the
	// version column followed by the ID key columns for a catch-up.
	OrderBy []string
	// After, when set, returns only rows whose OrderBy tuple is strictly
	// greater than After (same length as OrderBy).
	After record.Key
	// Upto, when set, returns only rows whose OrderBy tuple is less than or
	// equal to Upto.
	Upto record.Key
	// Version names the version column that VersionFrom/VersionUntil bound.
	Version string
	// VersionFrom, when non-nil, keeps rows with Version >= VersionFrom.
	VersionFrom any
	// VersionUntil, when non-nil, keeps rows with Version <= VersionUntil.
	VersionUntil any
	// BatchSize is the most rows in one emitted batch (default 1000).
	BatchSize int
	// Limit stops the scan after this many rows (0 = no limit).
	Limit int
}

// Getter is a source that can fetch records by ID (on-demand porting,
// verify narrowing, repair).
type Getter interface {
	// Get returns the rows of table whose key columns equal one of ids, in
	// any order; IDs that do not exist are simply absent.
	Get(ctx context.Context, table string, columns, key []string, ids []record.Key) (*record.Batch, error)
}

// NotFoundError says a table or column does not exist in a store.
type NotFoundError struct {
	Store string // store name or kind
	What  string // "table" or "column"
	Name  string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in %s", e.What, e.Name, e.Store)
}

// IsNotFound reports whether err is, or wraps, a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// Estimator is a source that can say roughly how many rows a table holds
// without reading it (from its statistics). The engine uses the figure for
// progress and to decide whether to cut a table into chunks up front.
type Estimator interface {
	EstimateRows(ctx context.Context, table string) (int64, error)
}

// Stepper is a source that can find the key n rows after a position
// without reading the rows in between (an index skip on SQL stores). The
// engine uses it to cut a table into chunks while it copies.
type Stepper interface {
	// KeyAfter returns the key of the n-th row after `after` (nil = from
	// the start) in key order, or nil when fewer than n rows follow.
	KeyAfter(ctx context.Context, table string, key []string, after record.Key, n int) (record.Key, error)
}
