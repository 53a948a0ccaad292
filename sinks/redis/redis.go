// Package redis writes feed records into Redis with a version
// compare-and-set, so an older write never overwrites a newer one and a
// replayed batch changes nothing.
//
// Interface: a small feed-oriented one (Record, Writer.Write), not
// sinks.Sink: a feed delivers keyed, versioned change events rather than
// record.Batch rows of a prepared table. Rejects reuse sinks.Reject, and as
// in sinks.Sink per-record problems come back as rejects while an error
// means the whole batch failed (the caller retries it; replays are no-ops).
//
// Storage layout (decided here, one script for both formats):
//   - hash format: the record's fields are hash fields; the hidden field
//     "_v" holds the version.
//   - json format: the value is {"_v":"<version>","data":{...}} with "_v"
//     always written first.
//
// Versions are stored as 20-digit zero-padded decimals so Lua compares the
// full uint64 range exactly as strings. A write applies only when its
// version is newer than the stored one (equal = already applied, nothing
// changes, the TTL is not refreshed). A delete with version v removes the
// key when its version is <= v and leaves a tombstone, the sibling key
// "<key>:_tomb" holding v with TombstoneTTL, so an older upsert that arrives
// later cannot resurrect the key. Tombstones expire: a stale upsert arriving
// after TombstoneTTL would win, so TombstoneTTL must exceed the longest
// replay window of the feed (default 24h).
//
// Speed: one Write is one pipeline of script calls, each carrying up to
// about chunkArgs arguments' worth of records (hundreds), which the script
// applies in order with the same compare-and-set per key. A new key costs
// three commands inside the script (HGET, EXISTS, HSET), an update of a
// hash three (HGET, HSET over the old fields, HLEN to see that none is
// left over; plus PERSIST without a TTL); the per-call cost of EVALSHA is
// paid once per chunk. A feed's initial build writes with WritePlain
// (DEL, HSET), which skips the compare-and-set where nothing can be newer.
//
// The key and its tombstone are two keys in one script; on Redis Cluster
// put a hash tag in the key template so both land in one slot (there each
// record is its own script call, as a call may touch only one slot).
package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sinks/doc"
)

// Format says how a record is stored.
type Format string

// The formats.
const (
	FormatHash Format = "hash"
	FormatJSON Format = "json"
)

// VersionField is the hidden hash field (and JSON wrapper member) holding
// a key's version.
const VersionField = "_v"

// TombSuffix is appended to a key to name its tombstone.
const TombSuffix = ":_tomb"

// Options configure a Writer.
type Options struct {
	// KeyTemplate builds the key from the record's fields, e.g.
	// "customer:{customer_id}". Every {name} must be a non-NULL field.
	KeyTemplate string
	Format      Format        // FormatHash (default) or FormatJSON
	TTL         time.Duration // 0 = keys do not expire
	// Columns limits the stored fields to these (empty = all fields).
	Columns []string
	// TombstoneTTL is how long a delete's tombstone lives (default 24h).
	TombstoneTTL time.Duration
}

// Record is one change to write.
type Record struct {
	Fields  map[string]any // column values; for a delete at least the key fields
	Version uint64         // the feed uses commit LSNs
	Delete  bool
}

// Result says what one Write did.
type Result struct {
	Written int            // keys set or deleted
	Skipped int            // records ignored as older or already applied
	Rejects []sinks.Reject // records refused, each with its reason
}

// Writer writes records into one Redis database.
type Writer struct {
	c      goredis.UniversalClient
	opts   Options
	key    []keyPart
	loaded bool // scripts are in the server's cache
}

type keyPart struct {
	lit   string
	field string // set when this part is a {field}
}

// New returns a Writer on client (owned by the caller).
func New(client goredis.UniversalClient, opts Options) (*Writer, error) {
	if opts.Format == "" {
		opts.Format = FormatHash
	}
	if opts.Format != FormatHash && opts.Format != FormatJSON {
		return nil, fmt.Errorf("redis sink: unknown format %q (hash or json)", opts.Format)
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = 24 * time.Hour
	}
	parts, err := parseTemplate(opts.KeyTemplate)
	if err != nil {
		return nil, err
	}
	for _, c := range opts.Columns {
		if c == VersionField {
			return nil, fmt.Errorf("redis sink: column name %q is reserved", VersionField)
		}
	}
	return &Writer{c: client, opts: opts, key: parts}, nil
}

