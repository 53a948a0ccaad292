package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

func simpleTable(name string) *record.Table {
	return &record.Table{
		Name: name,
		Key:  []string{"id"},
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 32, AutoIncrement: true},
			{Name: "n", Type: record.Int, Bits: 32, Nullable: true},
			{Name: "label", Type: record.Text, Length: 20, Nullable: true},
		},
	}
}

func rowsN(n int, f func(i int) []any) [][]any {
	out := make([][]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func count(t *testing.T, s *Sink, table, where string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+s.ident(table)+" WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Rows only the server refuses (a CHECK constraint the sink cannot know)
// are isolated by splitting the batch; the rest are written.
func TestServerRejectsAreIsolated(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	for _, opts := range []sinks.WriteOptions{{Fresh: true}, {}, {Version: "n"}} {
		tbl := simpleTable("srv_" + map[bool]string{true: "fresh", false: "upsert"}[opts.Fresh] + opts.Version)
		if _, err := s.Prepare(ctx, tbl, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, "ALTER TABLE "+s.ident(tbl.Name)+" ADD CONSTRAINT n_not_13 CHECK (n % 13 <> 0)"); err != nil {
			t.Fatal(err)
		}
		rows := rowsN(1000, func(i int) []any { return []any{int64(i + 1), int64(i + 1), "x"} })
		res, err := s.Write(ctx, tbl, &record.Batch{Columns: tbl.Columns, Rows: rows}, opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if len(res.Rejects) != 1000/13 || res.Written != 1000-1000/13 {
			t.Fatalf("%+v: %d written, %d rejects; want %d, %d", opts, res.Written, len(res.Rejects), 1000-1000/13, 1000/13)
		}
		for i, r := range res.Rejects {
			if r.Row != 13*(i+1)-1 || !strings.Contains(r.Reason, "23514") || !strings.Contains(r.Reason, "n_not_13") {
				t.Fatalf("reject %d = %+v", i, r)
			}
		}
		if got := count(t, s, tbl.Name, "true"); got != 1000-1000/13 {
			t.Fatalf("table holds %d rows", got)
		}
	}
}

// A fresh write that meets existing rows (a replay after a crash) upserts
// instead of failing or rejecting.
func TestFreshFallsBackToUpsert(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	tbl := simpleTable("fallback")
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Columns: tbl.Columns, Rows: rowsN(100, func(i int) []any { return []any{int64(i), int64(i), "a"} })}
	if res, err := s.Write(ctx, tbl, &record.Batch{Columns: b.Columns, Rows: b.Rows[:50]}, sinks.WriteOptions{}); err != nil || res.Written != 50 {
		t.Fatal(res, err)
	}
	b.Rows[0][2] = "changed"
	res, err := s.Write(ctx, tbl, b, sinks.WriteOptions{Fresh: true})
	if err != nil || len(res.Rejects) != 0 || res.Written != 51 {
		t.Fatalf("Write = %+v, %v; want 51 written (50 new, 1 changed)", res, err)
	}
	if got := count(t, s, tbl.Name, "true"); got != 100 {
		t.Fatalf("table holds %d rows", got)
	}
}

// WriteTx joins the caller's transaction: nothing is visible before the
// commit, everything is gone after a rollback, and server rejects do not
// spoil the caller's transaction.
func TestWriteTx(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	tbl := simpleTable("wtx")
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "ALTER TABLE "+s.ident(tbl.Name)+" ADD CHECK (n <> 7)"); err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Columns: tbl.Columns, Rows: rowsN(20, func(i int) []any { return []any{int64(i), int64(i), "a"} })}

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.WriteTx(ctx, tx, tbl, b, sinks.WriteOptions{})
	if err != nil || res.Written != 19 || len(res.Rejects) != 1 || res.Rejects[0].Row != 7 {
		t.Fatalf("WriteTx = %+v, %v", res, err)
	}
	// A second batch in the same transaction, and the caller's own statement.
	b2 := &record.Batch{Columns: tbl.Columns, Rows: rowsN(5, func(i int) []any { return []any{int64(100 + i), int64(1), "b"} })}
	if res, err := s.WriteTx(ctx, tx, tbl, b2, sinks.WriteOptions{}); err != nil || res.Written != 5 {
		t.Fatalf("second WriteTx = %+v, %v", res, err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("caller's transaction unusable: %v", err)
	}
	// The staging table is left empty for the caller's next batch.
	var stage string
	if err := tx.QueryRow(ctx, `SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()
		AND relname LIKE 'transit_stage_%'`).Scan(&stage); err != nil {
		t.Fatalf("find staging table: %v", err)
	}
	var staged int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_temp."+quoteIdent(stage)).Scan(&staged); err != nil || staged != 0 {
		t.Fatalf("staging table holds %d rows (%v), want 0", staged, err)
	}
	if got := count(t, s, tbl.Name, "true"); got != 0 {
		t.Fatalf("%d rows visible before commit", got)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, s, tbl.Name, "true"); got != 0 {
		t.Fatalf("%d rows after rollback", got)
	}

	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := s.WriteTx(ctx, tx, tbl, b, sinks.WriteOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, s, tbl.Name, "true"); got != 19 {
		t.Fatalf("%d rows after commit, want 19", got)
	}
}

func TestPrepareMissingColumn(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	tbl := simpleTable("missing")
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		t.Fatal(err)
	}
	tbl.Columns = append(tbl.Columns, record.Column{Name: "extra_col", Type: record.Text})
	_, err := s.Prepare(ctx, tbl, true)
	if err == nil || !strings.Contains(err.Error(), "extra_col") {
		t.Fatalf("Prepare = %v, want an error naming extra_col", err)
	}
}

