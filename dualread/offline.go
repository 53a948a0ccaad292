package dualread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/stores"
)

// An old store that cannot be reached when the Readers open does not stop
// them: its tables are described from the ledger (transit.source_schemas,
// written by every transit run and each time the Readers open with every
// store up), and reads of it fail, so that phase new answers as ever,
// migrating degrades as when the store goes down while serving, and old and
// shadow answer with errors, until a read finds the store back (one
// attempt to open it at most every reopenEvery).
const reopenEvery = 5 * time.Second

// fallbackStores is the store set Resolve sees: a source store that fails
// to open with a transient error (connection refused, timeout) becomes an
// offlineSource.
type fallbackStores struct {
	set    *stores.Set
	ledger *pgxpool.Pool
	plan   string
	log    *slog.Logger

	mu      sync.Mutex
	offline map[string]*offlineSource
}

func (f *fallbackStores) Sink(ctx context.Context, name string) (sinks.Sink, error) {
	return f.set.Sink(ctx, name)
}

func (f *fallbackStores) Source(ctx context.Context, name string) (sources.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.offline[name]; o != nil {
		return o, nil
	}
	src, err := f.set.Source(ctx, name)
	if err == nil || !border.IsTransient(err) || ctx.Err() != nil {
		return src, err
	}
	f.log.Warn("old store unreachable: its tables are described from the ledger and its reads fail until it answers", "store", name, "err", err)
	o := &offlineSource{stores: f, name: name, openErr: err, tried: time.Now()}
	if f.offline == nil {
		f.offline = map[string]*offlineSource{}
	}
	f.offline[name] = o
	return o, nil
}

// anyOffline says whether some source store was described from the ledger.
func (f *fallbackStores) anyOffline() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.offline) > 0
}

// offlineSource stands for a source store that did not answer: Describe
// and Tables read the ledger, Get opens the store again (at most every
// reopenEvery) and reads through it once it answers.
type offlineSource struct {
	stores *fallbackStores
	name   string

	mu      sync.Mutex
	real    sources.Source
	openErr error
	tried   time.Time // the last attempt to open the store began
	trying  bool      // an attempt is under way
}

// ErrOldUnreachable wraps the error of an old store that could not be
// opened.
var ErrOldUnreachable = errors.New("old store unreachable")

func (o *offlineSource) source(ctx context.Context) (sources.Source, error) {
	o.mu.Lock()
	if o.real != nil {
		src := o.real
		o.mu.Unlock()
		return src, nil
	}
	if o.trying || time.Since(o.tried) < reopenEvery {
		err := o.openErr
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %w", ErrOldUnreachable, o.name, err)
	}
	// One read tries to open the store (within its own deadline); the
	// others fail at once meanwhile rather than queue behind the attempt.
	o.trying, o.tried = true, time.Now()
	o.mu.Unlock()
	src, err := o.stores.set.Source(ctx, o.name)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trying = false
	if err != nil {
		o.openErr = err
		return nil, fmt.Errorf("%w: %s: %w", ErrOldUnreachable, o.name, err)
	}
	o.stores.log.Info("old store answers again", "store", o.name)
	o.real = src
	return src, nil
}

func (o *offlineSource) Tables(ctx context.Context) ([]string, error) {
	return ledger.SourceTablesOf(ctx, o.stores.ledger, o.stores.plan, o.name)
}

func (o *offlineSource) Describe(ctx context.Context, table string) (*record.Table, error) {
	t, at, err := ledger.SourceSchemaOf(ctx, o.stores.ledger, o.stores.plan, o.name, table)
	if errors.Is(err, ledger.ErrNoSourceSchema) {
		return nil, fmt.Errorf("store %s cannot be reached (%v) and the ledger holds no description of its table %s: run transit run, or start transit serve, once while it answers", o.name, o.openErr, table)
	}
	if err != nil {
		return nil, err
	}
	o.stores.log.Warn("table described from the ledger", "store", o.name, "table", table, "described_at", at.UTC().Format(time.RFC3339))
	return t, nil
}

func (o *offlineSource) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	src, err := o.source(ctx)
	if err != nil {
		return err
	}
	return src.Scan(ctx, q, emit)
}

func (o *offlineSource) Get(ctx context.Context, table string, columns, key []string, ids []record.Key) (*record.Batch, error) {
	src, err := o.source(ctx)
	if err != nil {
		return nil, err
	}
	g, ok := src.(sources.Getter)
	if !ok {
		return nil, fmt.Errorf("dualread: store %s cannot fetch records by ID", o.name)
	}
	return g.Get(ctx, table, columns, key, ids)
}

// Close: the store set closes the real source.
func (o *offlineSource) Close() error { return nil }