func parseTemplate(s string) ([]keyPart, error) {
	var parts []keyPart
	hasField := false
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			parts = append(parts, keyPart{lit: s})
			break
		}
		if i > 0 {
			parts = append(parts, keyPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("redis sink: key template %q: unclosed {", s)
		}
		name := s[i+1 : i+j]
		if name == "" {
			return nil, fmt.Errorf("redis sink: key template: empty {}")
		}
		parts = append(parts, keyPart{field: name})
		hasField = true
		s = s[i+j+1:]
	}
	if !hasField {
		return nil, fmt.Errorf("redis sink: key template %q names no {field}", s)
	}
	return parts, nil
}

// Key builds r's key from the template, or says why it cannot.
func (w *Writer) Key(fields map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range w.key {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := fields[p.field]
		if !ok {
			return "", fmt.Errorf("key field %q missing", p.field)
		}
		if v == nil {
			return "", fmt.Errorf("key field %q is NULL", p.field)
		}
		b.WriteString(doc.IDPart(v))
	}
	return b.String(), nil
}

// padVersion renders v so string order equals numeric order.
func padVersion(v uint64) string {
	var buf [20]byte
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[:])
}

// batchScript applies many records in one call, in order: the per-call
// cost of EVALSHA (command parsing, script setup, a reply) is paid once
// per chunk instead of once per record.
//
// KEYS: per record its key and its tombstone (KEYS[2i-1], KEYS[2i]).
// ARGV: ttl ms, tombstone ttl ms, format ("hash" or "json"), then per
// record: op ("u" upsert or "d" delete), version, n, and n payload
// arguments (hash: field/value pairs; json: the document; delete: none).
// The reply has one integer per record: 1 applied, 0 skipped.
//
// Upsert: skipped when the tombstone or the stored version is >= the
// record's; otherwise the key is replaced (so fields the new row lacks go
// away) and gets the TTL. Delete: skipped when the stored version is
// newer; otherwise the tombstone is raised to the version and the key, if
// any, is removed (1 only when a key was removed).
//
// Commands per hash upsert: a new key HGET, EXISTS(key, tombstone), HSET;
// a newer version over a hash of the same fields HGET, HSET, HLEN (HSET
// overwrites in place; HLEN shows whether a field the new row lacks is
// left, and only then the key is deleted and written again), plus PERSIST
// when the writer has no TTL (a TTL set earlier must not outlive it).
var batchScript = goredis.NewScript(`
local function cur(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'hash' then return redis.call('HGET', k, '_v') end
  if t == 'string' then
    local s = redis.call('GET', k)
    return string.match(s, '^{"_v":"(%d+)"')
  end
  return false
end
local hash = ARGV[3] == 'hash'
-- stored: the version of k, read the cheap way for the writer's format
-- (one call), falling back to cur when k holds the other kind; the second
-- value says k holds the writer's kind.
local function stored(k)
  if hash then
    local r = redis.pcall('HGET', k, '_v')
    if type(r) == 'table' then return cur(k), false end
    return r, true
  end
  local s = redis.pcall('GET', k)
  if type(s) == 'table' then return cur(k), false end
  if not s then return false, true end
  return string.match(s, '^{"_v":"(%d+)"'), true
end
local ttl = tonumber(ARGV[1])
local tombttl = tonumber(ARGV[2])
local out = {}
local a, k = 4, 1
local nargv = #ARGV
while a <= nargv do
  local op, v, n = ARGV[a], ARGV[a+1], tonumber(ARGV[a+2])
  local key, tk = KEYS[k], KEYS[k+1]
  local r = 0
  if op == 'u' then
    local c, same = stored(key)
    local write, fresh = false, false
    if c then
      -- A live key's version is above its tombstone's (a delete removes
      -- the key, an upsert must beat the tombstone), so c alone decides.
      write = c < v
    elseif redis.call('EXISTS', key, tk) == 0 then
      write, fresh = true, true
    else
      local tomb = redis.call('GET', tk)
      write = not (tomb and tomb >= v)
      same = false
    end
    if write then
      if hash then
        if c and same then
          redis.call('HSET', key, '_v', v, unpack(ARGV, a+3, a+2+n))
          if redis.call('HLEN', key) ~= n/2 + 1 then
            redis.call('DEL', key)
            redis.call('HSET', key, '_v', v, unpack(ARGV, a+3, a+2+n))
          elseif ttl == 0 then
            redis.call('PERSIST', key)
          end
        else
          if not fresh then redis.call('DEL', key) end
          redis.call('HSET', key, '_v', v, unpack(ARGV, a+3, a+2+n))
        end
        if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
      elseif ttl > 0 then
        redis.call('SET', key, ARGV[a+3], 'PX', ttl)
      else
        redis.call('SET', key, ARGV[a+3])
      end
      r = 1
    end
  else
    local c = stored(key)
    if not (c and c > v) then
      local tomb = redis.call('GET', tk)
      if not tomb or tomb < v then
        redis.call('SET', tk, v, 'PX', tombttl)
      end
      -- A key without a version (not written by transit) goes too: it
      -- is under the feed's keys, and verify --repair deletes it this way.
      if c or redis.call('EXISTS', key) == 1 then
        redis.call('DEL', key)
        r = 1
      end
    end
  end
  out[#out+1] = r
  a = a + 3 + n
  k = k + 2
end
return out
`)