func TestFinishCatalog(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	a := simpleTable("fin_a")
	a.Indexes = []record.Index{{Name: "by_label", Columns: []string{"label"}}, {Columns: []string{"n"}, Unique: true}}
	b := simpleTable("fin_b")
	b.Indexes = []record.Index{{Name: "by_label", Columns: []string{"label"}}}
	b.ForeignKeys = []record.ForeignKey{{Columns: []string{"n"}, RefTable: "fin_a", RefColumns: []string{"id"}, OnDelete: "set null"}}
	for _, tbl := range []*record.Table{a, b} {
		if _, err := s.Prepare(ctx, tbl, true); err != nil {
			t.Fatal(err)
		}
		rows := rowsN(10, func(i int) []any { return []any{int64(i + 1), int64(i + 1), "l"} })
		if _, err := s.Write(ctx, tbl, &record.Batch{Columns: tbl.Columns, Rows: rows}, sinks.WriteOptions{Fresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for _, tbl := range []*record.Table{a, b} {
			if err := s.Finish(ctx, tbl, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	rows, err := s.Pool().Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`, s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		names = append(names, n)
	}
	want := "by_label fin_a_n_key fin_a_pkey fin_b_by_label fin_b_pkey"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("indexes %q, want %q", got, want)
	}
	var fks int
	_ = s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f'
		AND conname = 'fin_b_n_fkey' AND confdeltype = 'n'`, s.ident("fin_b")).Scan(&fks)
	if fks != 1 {
		t.Errorf("%d foreign keys fin_b_n_fkey ON DELETE SET NULL, want 1", fks)
	}
	// The identity continues after the copied ids.
	var id int64
	if err := s.Pool().QueryRow(ctx, "INSERT INTO "+s.ident("fin_a")+" (label) VALUES ('new') RETURNING id").Scan(&id); err != nil || id != 11 {
		t.Errorf("next identity = %d, %v; want 11", id, err)
	}
}

// A foreign key the data breaks fails Finish and stays marked NOT VALID;
// once the data is fixed, the next Finish validates it. A NOT VALID key of
// the user's own is left alone.
func TestFinishValidatesForeignKeys(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	a, b := simpleTable("val_a"), simpleTable("val_b")
	b.ForeignKeys = []record.ForeignKey{{Name: "b_to_a", Columns: []string{"n"}, RefTable: "val_a", RefColumns: []string{"id"}}}
	for i, tbl := range []*record.Table{a, b} {
		if _, err := s.Prepare(ctx, tbl, true); err != nil {
			t.Fatal(err)
		}
		// val_b's n runs one past val_a's ids: an orphan.
		rows := rowsN(5, func(j int) []any { return []any{int64(j + 1), int64(j + 1 + i), "l"} })
		if _, err := s.Write(ctx, tbl, &record.Batch{Columns: tbl.Columns, Rows: rows}, sinks.WriteOptions{Fresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		var validated bool
		var comment *string
		err := s.Pool().QueryRow(ctx, `SELECT convalidated, obj_description(oid, 'pg_constraint') FROM pg_constraint
			WHERE conrelid = to_regclass($1) AND conname = 'b_to_a'`, s.ident("val_b")).Scan(&validated, &comment)
		if err != nil {
			return "missing"
		}
		c := "<nil>"
		if comment != nil {
			c = *comment
		}
		return fmt.Sprintf("validated=%v comment=%s", validated, c)
	}
	if err := s.Finish(ctx, b, true); err == nil || !strings.Contains(err.Error(), "b_to_a") {
		t.Fatalf("Finish over an orphan: %v, want an error naming b_to_a", err)
	}
	if got := state(); got != "validated=false comment=transit: not validated yet" {
		t.Fatalf("after a failed validation: %s", got)
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM "+s.ident("val_b")+" WHERE n = 6"); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "validated=true comment=<nil>" {
		t.Fatalf("after the data was fixed: %s", got)
	}
	// The user's own NOT VALID key over orphans: Finish leaves it so.
	if _, err := s.Pool().Exec(ctx, "ALTER TABLE "+s.ident("val_b")+" DROP CONSTRAINT b_to_a; INSERT INTO "+s.ident("val_b")+
		" VALUES (9, 9, 'x'); ALTER TABLE "+s.ident("val_b")+" ADD CONSTRAINT b_to_a FOREIGN KEY (n) REFERENCES "+
		s.ident("val_a")+" (id) NOT VALID"); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, b, true); err != nil {
		t.Fatalf("Finish with the user's NOT VALID key: %v", err)
	}
	if got := state(); got != "validated=false comment=<nil>" {
		t.Fatalf("the user's NOT VALID key: %s", got)
	}
}

// A table without a key is appended to with COPY.
func TestNoKeyTable(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	tbl := simpleTable("nokey")
	tbl.Key = nil
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Columns: tbl.Columns, Rows: rowsN(10, func(i int) []any { return []any{int64(i), nil, nil} })}
	res, err := s.Write(ctx, tbl, b, sinks.WriteOptions{})
	if err != nil || res.Written != 10 {
		t.Fatalf("Write = %+v, %v", res, err)
	}
}
