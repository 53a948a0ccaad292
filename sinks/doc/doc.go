// Package doc is what a feed writes into a derived store (an Elasticsearch
// alias, a Redis keyspace): documents keyed by ID and guarded by a version,
// so that a replayed or reordered write never overwrites a newer one.
// Feeds (package feeds) drive a Target; each store kind implements it in
// its own sinks/ sub-package.
package doc

import (
	"context"

	"github.com/transitdb/transit/sinks"
)

// Doc is one document to write, or to delete.
type Doc struct {
	// ID is the document's identity in the store: the feed's id columns
	// rendered as text (composite IDs joined by the feed's rule).
	ID string
	// Fields are the document's values (for a delete: may be only the key
	// fields). Values are those record.Batch holds (string, int64, float64,
	// bool, time.Time, []byte, nil, json.RawMessage, ...).
	Fields map[string]any
	// Version orders writes of one ID: the commit LSN of the change, or the
	// snapshot's LSN for backfilled documents. A write whose version is
	// lower than the stored one is skipped; an equal one is applied again.
	Version uint64
	// Delete removes the document; a later write with a lower version must
	// not bring it back.
	Delete bool
}

// Result says what one Write did.
type Result struct {
	Written int            // documents stored or deleted
	Skipped int            // documents ignored because the store held a newer version
	Rejects []sinks.Reject // documents refused one by one (Row indexes the docs slice)
}

// Target is one derived store a feed writes into, in generations: a
// rebuild writes a new generation while readers still use the current one,
// then switches readers over at once.
type Target interface {
	// Current names the generation readers use now ("" when none yet).
	Current(ctx context.Context) (string, error)
	// Generations lists the generations that exist, oldest first.
	Generations(ctx context.Context) ([]string, error)
	// Create makes generation gen ready for a bulk load (idempotent).
	Create(ctx context.Context, gen string) error
	// Ready ends gen's bulk load: restores the settings a bulk load turned
	// off and makes every write visible to readers of gen (idempotent).
	Ready(ctx context.Context, gen string) error
	// Switch points readers at gen in one atomic step (idempotent).
	Switch(ctx context.Context, gen string) error
	// Drop removes generation gen (never the current one).
	Drop(ctx context.Context, gen string) error
	// Write stores docs into gen. An error means the whole call failed and
	// it may be repeated; rejects are documents refused one by one.
	Write(ctx context.Context, gen string, docs []Doc) (Result, error)
	// Scan calls fn with every document of gen, in pages (for verify).
	// Deleted documents are not returned. A document may come twice
	// (Redis SCAN returns a key again when the keyspace is resized
	// meanwhile; remembering every key would cost memory per document):
	// callers must tolerate repeats.
	Scan(ctx context.Context, gen string, fn func([]Doc) error) error
	// Close releases what the Target holds (not a client it was given).
	Close() error
}
