package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/transitdb/transit/record"
)

func TestPGType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		col  record.Column
		want string
	}{
		{record.Column{Type: record.Bool}, "boolean"},
		{record.Column{Type: record.Int, Bits: 8}, "smallint"},
		{record.Column{Type: record.Int, Bits: 16}, "smallint"},
		{record.Column{Type: record.Int, Bits: 24}, "integer"},
		{record.Column{Type: record.Int, Bits: 32}, "integer"},
		{record.Column{Type: record.Int, Bits: 64}, "bigint"},
		{record.Column{Type: record.Int}, "bigint"},
		{record.Column{Type: record.Uint, Bits: 8}, "smallint"},
		{record.Column{Type: record.Uint, Bits: 16}, "integer"},
		{record.Column{Type: record.Uint, Bits: 24}, "integer"},
		{record.Column{Type: record.Uint, Bits: 32}, "bigint"},
		{record.Column{Type: record.Uint, Bits: 64}, "numeric(20,0)"},
		{record.Column{Type: record.Float, Bits: 32}, "real"},
		{record.Column{Type: record.Float, Bits: 64}, "double precision"},
		{record.Column{Type: record.Decimal, Precision: 10, Scale: 2}, "numeric(10,2)"},
		{record.Column{Type: record.Decimal}, "numeric"},
		{record.Column{Type: record.Text, Length: 40}, "varchar(40)"},
		{record.Column{Type: record.Text, Length: 2, Fixed: true}, "varchar(2)"},
		{record.Column{Type: record.Text}, "text"},
		{record.Column{Type: record.Bytes, Length: 16, Fixed: true}, "bytea"},
		{record.Column{Type: record.Date}, "date"},
		{record.Column{Type: record.Time}, "time"},
		{record.Column{Type: record.Time, Precision: 3}, "time(3)"},
		{record.Column{Type: record.Timestamp}, "timestamp"},
		{record.Column{Type: record.Timestamp, Precision: 6}, "timestamp(6)"},
		{record.Column{Type: record.TimestampTZ, Precision: 2}, "timestamptz(2)"},
		{record.Column{Type: record.JSON}, "jsonb"},
		{record.Column{Type: record.UUID}, "uuid"},
		{record.Column{Type: record.Enum, Values: []string{"a"}}, "text"},
		{record.Column{Type: record.Set, Values: []string{"a"}}, "text"},
		{record.Column{Type: record.Bit, Bits: 1}, "bit(1)"},
		{record.Column{Type: record.Bit, Bits: 64}, "bit(64)"},
		{record.Column{Type: record.Bit}, "bit varying(64)"},
		{record.Column{Type: record.Year}, "smallint"},
		{record.Column{Type: record.Decimal, Precision: 10, TargetType: "money"}, "money"},
	}
	for _, c := range cases {
		if got := PGType(c.col); got != c.want {
			t.Errorf("PGType(%+v) = %q, want %q", c.col, got, c.want)
		}
	}
}

