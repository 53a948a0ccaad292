package pgrepl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopLogical()
	os.Exit(code)
}

type env struct {
	url   string
	names Names
	conn  *pgx.Conn
}

func newEnv(t *testing.T, ddl ...string) *env {
	t.Helper()
	u := testenv.LogicalPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, q := range ddl {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &env{url: u, names: NamesFor("plan "+t.Name(), "feed"), conn: conn}
}

func (e *env) exec(t *testing.T, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := e.conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func (e *env) setup(t *testing.T, tables ...string) *Slot {
	t.Helper()
	s, err := Setup(context.Background(), e.url, e.names, tables)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// collect streams until want transactions arrived (or fail is returned for
// the transaction numbered failAt, 1-based, 0 = never) and returns them.
func (e *env) collect(t *testing.T, want, failAt int) []Tx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []Tx
	errFail := errors.New("fail")
	err := Stream(ctx, e.url, e.names, func(_ context.Context, tx Tx) error {
		if len(got)+1 == failAt {
			return errFail
		}
		got = append(got, tx)
		if len(got) == want {
			cancel()
		}
		return nil
	}, StreamOptions{StatusInterval: 50 * time.Millisecond})
	if len(got) != want && !(failAt > 0 && errors.Is(err, errFail)) || err == nil {
		t.Fatalf("stream: %v (got %d of %d transactions)", err, len(got), want)
	}
	return got
}

func TestNames(t *testing.T) {
	n := NamesFor("My Plan!", strings.Repeat("feed", 30))
	if len(n.Slot) > 63 || len(n.Publication) > 63 || n.Slot == n.Publication {
		t.Fatalf("names %+v", n)
	}
	if n2 := NamesFor("My Plan!", strings.Repeat("feed", 31)); n2.Slot == n.Slot {
		t.Fatal("long names collide")
	}
	if n := NamesFor("a-B", "c"); n.Slot != "transit_a_b_c_slot" {
		t.Fatalf("slot %q", n.Slot)
	}
}

func TestSetupIdempotent(t *testing.T) {
	e := newEnv(t, "CREATE TABLE a (id int PRIMARY KEY)", "CREATE TABLE b (id int PRIMARY KEY)")
	s := e.setup(t, "public.a")
	if !s.Created || s.Snapshot == "" || s.Start == 0 {
		t.Fatalf("first setup: %+v", s)
	}
	_ = s.Close(context.Background())
	s2 := e.setup(t, "public.a", "b")
	if s2.Created || s2.Start != s.Start {
		t.Fatalf("second setup: %+v (first start %v)", s2, s.Start)
	}
	rows := testenv.QueryStrings(t, e.url,
		"SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", e.names.Publication)
	if fmt.Sprint(rows) != "[[a] [b]]" {
		t.Fatalf("published %v", rows)
	}
	e.setup(t, "b")
	rows = testenv.QueryStrings(t, e.url,
		"SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", e.names.Publication)
	if fmt.Sprint(rows) != "[[b]]" {
		t.Fatalf("published %v after narrowing", rows)
	}
}

func TestChanges(t *testing.T) {
	e := newEnv(t, "CREATE TABLE c (id int PRIMARY KEY, name text, n numeric, at timestamptz, big bigint)")
	s := e.setup(t, "public.c")
	_ = s.Close(context.Background())
	e.exec(t,
		"INSERT INTO c VALUES (1, 'ann', 1.5, '2024-01-02 03:04:05+00', 9007199254740993)",
		"UPDATE c SET name = NULL WHERE id = 1",
		"UPDATE c SET id = 2 WHERE id = 1",
		"DELETE FROM c WHERE id = 2",
		"INSERT INTO c (id) VALUES (3)",
		"TRUNCATE c",
	)
	txs := e.collect(t, 6, 0)
	var last LSN
	for i, tx := range txs {
		if len(tx.Changes) != 1 || tx.CommitLSN <= last || tx.EndLSN < tx.CommitLSN || tx.CommitTime.IsZero() {
			t.Fatalf("tx %d: %+v", i, tx)
		}
		last = tx.CommitLSN
	}
	ins := txs[0].Changes[0]
	if ins.Table != "public.c" || ins.Op != Insert || ins.Key["id"] != int32(1) || ins.New["name"] != "ann" ||
		ins.New["big"] != int64(9007199254740993) {
		t.Fatalf("insert %+v", ins)
	}
	if at, ok := ins.New["at"].(time.Time); !ok || !at.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("at = %#v", ins.New["at"])
	}
	if up := txs[1].Changes[0]; up.Op != Update || up.New["name"] != nil || up.Key["id"] != int32(1) {
		t.Fatalf("update %+v", up)
	}
	if up := txs[2].Changes[0]; up.Op != Update || up.Key["id"] != int32(1) || up.New["id"] != int32(2) {
		t.Fatalf("key update %+v", up)
	}
	if del := txs[3].Changes[0]; del.Op != Delete || del.Key["id"] != int32(2) || len(del.Key) != 1 || del.New != nil {
		t.Fatalf("delete %+v", del)
	}
	if tr := txs[5].Changes[0]; tr.Op != Truncate || tr.Table != "public.c" {
		t.Fatalf("truncate %+v", tr)
	}
}

func TestTransactionArrivesTogether(t *testing.T) {
	e := newEnv(t, "CREATE TABLE c (id int PRIMARY KEY)", "CREATE TABLE d (id int PRIMARY KEY)")
	s := e.setup(t, "c", "d")
	_ = s.Close(context.Background())
	e.exec(t, "BEGIN", "INSERT INTO c SELECT generate_series(1, 100)", "INSERT INTO d VALUES (1)",
		"DELETE FROM c WHERE id = 5", "COMMIT", "INSERT INTO d VALUES (2)")
	txs := e.collect(t, 2, 0)
	if n := len(txs[0].Changes); n != 102 {
		t.Fatalf("first transaction has %d changes, want 102", n)
	}
	if txs[0].Changes[100].Table != "public.d" || len(txs[1].Changes) != 1 {
		t.Fatalf("transactions %+v", txs[1])
	}
}

// TestSnapshotThenStreamNoGap backfills from the exported snapshot while a
// writer changes the table, then applies the stream, and compares.
func TestSnapshotThenStreamNoGap(t *testing.T) {
	e := newEnv(t, "CREATE TABLE c (id int PRIMARY KEY, v int)",
		"INSERT INTO c SELECT g, 0 FROM generate_series(1, 2000) g")
	s := e.setup(t, "c")
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		w, err := pgx.Connect(ctx, e.url)
		if err != nil {
			t.Error(err)
			return
		}
		defer w.Close(ctx)
		for i := 1; ; i++ {
			select {
			case <-stop:
				_, _ = w.Exec(ctx, "INSERT INTO c VALUES (-1, -1)") // end marker
				return
			default:
			}
			q := fmt.Sprintf("INSERT INTO c VALUES (%d, %d) ON CONFLICT (id) DO UPDATE SET v = excluded.v;"+
				"UPDATE c SET v = v + 1 WHERE id = %d; DELETE FROM c WHERE id = %d", 2000+i, i, i%2000+1, i%1000+500)
			if _, err := w.Exec(ctx, q); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	state := map[int32]int32{}
	err := s.Backfill(ctx, func(tx pgx.Tx) error {
		time.Sleep(100 * time.Millisecond) // let the writer run during the backfill
		rows, err := tx.Query(ctx, "SELECT id, v FROM c")
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, v int32
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			state[id] = v
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done := errors.New("done")
	n := 0
	err = Stream(sctx, e.url, e.names, func(_ context.Context, tx Tx) error {
		for _, c := range tx.Changes {
			n++
			switch c.Op {
			case Insert, Update:
				delete(state, c.Key["id"].(int32))
				state[c.New["id"].(int32)] = c.New["v"].(int32)
				if c.New["id"] == int32(-1) {
					return done
				}
			case Delete:
				delete(state, c.Key["id"].(int32))
			}
		}
		return nil
	}, StreamOptions{})
	if !errors.Is(err, done) {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d changes streamed: the writer did not overlap", n)
	}
	rows := testenv.QueryStrings(t, e.url, "SELECT id, v FROM c ORDER BY id")
	if len(rows) != len(state) {
		t.Fatalf("rebuilt %d rows, table has %d", len(state), len(rows))
	}
	for _, r := range rows {
		var id, v int32
		fmt.Sscan(r[0], &id)
		fmt.Sscan(r[1], &v)
		if got, ok := state[id]; !ok || got != v {
			t.Fatalf("row %d: rebuilt %d (%v), table %d", id, got, ok, v)
		}
	}
}

func TestConfirmRestartResumes(t *testing.T) {
	e := newEnv(t, "CREATE TABLE c (id int PRIMARY KEY)")
	s := e.setup(t, "c")
	_ = s.Close(context.Background())
	e.exec(t, "INSERT INTO c VALUES (1)", "INSERT INTO c VALUES (2)", "INSERT INTO c VALUES (3)")
	first := e.collect(t, 2, 0) // 1 and 2 applied and confirmed
	st, err := SlotStatus(context.Background(), e.url, e.names.Slot)
	if err != nil {
		t.Fatal(err)
	}
	if st.Confirmed != first[1].EndLSN {
		t.Fatalf("confirmed %v, want %v", st.Confirmed, first[1].EndLSN)
	}
	// Transaction 3 arrives, apply fails: it must not be confirmed.
	e.collect(t, 1, 1)
	e.exec(t, "INSERT INTO c VALUES (4)")
	again := e.collect(t, 2, 0)
	if again[0].Changes[0].New["id"] != int32(3) || again[1].Changes[0].New["id"] != int32(4) {
		t.Fatalf("after restart got %+v, %+v", again[0].Changes, again[1].Changes)
	}
	// Re-setup resumes from the confirmed position.
	s2 := e.setup(t, "c")
	if s2.Created || s2.Start != again[1].EndLSN {
		t.Fatalf("resume start %v, want %v", s2.Start, again[1].EndLSN)
	}
	if st, err := SlotStatus(context.Background(), e.url, e.names.Slot); err != nil || st.LagBytes < 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestDrop(t *testing.T) {
	e := newEnv(t, "CREATE TABLE c (id int PRIMARY KEY)")
	s := e.setup(t, "c")
	_ = s.Close(context.Background())
	e.exec(t, "INSERT INTO c SELECT generate_series(1, 1000)")
	held, err := Drop(context.Background(), e.url, e.names)
	if err != nil {
		t.Fatal(err)
	}
	if held <= 0 {
		t.Fatalf("held %d bytes", held)
	}
	rows := testenv.QueryStrings(t, e.url, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1),
		(SELECT count(*) FROM pg_publication WHERE pubname = $2)`, e.names.Slot, e.names.Publication)
	if fmt.Sprint(rows) != "[[0 0]]" {
		t.Fatalf("after drop %v", rows)
	}
	if _, err := Drop(context.Background(), e.url, e.names); err != nil {
		t.Fatalf("second drop: %v", err)
	}
}