// chunkArgs bounds one script call: about this many arguments (keys and
// ARGV together), so one call stays short (Redis runs nothing else while
// a script runs) and its reply small.
const chunkArgs = 8192

// Write applies recs: one script call per chunk of records, all chunks in
// one pipeline. Records of one key apply in order. On Redis Cluster, where
// one script may touch only one hash slot, each record is its own call.
func (w *Writer) Write(ctx context.Context, recs []Record) (Result, error) {
	res, err := w.write(ctx, recs)
	if err != nil && isNoScript(err) {
		// The script was flushed between load and Exec: load it again
		// and redo the batch (safe: every write is versioned).
		w.loaded = false
		res, err = w.write(ctx, recs)
	}
	if err != nil {
		return Result{}, fmt.Errorf("redis sink: write: %w", err)
	}
	return res, nil
}

// WritePlain writes recs without the compare-and-set: every upsert
// replaces its key whatever it holds (a stored version, newer or not, and
// the tombstone are not looked at), so each costs two commands (DEL,
// HSET) instead of three to four. Deletes are refused (rejects).
//
// Only for a backfill whose keys nothing else writes meanwhile and whose
// every later change arrives afterwards with a newer version, through
// Write: a feed's initial build (see feeds.Feed.Rebuild). Replaying it is
// harmless (the same values again).
//
// Plain commands in one pipeline, not the script: Redis runs a command
// sent by a client at about half the cost of the same command called from
// Lua. Per chunk of records one DEL of all their keys, then per record
// HSET (hash; plus PEXPIRE with a TTL) or SET (json).
func (w *Writer) WritePlain(ctx context.Context, recs []Record) (Result, error) {
	var res Result
	if len(recs) == 0 {
		return res, nil
	}
	ttl := w.opts.TTL
	hash := w.opts.Format == FormatHash
	pipe := w.c.Pipeline()
	// chunk records share one DEL; every execRows records the pipeline is
	// sent, so what is in flight per call stays small whatever the batch.
	const chunk, execRows = 512, 2048
	keys := make([]any, 1, 1+min(chunk, len(recs)))
	keys[0] = "DEL"
	cmds := make([][]any, 0, min(chunk, len(recs)))
	flush := func() {
		if len(cmds) == 0 {
			return
		}
		if hash {
			pipe.Do(ctx, keys...)
		}
		for _, c := range cmds {
			pipe.Do(ctx, c...)
			if ttl > 0 && hash {
				pipe.PExpire(ctx, c[1].(string), ttl)
			}
		}
		keys = append(make([]any, 0, cap(keys)), "DEL")
		cmds = cmds[:0]
	}
	exec := func() error {
		flush()
		if pipe.Len() == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	// Boxed once per call: the version (one for a whole backfill) and the
	// field names, instead of once per record.
	var version uint64
	var vbox any
	names := make(map[string]any, 16)
	var arena []any
	n, pending := 0, 0
	for i, r := range recs {
		if r.Delete {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: "a delete cannot be written plain"})
			continue
		}
		key, err := w.Key(r.Fields)
		if err != nil {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
			continue
		}
		if vbox == nil || r.Version != version {
			version, vbox = r.Version, padVersion(r.Version)
		}
		// Each command's arguments are cut from one arena per few
		// thousand records instead of allocated one by one (the client
		// keeps them until Exec; a full arena is left to them).
		need := 4 + 2*len(r.Fields)
		if !hash {
			need = 7
		}
		if cap(arena)-len(arena) < need {
			arena = make([]any, 0, max(need, execRows*need))
		}
		c := arena[len(arena) : len(arena) : len(arena)+need]
		if hash {
			c = append(c, "HSET", key, VersionField, vbox)
		} else {
			c = append(c, "SET", key, vbox, "")
		}
		c, err = w.payloadNames(c, r.Fields, names)
		if err != nil {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
			continue
		}
		if !hash {
			// payload appended the document after the version and
			// the count's place: SET key doc.
			c = append(c[:2], c[4])
			if ttl > 0 {
				c = append(c, "PX", ttl.Milliseconds())
			}
		}
		if len(c) <= need { // not moved out of the arena by an append
			arena = arena[:len(arena)+len(c)]
		}
		keys = append(keys, c[1])
		cmds = append(cmds, c)
		n++
		pending++
		if len(cmds) == chunk {
			flush()
		}
		if pending == execRows {
			if err := exec(); err != nil {
				return Result{}, fmt.Errorf("redis sink: write: %w", err)
			}
			pending = 0
		}
	}
	if err := exec(); err != nil {
		return Result{}, fmt.Errorf("redis sink: write: %w", err)
	}
	res.Written = n
	return res, nil
}