// appendNumericBinary must produce what pgx produces from the parsed value,
// byte for byte.
func TestNumericBinaryMatchesPgx(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	fixed := []string{"0", "-0", "0.00", "-0.000", "1", "-1", "10000", "9999", "0.0001", "0.00001",
		"123456789012345678901234567890.123", "+5", ".5", "5.", "100000000", "-0.000100", "1.50", "007.0700"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		for range r.IntN(25) {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(3) > 0 {
			b.WriteByte('.')
			for range r.IntN(25) {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		s := b.String()
		if _, _, ok := decimalDigits(s); ok {
			fixed = append(fixed, s)
		}
	}
	for _, s := range fixed {
		var n pgtype.Numeric
		norm := s
		if strings.HasPrefix(norm, ".") || strings.HasPrefix(norm, "-.") {
			norm = strings.Replace(norm, ".", "0.", 1)
		}
		norm = strings.TrimPrefix(strings.TrimSuffix(norm, "."), "+")
		if err := n.Scan(norm); err != nil {
			t.Fatalf("pgx cannot parse %q: %v", norm, err)
		}
		want, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := appendNumericBinary(nil, s)
		// pgx keeps the sign of a negative zero in its big.Int-free form and
		// drops dscale for zero; PostgreSQL normalises both, compare the rest.
		if isZero(s) {
			if !bytes.Equal(got[:6], []byte{0, 0, 0, 0, 0, 0}) {
				t.Errorf("%q: zero encodes as % x", s, got)
			}
			continue
		}
		if !bytes.Equal(got, normNumeric(want)) {
			t.Errorf("%q: got % x, pgx % x", s, got, want)
		}
	}
}

// normNumeric strips the zero base-10000 digits pgx leaves at the end of
// and start of its binary numeric (PostgreSQL strips them on receive).
func normNumeric(b []byte) []byte {
	nd := int(binary.BigEndian.Uint16(b))
	for nd > 0 && binary.BigEndian.Uint16(b[8+2*(nd-1):]) == 0 {
		nd--
	}
	out := append([]byte(nil), b[:8+2*nd]...)
	weight := int16(binary.BigEndian.Uint16(b[2:]))
	for nd > 0 && binary.BigEndian.Uint16(out[8:]) == 0 {
		out = append(out[:8], out[10:]...)
		nd--
		weight--
	}
	binary.BigEndian.PutUint16(out, uint16(nd))
	binary.BigEndian.PutUint16(out[2:], uint16(weight))
	return out
}

func isZero(s string) bool { return strings.Trim(s, "+-0.") == "" }

func TestIsDataError(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	for _, err := range []error{pg("22001"), pg("23505"), pg("23514"), pg("42804"), pg("21000"), pg("54000")} {
		if !IsDataError(err) {
			t.Errorf("IsDataError(%v) = false", err)
		}
	}
	for _, err := range []error{nil, pg("40001"), pg("42P01"), io.EOF} {
		if IsDataError(err) {
			t.Errorf("IsDataError(%v) = true", err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:s3cret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"postgres://h/db?password=s3cret&user=u":        "postgres://h/db?password=xxxxx&user=u",
		"host=h user=u password=s3cret dbname=d":        "host=h user=u password=xxxxx dbname=d",
		"host=h password='s3 cret' dbname=d":            "host=h password=xxxxx dbname=d",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, u := range []string{"postgres://u:s3cretpw@127.0.0.1:1/db?connect_timeout=1", "host=127.0.0.1 port=1 password=s3cretpw bogus=%%"} {
		_, err := Open(ctx, u, "x")
		if err == nil {
			t.Fatalf("Open(%q) succeeded", RedactURL(u))
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestDateRangeAndEncoding checks the date/timestamp range check and the
// date encoder, whose UTC fast paths skip the calendar, against the
// calendar in UTC and in another zone.
func TestDateRangeAndEncoding(t *testing.T) {
	west := time.FixedZone("UTC-10", -10*3600)
	east := time.FixedZone("UTC+14", 14*3600)
	for _, typ := range []string{"date", "timestamp", "timestamptz"} {
		cc := newConverter(record.Column{Name: "d", Type: record.Date}, targetCol{name: "d", typname: typ})
		for _, c := range []struct {
			t  time.Time
			ok bool
		}{
			{time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC), true},
			{time.Date(-4713, 12, 31, 23, 59, 59, 0, time.UTC), false},
			{time.Date(294275, 12, 31, 23, 59, 59, 0, time.UTC), true},
			{time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC), false},
			{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
			// The year is the zone's: 294276-01-01 in UTC+14 is still
			// 294275 in UTC, and the other way round.
			{time.Date(294275, 12, 31, 23, 0, 0, 0, east), true},
			{time.Date(294276, 1, 1, 1, 0, 0, 0, east), false},
			{time.Date(-4712, 1, 1, 1, 0, 0, 0, east), true},
		} {
			_, reason := cc.conv(c.t)
			if (reason == "") != c.ok {
				t.Errorf("%s %v: reason %q, want ok=%v", typ, c.t, reason, c.ok)
			}
		}
	}
	encode := fastEncoder("date")
	// 1600-01-01 is 400 Gregorian years, 146097 days, before 2000-01-01.
	want := int32(-146097)
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2500; d, want = d.AddDate(0, 0, 7), want+7 {
		for _, v := range []time.Time{d, d.Add(23*time.Hour + 59*time.Minute), time.Date(d.Year(), d.Month(), d.Day(), 23, 30, 0, 0, west)} {
			buf, err := encode(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if got := int32(binary.BigEndian.Uint32(buf)); got != want {
				t.Fatalf("date %v: day %d, want %d", v, got, want)
			}
		}
	}
}
