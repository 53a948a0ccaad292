package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

const benchBatch = 5000

// employees is the shape of the classic employees sample table.
func employees(name string) *record.Table {
	return &record.Table{
		Name: name,
		Key:  []string{"emp_no"},
		Columns: []record.Column{
			{Name: "emp_no", Type: record.Int, Bits: 32},
			{Name: "birth_date", Type: record.Date},
			{Name: "first_name", Type: record.Text, Length: 14},
			{Name: "last_name", Type: record.Text, Length: 16},
			{Name: "gender", Type: record.Enum, Values: []string{"M", "F"}},
			{Name: "hire_date", Type: record.Date},
		},
	}
}

var (
	firstNames = []string{"Georgi", "Bezalel", "Parto", "Chirstian", "Kyoichi", "Anneke", "Tzvetan", "Saniya"}
	lastNames  = []string{"Facello", "Simmel", "Bamford", "Koblick", "Maliniak", "Preusig", "Zielinski", "Kalloufi"}
)

// employeeBatches makes n batches of benchBatch rows with ids from 1 up.
func employeeBatches(tbl *record.Table, n int) []*record.Batch {
	out := make([]*record.Batch, n)
	base := time.Date(1953, 9, 2, 0, 0, 0, 0, time.UTC)
	for b := range out {
		rows := make([][]any, benchBatch)
		for i := range rows {
			id := b*benchBatch + i + 1
			rows[i] = []any{int64(id), base.AddDate(0, 0, id%4000), firstNames[id%8], lastNames[(id/8)%8],
				[]string{"M", "F"}[id%2], base.AddDate(30, 0, id%9000)}
		}
		out[b] = &record.Batch{Columns: tbl.Columns, Rows: rows}
	}
	return out
}

func benchWrite(b *testing.B, opts sinks.WriteOptions, replay bool) {
	s := openTestSink(b)
	ctx := context.Background()
	tbl := employees("employees")
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		b.Fatal(err)
	}
	batches := employeeBatches(tbl, min(b.N, 400))
	if replay {
		for _, bt := range batches {
			if _, err := s.Write(ctx, tbl, bt, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		bt := batches[i%len(batches)]
		if i > 0 && i%len(batches) == 0 && !replay {
			// Past the prepared batches: start a new table rather than
			// replaying, so every write inserts.
			b.StopTimer()
			tbl = employees(fmt.Sprintf("employees_%d", i))
			if _, err := s.Prepare(ctx, tbl, true); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		res, err := s.Write(ctx, tbl, bt, opts)
		if err != nil {
			b.Fatal(err)
		}
		if want := benchBatch * map[bool]int{true: 0, false: 1}[replay]; res.Written != want || len(res.Rejects) > 0 {
			b.Fatalf("wrote %d, %d rejects; want %d", res.Written, len(res.Rejects), want)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteFresh: plain COPY into the target.
func BenchmarkWriteFresh(b *testing.B) { benchWrite(b, sinks.WriteOptions{Fresh: true}, false) }

// BenchmarkWriteUpsert: COPY into the staging table, then INSERT … ON
// CONFLICT of rows that are all new.
func BenchmarkWriteUpsert(b *testing.B) { benchWrite(b, sinks.WriteOptions{}, false) }

// BenchmarkWriteUpsertReplay: the same through a batch already written,
// which changes nothing.
func BenchmarkWriteUpsertReplay(b *testing.B) { benchWrite(b, sinks.WriteOptions{}, true) }

// BenchmarkCopyFromBaseline is the floor: pgx CopyFrom of the same rows,
// without the sink's checks and conversions.
func BenchmarkCopyFromBaseline(b *testing.B) {
	s := openTestSink(b)
	ctx := context.Background()
	tbl := employees("employees")
	if _, err := s.Prepare(ctx, tbl, true); err != nil {
		b.Fatal(err)
	}
	batches := employeeBatches(tbl, min(b.N, 400))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%len(batches) == 0 {
			b.StopTimer()
			tbl = employees(fmt.Sprintf("employees_%d", i))
			if _, err := s.Prepare(ctx, tbl, true); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		_, err := s.Pool().CopyFrom(ctx, pgx.Identifier{s.Schema(), tbl.Name}, tbl.Names(),
			pgx.CopyFromRows(batches[i%len(batches)].Rows))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkConvertEncode is the sink's client-side cost alone: checking,
// converting and encoding a batch into binary COPY, without a server.
func BenchmarkConvertEncode(b *testing.B) {
	tbl := employees("employees")
	tgt := map[string]string{"emp_no": "int4", "birth_date": "date", "first_name": "varchar",
		"last_name": "varchar", "gender": "text", "hire_date": "date"}
	p := &writePlan{}
	for _, c := range tbl.Columns {
		tc := targetCol{name: c.Name, typname: tgt[c.Name], notNull: true}
		if tc.typname == "varchar" {
			tc.typmod = int32(c.Length + 4)
		}
		cc := newConverter(c, tc)
		p.cols = append(p.cols, cc)
		p.copyNeeded = p.copyNeeded || !cc.same
		p.enc = append(p.enc, fastEncoder(tc.typname))
	}
	batch := employeeBatches(tbl, 1)[0]
	buf := make([]byte, 64<<10)
	var r copyReader
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		cv := p.convert(batch)
		if len(cv.ok) != benchBatch {
			b.Fatal(cv.rejects)
		}
		r.reset(p.enc, cv.rows, cv.ok)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
		cv.release()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
}
