package postgres

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// fieldEncoder appends one non-NULL value, as converted by its column's
// converter, in PostgreSQL's binary COPY format (without the length word).
type fieldEncoder func(buf []byte, v any) ([]byte, error)

const usFromUnixToY2K = 946_684_800 * 1_000_000

// badValue is returned by an encoder given a Go type its converter never
// produces; it fails the COPY instead of panicking in pgconn's reader.
type badValue struct{ v any }

func (e badValue) Error() string { return fmt.Sprintf("postgres sink: cannot encode %T", e.v) }

// enc adapts a typed append function to a fieldEncoder.
func enc[T any](f func(buf []byte, x T) []byte) fieldEncoder {
	return func(buf []byte, v any) ([]byte, error) {
		x, ok := v.(T)
		if !ok {
			return buf, badValue{v}
		}
		return f(buf, x), nil
	}
}

// fastEncoder returns the allocation-free encoder for a target type, or nil
// when the sink leaves the type to pgx.
func fastEncoder(typname string) fieldEncoder {
	be := binary.BigEndian
	switch typname {
	case "bool":
		return enc(func(buf []byte, x bool) []byte {
			if x {
				return append(buf, 1)
			}
			return append(buf, 0)
		})
	case "int2":
		return enc(func(buf []byte, x int64) []byte { return be.AppendUint16(buf, uint16(x)) })
	case "int4":
		return enc(func(buf []byte, x int64) []byte { return be.AppendUint32(buf, uint32(x)) })
	case "int8":
		return enc(func(buf []byte, x int64) []byte { return be.AppendUint64(buf, uint64(x)) })
	case "float4":
		return enc(func(buf []byte, x float64) []byte { return be.AppendUint32(buf, math.Float32bits(float32(x))) })
	case "float8":
		return enc(func(buf []byte, x float64) []byte { return be.AppendUint64(buf, math.Float64bits(x)) })
	case "text", "varchar", "bpchar", "json":
		return enc(func(buf []byte, x string) []byte { return append(buf, x...) })
	case "jsonb":
		return enc(func(buf []byte, x string) []byte { return append(append(buf, 1), x...) })
	case "bytea":
		return enc(func(buf []byte, x []byte) []byte { return append(buf, x...) })
	case "date":
		return enc(func(buf []byte, t time.Time) []byte {
			if t.Location() == time.UTC {
				// In UTC the day is the Unix time's: no calendar arithmetic.
				return be.AppendUint32(buf, uint32(int32(floorDiv(t.Unix(), 86400)-10957)))
			}
			y, m, d := t.Date()
			days := floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400) - 10957
			return be.AppendUint32(buf, uint32(int32(days)))
		})
	case "timestamp":
		return enc(func(buf []byte, t time.Time) []byte {
			if t.Location() != time.UTC {
				// A timestamp is the wall clock: drop the zone, keep the reading.
				y, mo, d := t.Date()
				h, mi, s := t.Clock()
				t = time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
			}
			return be.AppendUint64(buf, uint64(t.UnixMicro()-usFromUnixToY2K))
		})
	case "timestamptz":
		return enc(func(buf []byte, t time.Time) []byte {
			return be.AppendUint64(buf, uint64(t.UnixMicro()-usFromUnixToY2K))
		})
	case "time":
		return enc(func(buf []byte, x pgtype.Time) []byte { return be.AppendUint64(buf, uint64(x.Microseconds)) })
	case "uuid":
		return enc(func(buf []byte, x pgtype.UUID) []byte { return append(buf, x.Bytes[:]...) })
	case "bit", "varbit":
		return enc(func(buf []byte, x pgtype.Bits) []byte {
			return append(be.AppendUint32(buf, uint32(x.Len)), x.Bytes...)
		})
	case "numeric":
		return func(buf []byte, v any) ([]byte, error) {
			switch x := v.(type) {
			case decimalText:
				return appendNumericBinary(buf, string(x)), nil
			case int64:
				var scratch [24]byte
				return appendNumericBinary(buf, string(strconv.AppendInt(scratch[:0], x, 10))), nil
			case float64:
				var sign uint16
				switch {
				case math.IsNaN(x):
					sign = 0xC000
				case math.IsInf(x, 1):
					sign = 0xD000
				case math.IsInf(x, -1):
					sign = 0xF000
				default:
					var scratch [32]byte
					return appendNumericBinary(buf, string(strconv.AppendFloat(scratch[:0], x, 'f', -1, 64))), nil
				}
				buf = be.AppendUint32(buf, 0)
				return be.AppendUint32(buf, uint32(sign)<<16), nil
			}
			return buf, badValue{v}
		}
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// copyReader streams rows in binary COPY format, encoding them as the
// server side of pgconn.CopyFrom asks for more.
type copyReader struct {
	enc  []fieldEncoder
	rows [][]any
	idx  []int
	next int
	buf  []byte
	off  int
	done bool
	err  error
}

var copyHeader = []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")

func (r *copyReader) reset(enc []fieldEncoder, rows [][]any, idx []int) {
	r.enc, r.rows, r.idx, r.next, r.off, r.done, r.err = enc, rows, idx, 0, 0, false, nil
	r.buf = append(r.buf[:0], copyHeader...)
}

func (r *copyReader) fill(want int) {
	be := binary.BigEndian
	for len(r.buf)-r.off < want && r.next < len(r.idx) {
		row := r.rows[r.idx[r.next]]
		r.next++
		r.buf = be.AppendUint16(r.buf, uint16(len(r.enc)))
		for j, v := range row {
			if v == nil {
				r.buf = be.AppendUint32(r.buf, math.MaxUint32) // -1: NULL
				continue
			}
			at := len(r.buf)
			r.buf = append(r.buf, 0, 0, 0, 0)
			var err error
			if r.buf, err = r.enc[j](r.buf, v); err != nil {
				r.err = err
				return
			}
			be.PutUint32(r.buf[at:], uint32(len(r.buf)-at-4))
		}
	}
	if r.next == len(r.idx) && !r.done {
		r.buf = be.AppendUint16(r.buf, math.MaxUint16) // trailer: -1
		r.done = true
	}
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		if r.done {
			return 0, io.EOF
		}
	}
	r.fill(len(p))
	if r.err != nil {
		return 0, r.err
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}
