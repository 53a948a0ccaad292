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
// The key and its tombstone are two keys in one script; on Redis Cluster
// put a hash tag in the key template so both land in one slot.
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
		b.WriteString(formatValue(v))
	}
	return b.String(), nil
}

// formatValue renders a value as a hash field / key part.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// padVersion renders v so string order equals numeric order.
func padVersion(v uint64) string { return fmt.Sprintf("%020d", v) }

// Lua helpers: the stored version of KEYS[1] (false when none) and the
// tombstone's.
const luaCur = `
local function cur(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'hash' then return redis.call('HGET', k, '_v') end
  if t == 'string' then
    local s = redis.call('GET', k)
    return string.match(s, '^{"_v":"(%d+)"')
  end
  return false
end
`

// upsert: KEYS = key, tomb; ARGV = version, ttl ms, format, payload... .
// For hash the payload is field/value pairs, for json one string.
var upsertScript = goredis.NewScript(luaCur + `
local v = ARGV[1]
local tomb = redis.call('GET', KEYS[2])
if tomb and tomb >= v then return 0 end
local c = cur(KEYS[1])
if c and c >= v then return 0 end
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'hash' then
  redis.call('DEL', KEYS[1])
  local args = {'_v', v}
  for i = 4, #ARGV do args[#args+1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(args))
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
else
  if ttl > 0 then redis.call('SET', KEYS[1], ARGV[4], 'PX', ttl)
  else redis.call('SET', KEYS[1], ARGV[4]) end
end
return 1
`)

// del: KEYS = key, tomb; ARGV = version, tombstone ttl ms.
var deleteScript = goredis.NewScript(luaCur + `
local v = ARGV[1]
local c = cur(KEYS[1])
if c and c > v then return 0 end
local tomb = redis.call('GET', KEYS[2])
if not tomb or tomb < v then
  redis.call('SET', KEYS[2], v, 'PX', tonumber(ARGV[2]))
end
if c then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// Write applies recs in one pipeline. Records of one key apply in order.
func (w *Writer) Write(ctx context.Context, recs []Record) (Result, error) {
	res, err := w.write(ctx, recs)
	if err != nil && isNoScript(err) {
		// The scripts were flushed between load and Exec: load them again
		// and redo the batch (safe: every write is versioned).
		w.loaded = false
		res, err = w.write(ctx, recs)
	}
	if err != nil {
		return Result{}, fmt.Errorf("redis sink: write: %w", err)
	}
	return res, nil
}

func (w *Writer) write(ctx context.Context, recs []Record) (Result, error) {
	var res Result
	if len(recs) == 0 {
		return res, nil
	}
	if err := w.load(ctx); err != nil {
		return res, err
	}
	pipe := w.c.Pipeline()
	cmds := make([]*goredis.Cmd, 0, len(recs))
	ttl := strconv.FormatInt(w.opts.TTL.Milliseconds(), 10)
	tombTTL := strconv.FormatInt(w.opts.TombstoneTTL.Milliseconds(), 10)
	for i, r := range recs {
		key, err := w.Key(r.Fields)
		if err != nil {
			res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
			continue
		}
		keys := []string{key, key + TombSuffix}
		v := padVersion(r.Version)
		var cmd *goredis.Cmd
		if r.Delete {
			cmd = deleteScript.EvalSha(ctx, pipe, keys, v, tombTTL)
		} else {
			args, err := w.payload(v, ttl, r.Fields)
			if err != nil {
				res.Rejects = append(res.Rejects, sinks.Reject{Row: i, Reason: err.Error()})
				continue
			}
			cmd = upsertScript.EvalSha(ctx, pipe, keys, args...)
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) == 0 {
		return res, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Result{}, err
	}
	for _, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return Result{}, err
		}
		if n == 1 {
			res.Written++
		} else {
			res.Skipped++
		}
	}
	return res, nil
}

func isNoScript(err error) bool {
	return goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// load makes sure the scripts are cached on the server, so EVALSHA in a
// pipeline does not fail with NOSCRIPT (redis.Script's own fallback works
// only outside pipelines).
func (w *Writer) load(ctx context.Context) error {
	if w.loaded {
		return nil
	}
	for _, s := range []*goredis.Script{upsertScript, deleteScript} {
		if err := s.Load(ctx, w.c).Err(); err != nil {
			return fmt.Errorf("redis sink: load script: %w", err)
		}
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

func (w *Writer) payload(v, ttl string, fields map[string]any) ([]any, error) {
	f := w.selected(fields)
	if _, ok := f[VersionField]; ok {
		return nil, fmt.Errorf("field %q is reserved", VersionField)
	}
	if w.opts.Format == FormatJSON {
		data, err := json.Marshal(jsonValues(f))
		if err != nil {
			return nil, fmt.Errorf("encode json: %w", err)
		}
		doc := make([]byte, 0, len(data)+40)
		doc = append(doc, `{"_v":"`...)
		doc = append(doc, v...)
		doc = append(doc, `","data":`...)
		doc = append(doc, data...)
		doc = append(doc, '}')
		return []any{v, ttl, "json", doc}, nil
	}
	args := make([]any, 0, 3+2*len(f))
	args = append(args, v, ttl, "hash")
	for k, x := range f {
		if x == nil {
			continue // NULL = field absent
		}
		args = append(args, k, formatValue(x))
	}
	return args, nil
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
