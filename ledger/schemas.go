package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/record"
)

// SourceSchema is the description of one source table as a store gave it.
type SourceSchema struct {
	Store, Table string
	Desc         *record.Table
}

// SaveSourceSchemas records the descriptions of a plan's source tables
// (transit.source_schemas), replacing earlier ones.
func SaveSourceSchemas(ctx context.Context, pool *pgxpool.Pool, plan string, schemas []SourceSchema) error {
	b := &pgx.Batch{}
	for _, s := range schemas {
		js, err := json.Marshal(s.Desc)
		if err != nil {
			return fmt.Errorf("ledger: source schema %s.%s: %w", s.Store, s.Table, err)
		}
		b.Queue(`INSERT INTO transit.source_schemas (plan, store, "table", description) VALUES ($1, $2, $3, $4)
			ON CONFLICT (plan, store, "table") DO UPDATE SET description = EXCLUDED.description, described_at = now()`,
			plan, s.Store, s.Table, js)
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("ledger: save source schemas: %w", err)
	}
	return nil
}

// ErrNoSourceSchema says the ledger holds no description of a table.
var ErrNoSourceSchema = errors.New("no description recorded")

// SourceSchemaOf returns the recorded description of a plan's source
// table and when it was recorded; ErrNoSourceSchema when there is none.
func SourceSchemaOf(ctx context.Context, pool *pgxpool.Pool, plan, store, table string) (*record.Table, time.Time, error) {
	var js []byte
	var at time.Time
	err := pool.QueryRow(ctx, `SELECT description, described_at FROM transit.source_schemas WHERE plan = $1 AND store = $2 AND "table" = $3`,
		plan, store, table).Scan(&js, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, ErrNoSourceSchema
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ledger: source schema %s.%s: %w", store, table, err)
	}
	var t record.Table
	if err := json.Unmarshal(js, &t); err != nil {
		return nil, time.Time{}, fmt.Errorf("ledger: source schema %s.%s: %w", store, table, err)
	}
	return &t, at, nil
}

// SourceTablesOf lists the tables of store whose descriptions the ledger
// holds for plan, in name order.
func SourceTablesOf(ctx context.Context, pool *pgxpool.Pool, plan, store string) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT "table" FROM transit.source_schemas WHERE plan = $1 AND store = $2 ORDER BY "table"`, plan, store)
	if err != nil {
		return nil, fmt.Errorf("ledger: source tables of %s: %w", store, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("ledger: source tables of %s: %w", store, err)
	}
	return names, nil
}