// call is one script call being assembled.
type call struct {
	keys []string
	argv []any
	rows int
}

func (w *Writer) write(ctx context.Context, recs []Record) (Result, error) {
	var res Result
	if len(recs) == 0 {
		return res, nil
	}
	if err := w.load(ctx); err != nil {
		return res, err
	}
	_, cluster := w.c.(*goredis.ClusterClient)
	ttl := strconv.FormatInt(w.opts.TTL.Milliseconds(), 10)
	tombTTL := strconv.FormatInt(w.opts.TombstoneTTL.Milliseconds(), 10)
	// Size each call's slices once: about 3 arguments per record plus a
	// pair per field (the first record's count), up to one chunk.
	per := 3 + 2*len(recs[0].Fields)
	size := min(chunkArgs+2*per, 3+len(recs)*per)
	head := func() []any {
		a := make([]any, 0, size)
		return append(a, ttl, tombTTL, string(w.opts.Format))
	}
	var calls []call
	cur := call{argv: head(), keys: make([]string, 0, 2*min(len(recs), size/per+1))}
	flush := func() {
		if cur.rows > 0 {
			calls = append(calls, cur)
		}
		cur = call{argv: head(), keys: make([]string, 0, 2*min(len(recs), size/per+1))}
	}
	for i, r := range recs {
		key, err := w.Key(r.Fields)
		if err != nil {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
			continue
		}
		v := padVersion(r.Version)
		if r.Delete {
			cur.argv = append(cur.argv, "d", v, "0")
		} else {
			n0 := len(cur.argv)
			cur.argv = append(cur.argv, "u", v, "")
			cur.argv, err = w.payload(cur.argv, r.Fields)
			if err != nil {
				cur.argv = cur.argv[:n0]
				res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
				continue
			}
			cur.argv[n0+2] = strconv.Itoa(len(cur.argv) - n0 - 3)
		}
		cur.keys = append(cur.keys, key, key+TombSuffix)
		cur.rows++
		if cluster || len(cur.keys)+len(cur.argv) >= chunkArgs {
			flush()
		}
	}
	flush()
	if len(calls) == 0 {
		return res, nil
	}
	pipe := w.c.Pipeline()
	cmds := make([]*goredis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = batchScript.EvalSha(ctx, pipe, c.keys, c.argv...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Result{}, err
	}
	for i, c := range cmds {
		ns, err := c.Int64Slice()
		if err != nil {
			return Result{}, err
		}
		if len(ns) != calls[i].rows {
			return Result{}, fmt.Errorf("script answered %d results for %d records", len(ns), calls[i].rows)
		}
		for _, n := range ns {
			if n == 1 {
				res.Written++
			} else {
				res.Skipped++
			}
		}
	}
	return res, nil
}

func isNoScript(err error) bool {
	return goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// load makes sure the script is cached on the server, so EVALSHA in a
// pipeline does not fail with NOSCRIPT (redis.Script's own fallback works
// only outside pipelines).
func (w *Writer) load(ctx context.Context) error {
	if w.loaded {
		return nil
	}
	if err := batchScript.Load(ctx, w.c).Err(); err != nil {
		return fmt.Errorf("redis sink: load script: %w", err)
	}
	w.loaded = true
	return nil
}

func (w *Writer) selected(fields map[string]any) map[string]any {
	if len(w.opts.Columns) == 0 {
		return fields
	}
	m := make(map[string]any, len(w.opts.Columns))
	for _, c := range w.opts.Columns {
		if v, ok := fields[c]; ok {
			m[c] = v
		}
	}
	return m
}

// payload appends the record's stored form to argv: hash: field/value
// pairs (NULL = field absent); json: the whole stored document.
func (w *Writer) payload(argv []any, fields map[string]any) ([]any, error) {
	return w.payloadNames(argv, fields, nil)
}

// payloadNames is payload with names, when not nil, caching the field
// names boxed as any (one allocation per name instead of per record).
func (w *Writer) payloadNames(argv []any, fields map[string]any, names map[string]any) ([]any, error) {
	f := w.selected(fields)
	if _, ok := f[VersionField]; ok {
		return argv, fmt.Errorf("field %q is reserved", VersionField)
	}
	if w.opts.Format == FormatJSON {
		data, err := json.Marshal(jsonValues(f))
		if err != nil {
			return argv, fmt.Errorf("encode json: %w", err)
		}
		v := argv[len(argv)-2].(string)
		doc := make([]byte, 0, len(data)+40)
		doc = append(doc, `{"_v":"`...)
		doc = append(doc, v...)
		doc = append(doc, `","data":`...)
		doc = append(doc, data...)
		doc = append(doc, '}')
		return append(argv, doc), nil
	}
	for k, x := range f {
		if x == nil {
			continue // NULL = field absent
		}
		if names == nil {
			argv = append(argv, k, argValue(x))
			continue
		}
		name, ok := names[k]
		if !ok {
			name = k
			names[k] = name
		}
		argv = append(argv, name, argValue(x))
	}
	return argv, nil
}

// argValue is x as a command argument with the text doc.IDPart gives it:
// a string, []byte or integer as it is (the client writes it as that text
// without a copy or a new allocation), anything else as IDPart's string.
func argValue(x any) any {
	switch x.(type) {
	case string, []byte, int64, int:
		return x
	}
	return doc.IDPart(x)
}

// jsonValues turns []byte into strings so JSON shows text, not base64.
func jsonValues(f map[string]any) map[string]any {
	var out map[string]any
	for k, x := range f {
		if b, ok := x.([]byte); ok {
			if out == nil {
				out = make(map[string]any, len(f))
				for k2, y := range f {
					out[k2] = y
				}
			}
			out[k] = string(b)
		}
	}
	if out == nil {
		return f
	}
	return out
}
