package postgres

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// TestOneRowUpsertMatchesStaged: a one-row upsert (one statement, see
// writeRow) gives what the staging-table path gives for the same writes:
// insert, older and newer versions, an identical row, a NULL version, a
// row the server refuses, an identity key; directly and through pgbouncer.
func TestOneRowUpsertMatchesStaged(t *testing.T) {
	t.Parallel()
	direct := testenv.Postgres(t)
	for _, via := range []string{"direct", "pgbouncer"} {
		t.Run(via, func(t *testing.T) {
			url := direct
			if via == "pgbouncer" {
				url = testenv.Pgbouncer(t, direct)
			}
			ctx := context.Background()
			type step struct {
				row     []any
				opts    sinks.WriteOptions
				written int
				reject  string // part of the reason, "" for none
			}
			v := sinks.WriteOptions{Version: "n"}
			steps := []step{
				{[]any{int64(1), int64(5), "a"}, v, 1, ""},
				{[]any{int64(1), int64(4), "older"}, v, 0, ""},
				{[]any{int64(1), int64(6), "newer"}, v, 1, ""},
				{[]any{int64(1), int64(6), "newer"}, v, 0, ""},
				{[]any{int64(1), nil, "no version"}, v, 0, ""},
				{[]any{int64(2), int64(13), "x"}, v, 0, "23514"},
				{[]any{int64(1), int64(13), "x"}, v, 0, "23514"},
				{[]any{int64(3), nil, "b"}, sinks.WriteOptions{}, 1, ""},
				{[]any{int64(3), int64(1), "b"}, sinks.WriteOptions{}, 1, ""},
				{[]any{int64(3), int64(1), "b"}, sinks.WriteOptions{}, 0, ""},
				{[]any{int64(3), int64(0), "older, no version"}, sinks.WriteOptions{}, 1, ""},
			}
			var got [2][]string
			for m, staged := range []bool{false, true} {
				// One schema each, so that the table names in the reasons agree.
				s, err := Open(ctx, url, fmt.Sprintf("rw_%s_%v", via, staged))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				tbl := simpleTable("rw") // id is an identity column
				if _, err := s.Prepare(ctx, tbl, true); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Pool().Exec(ctx, "ALTER TABLE "+s.ident(tbl.Name)+" ADD CONSTRAINT n_not_13 CHECK (n <> 13)"); err != nil {
					t.Fatal(err)
				}
				for i, st := range steps {
					res, err := s.write(ctx, tbl, &record.Batch{Columns: tbl.Columns, Rows: [][]any{st.row}}, st.opts, staged)
					if err != nil {
						t.Fatalf("staged=%v step %d: %v", staged, i, err)
					}
					if res.Written != st.written {
						t.Errorf("staged=%v step %d %v: written %d, want %d", staged, i, st.row, res.Written, st.written)
					}
					reasons := make([]string, len(res.Rejects))
					for j, r := range res.Rejects {
						reasons[j] = fmt.Sprintf("row %d: %s", r.Row, r.Reason)
					}
					if (st.reject == "") != (len(res.Rejects) == 0) || (st.reject != "" && !strings.Contains(reasons[0], st.reject)) {
						t.Errorf("staged=%v step %d %v: rejects %q, want one with %q", staged, i, st.row, reasons, st.reject)
					}
					got[m] = append(got[m], fmt.Sprintf("step %d: written %d, rejects %q, table %v",
						i, res.Written, reasons, readText(t, s.Pool(), s.Schema(), tbl.Name)))
				}
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				for i := range got[0] {
					if got[0][i] != got[1][i] {
						t.Errorf("one statement: %s\nstaged:        %s", got[0][i], got[1][i])
					}
				}
			}
		})
	}
}
