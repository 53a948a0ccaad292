package mysql

import (
	"fmt"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

// TestDateNum checks the DATE + 0 decoding against time.Date for every day
// of a few centuries, and the values that are not days.
func TestDateNum(t *testing.T) {
	for d := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2400; d = d.AddDate(0, 0, 1) {
		y, m, dd := d.Date()
		n := int64(y*10000 + int(m)*100 + dd)
		got, ok := dateNum(n).(time.Time)
		if !ok || !got.Equal(d) || got.Location() != time.UTC {
			t.Fatalf("dateNum(%d) = %#v, want %v", n, dateNum(n), d)
		}
		text := []byte(fmt.Sprintf("%04d-%02d-%02d", y, m, dd))
		if got := decodeDate(text); got != any(d) {
			t.Fatalf("decodeDate(%s) = %#v, want %v", text, got, d)
		}
	}
	for _, y := range []int{1, 4, 100, 400, 1600, 1900, 2000, 9999} {
		want := time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC)
		if got := civilDate(y, 3, 1); got != want {
			t.Errorf("civilDate(%d, 3, 1) = %v, want %v", y, got, want)
		}
	}
	for n, want := range map[int64]record.Invalid{
		0:         {Raw: "0000-00-00", Reason: "zero date"},
		20200015:  {Raw: "2020-00-15", Reason: "zero date"},
		20200500:  {Raw: "2020-05-00", Reason: "zero date"},
		20230229:  {Raw: "2023-02-29", Reason: "not a calendar date"},
		20240431:  {Raw: "2024-04-31", Reason: "not a calendar date"},
		20241301:  {Raw: "2024-13-01", Reason: "unparsable date"},
		-1:        {Raw: "-1", Reason: "unparsable date"},
		100000000: {Raw: "100000000", Reason: "unparsable date"},
	} {
		if got := dateNum(n); got != any(want) {
			t.Errorf("dateNum(%d) = %#v, want %#v", n, got, want)
		}
	}
	if got := dateNum(20240229); got != any(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("dateNum(20240229) = %#v", got)
	}
}
