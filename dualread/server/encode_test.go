package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

// appendResponse writes exactly what encoding/json writes for the same
// answer, whatever the values.
func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\there\n", "\x00\x1f\x7f", "é ü 日本",
		"line\u2028sep\u2029", "bad \xff utf8", strings.Repeat("x", 300)}
	vals := []any{nil, int64(-42), int64(1 << 60), true, false, 1.5, 1e21, 0.000001, float64(3), uint64(1 << 63),
		[]byte("bytes"), []byte(nil), time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), record.Invalid{Reason: "bad <date>", Raw: "0000-00-00"},
		json.RawMessage(`{"a":1}`), map[string]any{"z": 1, "a": []any{"x", nil}}}
	for _, s := range strs {
		vals = append(vals, s)
	}
	for i, v := range vals {
		for _, ported := range []bool{false, true} {
			fields := map[string]any{"id": int64(i), "v": v, "<odd key>": strs[i%len(strs)], "Z": nil}
			es := &entityServe{fields: []string{"id", "v", "<odd key>", "Z"}}
			slices.Sort(es.fields)
			out := &response{Entity: "orders", ID: []any{strs[i%len(strs)], int64(i)}, Phase: "migrating", Source: "new", Ported: ported}
			got, ok := appendResponse(nil, es, out, fields)
			if !ok {
				t.Fatalf("%#v: not encoded", v)
			}
			want := &bytes.Buffer{}
			ref := *out
			ref.Record = jsonRecord(fields)
			if err := json.NewEncoder(want).Encode(ref); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%#v:\n got %s\nwant %s", v, got, want.Bytes())
			}
		}
	}
	// Fields that are not the entity's columns go the slow way.
	es := &entityServe{fields: []string{"a", "b"}}
	if _, ok := appendResponse(nil, es, &response{}, map[string]any{"a": 1, "c": 2}); ok {
		t.Error("a record with other fields than the columns was encoded")
	}
	if _, ok := appendResponse(nil, es, &response{}, map[string]any{"a": 1}); ok {
		t.Error("a record with fewer fields than the columns was encoded")
	}
}
