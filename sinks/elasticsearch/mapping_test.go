package elasticsearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
	es "github.com/transitdb/transit/sinks/elasticsearch"
)

var allTypes = &record.Table{Name: "t", Key: []string{"id"}, Columns: []record.Column{
	{Name: "id", Type: record.Int, Bits: 64},
	{Name: "flag", Type: record.Bool},
	{Name: "big", Type: record.Uint, Bits: 64},
	{Name: "f4", Type: record.Float, Bits: 32},
	{Name: "f8", Type: record.Float, Bits: 64},
	{Name: "money", Type: record.Decimal, Precision: 12, Scale: 2},
	{Name: "huge", Type: record.Decimal},
	{Name: "title", Type: record.Text},
	{Name: "uid", Type: record.UUID},
	{Name: "blob", Type: record.Bytes},
	{Name: "day", Type: record.Date},
	{Name: "at", Type: record.Timestamp},
	{Name: "attz", Type: record.TimestampTZ},
	{Name: "meta", Type: record.JSON},
	{Name: "tod", Type: record.Time},
}}

func TestMappingFor(t *testing.T) {
	m := MappingTypes(es.MappingFor(allTypes, map[string]string{"uid": "text", "money": "scaled_float"}))
	want := map[string]string{"id": "long", "flag": "boolean", "big": "unsigned_long", "f4": "float", "f8": "double",
		"money": "scaled_float/100", "huge": "double", "title": "text+keyword", "uid": "text", "blob": "binary",
		"day": "date", "at": "date", "attz": "date", "meta": "flattened", "tod": "keyword", es.IDField: "keyword"}
	for f, w := range want {
		if m[f] != w {
			t.Errorf("%s: %s, want %s", f, m[f], w)
		}
	}
	if len(m) != len(want) {
		t.Errorf("%d fields, want %d: %v", len(m), len(want), m)
	}
}

// MappingTypes summarises a mapping as field → type (with the scaling
// factor or keyword sub-field).
func MappingTypes(m map[string]any) map[string]string {
	out := map[string]string{}
	for f, v := range m["properties"].(map[string]any) {
		d := v.(map[string]any)
		s := d["type"].(string)
		if sf, ok := d["scaling_factor"]; ok {
			s += fmt.Sprintf("/%v", sf)
		}
		if _, ok := d["fields"]; ok {
			s += "+keyword"
		}
		out[f] = s
	}
	return out
}

// TestEveryTypeRoundTrip writes a value of every logical type through the
// derived mapping and reads back, by Scan, what the store holds.
func TestEveryTypeRoundTrip(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		tg := newTarget(t, b.url, func(c *es.Config) { c.Mapping, c.Table = nil, allTypes })
		gen := genOf(tg, 1)
		must(t, tg.Create(ctx, gen))
		at := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
		d := doc.Doc{ID: "7", Version: 42, Fields: map[string]any{
			"id": int64(7), "flag": true, "big": uint64(18446744073709551615), "f4": float64(float32(1.5)),
			"f8": 0.1, "money": "1234.50", "huge": "123456789012345678901234567890.123456789",
			"title": "Ünïcode \"quoted\"\n\ttab \x01", "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
			"blob": []byte{0, 1, 2, 255}, "day": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			"at": at, "attz": at.In(time.FixedZone("x", 3600)), "meta": `{"a": [1, 2.5, "x"], "b": {"c": null}}`,
			"tod": "13:14:15.5", "extra": nil,
		}}
		mustWrite(t, tg, gen, []doc.Doc{d})
		got := scanAll(t, tg, gen)["7"]
		if got.Version != 42 {
			t.Errorf("version %d, want 42", got.Version)
		}
		want := map[string]string{
			"id": "7", "flag": "true", "big": "18446744073709551615", "f4": "1.5", "f8": "0.1",
			"money": "1234.50", "huge": "123456789012345678901234567890.123456789",
			"title": `"Ünïcode \"quoted\"\n\ttab \u0001"`, "uid": `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`,
			"blob": `"AAEC/w=="`, "day": `"2024-02-29"`, "at": `"2024-02-29T13:14:15.123456Z"`,
			"attz": `"2024-02-29T13:14:15.123456Z"`, "meta": `{"a":[1,2.5,"x"],"b":{"c":null}}`,
			"tod": `"13:14:15.5"`, "extra": "null",
		}
		for f, w := range want {
			b, _ := json.Marshal(got.Fields[f])
			if string(b) != w {
				t.Errorf("%s: stored %s, want %s", f, b, w)
			}
		}
		if _, ok := got.Fields[es.IDField]; ok {
			t.Errorf("Scan left %s in the fields", es.IDField)
		}
	})
}
