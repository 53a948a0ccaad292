package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/sinks/doc"
)

// client is testenv.Redis: a client and a key prefix of the test's own.
func client(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	return testenv.Redis(t)
}

func writer(t testing.TB, c *goredis.Client, o Options) *Writer {
	t.Helper()
	w, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func write(t testing.TB, w *Writer, recs ...Record) Result {
	t.Helper()
	res, err := w.Write(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func up(id int, name string, v uint64) Record {
	return Record{Fields: map[string]any{"id": id, "name": name}, Version: v}
}

func TestVersionCAS(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	w := writer(t, c, Options{KeyTemplate: p + "c:{id}"})
	if r := write(t, w, up(1, "b", 20)); r.Written != 1 {
		t.Fatalf("first write: %+v", r)
	}
	if r := write(t, w, up(1, "a", 10)); r.Written != 0 || r.Skipped != 1 {
		t.Fatalf("older write applied: %+v", r)
	}
	if r := write(t, w, up(1, "x", 20)); r.Written != 0 {
		t.Fatalf("equal version applied: %+v", r)
	}
	got := c.HGetAll(ctx, p+"c:1").Val()
	if got["name"] != "b" || got["_v"] != padVersion(20) {
		t.Fatalf("stored %v", got)
	}
	if r := write(t, w, up(1, "c", 30)); r.Written != 1 {
		t.Fatalf("newer write: %+v", r)
	}
	if got := c.HGet(ctx, p+"c:1", "name").Val(); got != "c" {
		t.Fatalf("name = %q", got)
	}
	// Versions past 2^53 still compare exactly.
	big := uint64(1<<63 + 1)
	write(t, w, up(1, "big", big))
	write(t, w, up(1, "less", big-1))
	if got := c.HGet(ctx, p+"c:1", "name").Val(); got != "big" {
		t.Fatalf("name = %q after big versions", got)
	}
}

func TestDeleteThenStaleUpsert(t *testing.T) {
	for _, f := range []Format{FormatHash, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			c, p := client(t)
			ctx := context.Background()
			w := writer(t, c, Options{KeyTemplate: p + "c:{id}", Format: f})
			write(t, w, up(1, "a", 10))
			if r := write(t, w, Record{Fields: map[string]any{"id": 1}, Version: 5, Delete: true}); r.Written != 0 {
				t.Fatalf("older delete applied: %+v", r)
			}
			if n := c.Exists(ctx, p+"c:1").Val(); n != 1 {
				t.Fatal("older delete removed the key")
			}
			if r := write(t, w, Record{Fields: map[string]any{"id": 1}, Version: 20, Delete: true}); r.Written != 1 {
				t.Fatalf("delete: %+v", r)
			}
			if n := c.Exists(ctx, p+"c:1").Val(); n != 0 {
				t.Fatal("key still there after delete")
			}
			if r := write(t, w, up(1, "stale", 15)); r.Written != 0 {
				t.Fatalf("stale upsert resurrected the key: %+v", r)
			}
			if n := c.Exists(ctx, p+"c:1").Val(); n != 0 {
				t.Fatal("stale upsert resurrected the key")
			}
			if ttl := c.PTTL(ctx, p+"c:1"+TombSuffix).Val(); ttl <= 0 {
				t.Fatalf("tombstone ttl = %v", ttl)
			}
			if r := write(t, w, up(1, "new", 21)); r.Written != 1 {
				t.Fatalf("newer upsert after delete: %+v", r)
			}
		})
	}
}

func TestTTL(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	for _, f := range []Format{FormatHash, FormatJSON} {
		w := writer(t, c, Options{KeyTemplate: p + string(f) + ":{id}", Format: f, TTL: time.Minute})
		write(t, w, up(1, "a", 1))
		ttl := c.PTTL(ctx, p+string(f)+":1").Val()
		if ttl <= 0 || ttl > time.Minute {
			t.Fatalf("%s: ttl = %v", f, ttl)
		}
	}
	w := writer(t, c, Options{KeyTemplate: p + "none:{id}"})
	write(t, w, up(1, "a", 1))
	if ttl := c.PTTL(ctx, p+"none:1").Val(); ttl != -1 {
		t.Fatalf("no-TTL key has ttl %v", ttl)
	}
}

func TestFormatsAndColumns(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	fields := map[string]any{"id": 7, "name": "ann", "note": nil, "blob": []byte("xy"), "secret": "s"}
	cols := []string{"id", "name", "note", "blob"}
	wh := writer(t, c, Options{KeyTemplate: p + "h:{id}", Columns: cols})
	wj := writer(t, c, Options{KeyTemplate: p + "j:{id}", Format: FormatJSON, Columns: cols})
	write(t, wh, Record{Fields: fields, Version: 3})
	write(t, wj, Record{Fields: fields, Version: 3})
	h := c.HGetAll(ctx, p+"h:7").Val()
	want := map[string]string{"_v": padVersion(3), "id": "7", "name": "ann", "blob": "xy"}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("hash = %v, want %v", h, want)
	}
	var doc struct {
		V    string         `json:"_v"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(c.Get(ctx, p+"j:7").Val()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.V != padVersion(3) || doc.Data["name"] != "ann" || doc.Data["blob"] != "xy" ||
		doc.Data["note"] != nil || len(doc.Data) != 4 {
		t.Fatalf("json = %+v", doc)
	}
	// An update drops fields the new row no longer has.
	write(t, wh, Record{Fields: map[string]any{"id": 7, "name": nil}, Version: 4})
	if h := c.HGetAll(ctx, p+"h:7").Val(); len(h) != 2 || h["id"] != "7" {
		t.Fatalf("hash after update = %v", h)
	}
}

func TestRejects(t *testing.T) {
	c, p := client(t)
	w := writer(t, c, Options{KeyTemplate: p + "o:{org}:{id}"})
	res := write(t, w,
		Record{Fields: map[string]any{"org": 1, "id": 1}, Version: 1},
		Record{Fields: map[string]any{"id": 2}, Version: 1},
		Record{Fields: map[string]any{"org": nil, "id": 3}, Version: 1},
		Record{Fields: map[string]any{"org": 1, "id": 4, "_v": 9}, Version: 1},
	)
	if res.Written != 1 || len(res.Rejects) != 3 {
		t.Fatalf("result %+v", res)
	}
	for i, r := range res.Rejects {
		if r.Row != i+1 || r.Reason == "" {
			t.Fatalf("reject %d = %+v", i, r)
		}
	}
	if !strings.Contains(res.Rejects[1].Reason, "NULL") {
		t.Fatalf("reason %q", res.Rejects[1].Reason)
	}
	if _, err := New(c, Options{KeyTemplate: "nofield"}); err == nil {
		t.Fatal("template without field accepted")
	}
}

func TestReplayIsNoop(t *testing.T) {
	c, p := client(t)
	w := writer(t, c, Options{KeyTemplate: p + "r:{id}", Format: FormatJSON})
	var batch []Record
	for i := range 50 {
		batch = append(batch, up(i, fmt.Sprint("n", i), uint64(100+i)))
	}
	batch = append(batch, Record{Fields: map[string]any{"id": 3}, Version: 500, Delete: true})
	if r := write(t, w, batch...); r.Written != 51 {
		t.Fatalf("first: %+v", r)
	}
	before := dump(t, w, p)
	if r := write(t, w, batch...); r.Written != 0 || r.Skipped != 51 {
		t.Fatalf("replay: %+v", r)
	}
	if after := dump(t, w, p); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("replay changed the store")
	}
	if len(before) != 49 {
		t.Fatalf("%d keys, want 49", len(before))
	}
}

func dump(t testing.TB, w *Writer, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := w.Scan(context.Background(), prefix, 7, func(es []Entry) error {
		for _, e := range es {
			if _, dup := out[e.Key]; dup {
				return fmt.Errorf("key %s twice", e.Key)
			}
			out[e.Key] = fmt.Sprint(e.Version, e.Fields, string(e.JSON))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScan(t *testing.T) {
	c, p := client(t)
	w := writer(t, c, Options{KeyTemplate: p + "s:{id}"})
	var batch []Record
	for i := range 2500 {
		batch = append(batch, up(i, "x", uint64(i+1)))
	}
	write(t, w, batch...)
	write(t, w, Record{Fields: map[string]any{"id": 0}, Version: 99999, Delete: true})
	got := dump(t, w, p)
	if len(got) != 2499 {
		t.Fatalf("scan found %d keys, want 2499", len(got))
	}
	if v := got[p+"s:10"]; !strings.HasPrefix(v, "11 map[id:10 name:x]") {
		t.Fatalf("entry = %q", v)
	}
}

// BenchmarkWrite writes 100k records in batches of 1000.
func BenchmarkWrite(b *testing.B) {
	c, p := client(b)
	w := writer(b, c, Options{KeyTemplate: p + "b:{id}"})
	const n, size = 100_000, 1000
	batches := make([][]Record, n/size)
	for i := range n {
		batches[i/size] = append(batches[i/size], Record{
			Fields:  map[string]any{"id": i, "name": "customer name", "city": "Berlin", "n": i * 3},
			Version: uint64(i + 1),
		})
	}
	ctx := context.Background()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for j := range batches {
			for k := range batches[j] {
				batches[j][k].Version += n // newer each round, so each write applies
			}
			if _, err := w.Write(ctx, batches[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBuild1M is a feed's initial build: 1,000,000 new keys (hash
// format, four fields, like a narrow table's rows) written in batches of
// 1000, as a rebuild does into an empty generation. Run it with
// -benchtime 1x; each iteration writes under a fresh prefix and the keys
// are removed (untimed) afterwards.
func BenchmarkBuild1M(b *testing.B) {
	c, p := client(b)
	const n, size = 1_000_000, 1000
	batch := make([]Record, size)
	for k := range batch {
		batch[k] = Record{Fields: map[string]any{"id": 0, "name": "customer name", "city": "Berlin", "n": 0}}
	}
	ctx := context.Background()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		prefix := fmt.Sprintf("%sb%d:", p, it)
		w := writer(b, c, Options{KeyTemplate: prefix + "{id}"})
		for j := 0; j < n/size; j++ {
			for k := range batch {
				id := j*size + k
				batch[k].Fields["id"] = id
				batch[k].Fields["n"] = id * 3
				batch[k].Version = uint64(id + 1)
			}
			res, err := w.Write(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			if res.Written != size {
				b.Fatalf("batch %d: %+v", j, res)
			}
		}
		b.StopTimer()
		clearPrefix(ctx, b, c, prefix)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// clear deletes the keys under prefix.
func clearPrefix(ctx context.Context, t testing.TB, c *goredis.Client, prefix string) {
	t.Helper()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 5000).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if next == 0 {
			return
		}
		cursor = next
	}
}

// TestBatchAcrossChunks writes one batch larger than a script call holds,
// with the same keys updated, deleted and rewritten on both sides of the
// chunk boundaries: records of one key must still apply in order.
func TestBatchAcrossChunks(t *testing.T) {
	for _, f := range []Format{FormatHash, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			c, p := client(t)
			w := writer(t, c, Options{KeyTemplate: p + "k:{id}", Format: f})
			const keys = 300
			var batch []Record
			for round := range 12 { // far more arguments than one call carries
				for i := range keys {
					v := uint64(round*keys + i + 1)
					switch {
					case round == 5 && i%3 == 0:
						batch = append(batch, Record{Fields: map[string]any{"id": i}, Version: v, Delete: true})
					case round > 5 && i%3 == 0:
						// stale: below the delete's version, must not resurrect
						batch = append(batch, up(i, "stale", uint64(5*keys)))
					default:
						batch = append(batch, up(i, fmt.Sprint("r", round), v))
					}
				}
			}
			if n := 2*len(batch) + 4*len(batch); n < 2*chunkArgs {
				t.Fatalf("batch of %d args does not span chunks", n)
			}
			res := write(t, w, batch...)
			if res.Written+res.Skipped != len(batch) || len(res.Rejects) != 0 {
				t.Fatalf("result %+v for %d records", res, len(batch))
			}
			got := dump(t, w, p)
			if len(got) != keys-keys/3 {
				t.Fatalf("%d keys, want %d", len(got), keys-keys/3)
			}
			for k, v := range got {
				if !strings.Contains(v, "r11") {
					t.Fatalf("%s = %s, want the last round's value", k, v)
				}
			}
			if r := write(t, w, batch...); r.Written != 0 {
				t.Fatalf("replay wrote %d", r.Written)
			}
		})
	}
}

// TestForeignKeyReplaced: a hash key without a version (not written by a
// feed) is replaced whole, not merged into.
func TestForeignKeyReplaced(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	c.HSet(ctx, p+"f:1", "old", "x")
	w := writer(t, c, Options{KeyTemplate: p + "f:{id}"})
	write(t, w, up(1, "a", 1))
	if h := c.HGetAll(ctx, p+"f:1").Val(); len(h) != 3 || h["old"] != "" {
		t.Fatalf("hash = %v", h)
	}
}

// TestUpdateInPlace: a newer version over a hash of the same fields is
// written over it (HSET, HLEN); the result is the new row exactly, a TTL
// the writer no longer has is removed, one it has is set again.
func TestUpdateInPlace(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	k := p + "u:1"
	withTTL := writer(t, c, Options{KeyTemplate: p + "u:{id}", TTL: time.Hour})
	write(t, withTTL, Record{Fields: map[string]any{"id": 1, "name": "a", "city": "x"}, Version: 10})
	if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
		t.Fatalf("ttl = %v", ttl)
	}
	// Same fields, newer: in place; the TTL stays set (written again).
	write(t, withTTL, Record{Fields: map[string]any{"id": 1, "name": "b", "city": "y"}, Version: 11})
	h := c.HGetAll(ctx, k).Val()
	if fmt.Sprint(h) != fmt.Sprint(map[string]string{"_v": padVersion(11), "id": "1", "name": "b", "city": "y"}) {
		t.Fatalf("hash = %v", h)
	}
	if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
		t.Fatalf("ttl after in-place update = %v", ttl)
	}
	// A writer without TTL: the key loses the old TTL.
	noTTL := writer(t, c, Options{KeyTemplate: p + "u:{id}"})
	if r := write(t, noTTL, Record{Fields: map[string]any{"id": 1, "name": "c", "city": "z"}, Version: 12}); r.Written != 1 {
		t.Fatalf("update: %+v", r)
	}
	if ttl := c.PTTL(ctx, k).Val(); ttl != -1 {
		t.Fatalf("ttl after an update without TTL = %v, want none", ttl)
	}
	// A field the new row lacks, with a new one in its place (the same
	// count): the old field goes.
	write(t, noTTL, Record{Fields: map[string]any{"id": 1, "name": "d", "zip": "9"}, Version: 13})
	h = c.HGetAll(ctx, k).Val()
	if fmt.Sprint(h) != fmt.Sprint(map[string]string{"_v": padVersion(13), "id": "1", "name": "d", "zip": "9"}) {
		t.Fatalf("hash after a changed field set = %v", h)
	}
	// A string key under a hash writer (another format) is replaced.
	c.Set(ctx, p+"u:2", `{"_v":"00000000000000000001","data":{}}`, 0)
	if r := write(t, noTTL, Record{Fields: map[string]any{"id": 2, "name": "e"}, Version: 5}); r.Written != 1 {
		t.Fatalf("over a string: %+v", r)
	}
	if h := c.HGetAll(ctx, p+"u:2").Val(); h["name"] != "e" || len(h) != 3 {
		t.Fatalf("hash over a string = %v", h)
	}
	// Older and equal versions still change nothing.
	if r := write(t, noTTL, Record{Fields: map[string]any{"id": 1, "name": "old"}, Version: 13}); r.Skipped != 1 {
		t.Fatalf("equal version: %+v", r)
	}
	if c.HGet(ctx, k, "name").Val() != "d" {
		t.Fatal("equal version changed the key")
	}
}

// TestWritePlain: the initial build's writes replace whatever a key holds
// (newer version, extra fields, another type) without looking, set the
// TTL, leave tombstones alone and refuse deletes.
func TestWritePlain(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	for _, f := range []Format{FormatHash, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			tpl := p + "pl" + string(f) + ":{id}"
			k := func(id int) string { return p + "pl" + string(f) + ":" + fmt.Sprint(id) }
			w := writer(t, c, Options{KeyTemplate: tpl, Format: f, TTL: time.Hour})
			c.HSet(ctx, k(1), "_v", padVersion(99), "stale", "x")
			c.Set(ctx, k(2), "foreign", 0)
			c.Set(ctx, k(3)+TombSuffix, padVersion(99), time.Hour)
			res, err := w.WritePlain(ctx, []Record{up(1, "a", 10), up(2, "b", 10), up(3, "c", 10), up(4, "d", 10),
				{Fields: map[string]any{"id": 5}, Version: 10, Delete: true}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Written != 4 || len(res.Rejects) != 1 || res.Rejects[0].Row != 4 {
				t.Fatalf("result %+v", res)
			}
			s, err := NewTarget(c, Options{KeyTemplate: tpl, Format: f}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			err = s.w.Scan(ctx, s.Prefix(), 100, func(es []Entry) error {
				for _, e := range es {
					name := e.Fields["name"]
					if f == FormatJSON {
						var d map[string]any
						_ = json.Unmarshal(e.JSON, &d)
						name = fmt.Sprint(d["name"], len(d))
					} else {
						name += fmt.Sprint(len(e.Fields))
					}
					got[e.Key] = fmt.Sprint(e.Version, " ", name)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{k(1): "10 a2", k(2): "10 b2", k(3): "10 c2", k(4): "10 d2"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("keys = %v, want %v", got, want)
			}
			for i := 1; i <= 4; i++ {
				if ttl := c.PTTL(ctx, k(i)).Val(); ttl <= 0 {
					t.Fatalf("%s: ttl = %v", k(i), ttl)
				}
			}
			if c.Get(ctx, k(3)+TombSuffix).Val() != padVersion(99) {
				t.Fatal("the tombstone changed")
			}
		})
	}
}

// TestSweep: Sweep deletes exactly the keys older than its version (hash
// or JSON), and keeps newer and equal ones, keys without a version and
// tombstones; over more keys than one SCAN page.
func TestSweep(t *testing.T) {
	c, p := client(t)
	ctx := context.Background()
	for _, f := range []Format{FormatHash, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			tpl := p + "sw" + string(f) + ":{id}"
			key := func(id int) string { return p + "sw" + string(f) + ":" + fmt.Sprint(id) }
			tg, err := NewTarget(c, Options{KeyTemplate: tpl, Format: f}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var recs []Record
			for i := 1; i <= 2500; i++ {
				recs = append(recs, up(i, "n", uint64(i%3)+9)) // versions 9, 10, 11
			}
			write(t, tg.w, recs...)
			c.HSet(ctx, key(9001), "name", "foreign")                           // no version
			c.Set(ctx, key(9002), "plain string", 0)                            // no version
			c.Set(ctx, key(9003)+TombSuffix, padVersion(1), time.Hour)          // a tombstone
			c.HSet(ctx, key(9004), "_v", padVersion(3), "name", "other format") // a hash under a JSON writer
			n, err := tg.Sweep(ctx, Generation, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i := 1; i <= 2500; i++ {
				exists := c.Exists(ctx, key(i)).Val() == 1
				if old := uint64(i%3)+9 < 10; old == exists {
					t.Fatalf("%s (version %d): exists %v after the sweep at 10", key(i), i%3+9, exists)
				} else if old {
					want++
				}
			}
			want++ // 9004 (version 3)
			if n != want {
				t.Fatalf("swept %d, want %d", n, want)
			}
			for _, k := range []string{key(9001), key(9002), key(9003) + TombSuffix} {
				if c.Exists(ctx, k).Val() != 1 {
					t.Fatalf("%s was swept", k)
				}
			}
			if c.Exists(ctx, key(9004)).Val() != 0 {
				t.Fatal("an old key of the other format was kept")
			}
		})
	}
}

// TestArgValueText: a value handed to Redis as it is (string, []byte,
// integers) or as text reads back as doc.IDPart's text, plain and through
// the script alike.
func TestArgValueText(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	fields := map[string]any{
		"id": int64(7), "s": "text", "b": []byte("raw"), "i": 42, "neg": int64(-9),
		"f": 1.5e-7, "t": time.Date(2024, 3, 1, 10, 2, 1, 500, time.FixedZone("x", 3600)),
	}
	for _, plain := range []bool{true, false} {
		w, err := New(c, Options{KeyTemplate: prefix + fmt.Sprint(plain) + ":{id}"})
		if err != nil {
			t.Fatal(err)
		}
		write := w.Write
		if plain {
			write = w.WritePlain
		}
		if res, err := write(ctx, []Record{{Fields: fields, Version: 1}}); err != nil || res.Written != 1 {
			t.Fatalf("plain %v: %+v %v", plain, res, err)
		}
		got, err := c.HGetAll(ctx, prefix+fmt.Sprint(plain)+":7").Result()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			if got[k] != doc.IDPart(v) {
				t.Errorf("plain %v: %s = %q, want %q", plain, k, got[k], doc.IDPart(v))
			}
		}
	}
}
