package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/transitdb/transit/sinks/doc"
)

// Generation is the one generation of a Redis Target: the live keyspace.
//
// A Redis feed is rebuilt in place rather than into a second keyspace
// behind a switched pointer key: readers keep reading the keys they know
// ("customer:42") with one round trip and no pointer to follow, and a
// rebuild needs no second copy of the data in memory. In place is safe
// because every key carries its version: the rebuild writes each row with
// its slot's consistent point, which is newer than anything written before
// it, while changes after that point arrive with newer versions still; so
// at every moment each key holds a complete, correct value (the old one or
// a newer one). What a rebuild cannot overwrite is a stale key whose row
// is gone (say, its tombstone expired): Sweep removes every key older than
// the rebuild's version once the rebuild has caught up.
const Generation = "live"

// Target is a doc.Target over one Redis keyspace (see Generation).
type Target struct {
	w      *Writer
	prefix string
	id     func(map[string]any) string
}

var _ doc.Target = (*Target)(nil)

// NewTarget returns a Target writing with opts on client (owned by the
// caller). id renders a document's ID from the fields Scan reads back
// (strings, or decoded JSON values for FormatJSON); nil leaves Doc.ID the
// Redis key.
func NewTarget(client goredis.UniversalClient, opts Options, id func(map[string]any) string) (*Target, error) {
	w, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	prefix := opts.KeyTemplate
	if i := strings.IndexByte(prefix, '{'); i >= 0 {
		prefix = prefix[:i]
	}
	return &Target{w: w, prefix: prefix, id: id}, nil
}

// Prefix is the literal start of every key of the Target.
func (t *Target) Prefix() string { return t.prefix }

func (t *Target) check(gen string) error {
	if gen != Generation {
		return fmt.Errorf("redis target: no generation %q (a Redis feed has one, %q, rebuilt in place)", gen, Generation)
	}
	return nil
}

// Current always names the live keyspace.
func (t *Target) Current(context.Context) (string, error) { return Generation, nil }

// Generations lists the live keyspace.
func (t *Target) Generations(context.Context) ([]string, error) { return []string{Generation}, nil }

// Create checks gen: the live keyspace needs no preparing.
func (t *Target) Create(_ context.Context, gen string) error { return t.check(gen) }

// Ready checks gen: every write is visible as soon as it is made.
func (t *Target) Ready(_ context.Context, gen string) error { return t.check(gen) }

// Switch checks gen: readers always read the live keyspace.
func (t *Target) Switch(_ context.Context, gen string) error { return t.check(gen) }

// Drop refuses: the live keyspace is always current.
func (t *Target) Drop(_ context.Context, gen string) error {
	return fmt.Errorf("redis target: cannot drop %q, the current generation", gen)
}

// Write stores docs in the live keyspace, each under its version.
func (t *Target) Write(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	if err := t.check(gen); err != nil {
		return doc.Result{}, err
	}
	recs := make([]Record, len(docs))
	for i, d := range docs {
		recs[i] = Record{Fields: d.Fields, Version: d.Version, Delete: d.Delete}
	}
	res, err := t.w.Write(ctx, recs)
	if err != nil {
		return doc.Result{}, err
	}
	return doc.Result{Written: res.Written, Skipped: res.Skipped, Rejects: res.Rejects}, nil
}

// WritePlain stores docs in the live keyspace without the version
// compare-and-set (Writer.WritePlain): for a feed's initial build only,
// where nothing else writes the keyspace and every later change comes
// with a newer version (see feeds.plainSafe). Deletes are rejects.
func (t *Target) WritePlain(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	if err := t.check(gen); err != nil {
		return doc.Result{}, err
	}
	recs := make([]Record, len(docs))
	for i, d := range docs {
		recs[i] = Record{Fields: d.Fields, Version: d.Version, Delete: d.Delete}
	}
	res, err := t.w.WritePlain(ctx, recs)
	if err != nil {
		return doc.Result{}, err
	}
	return doc.Result{Written: res.Written, Skipped: res.Skipped, Rejects: res.Rejects}, nil
}

// Scan reads every key of the Target back: hash fields as strings, JSON
// documents decoded.
func (t *Target) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) error {
	if err := t.check(gen); err != nil {
		return err
	}
	// No set of keys seen (memory per key): doc.Target.Scan may yield a
	// document twice, and its callers tolerate it.
	return t.w.scan(ctx, t.prefix, 1000, nil, func(es []Entry) error {
		docs := make([]doc.Doc, 0, len(es))
		for _, e := range es {
			d := doc.Doc{ID: e.Key, Version: e.Version}
			if t.w.opts.Format == FormatJSON {
				if err := json.Unmarshal(e.JSON, &d.Fields); err != nil {
					return fmt.Errorf("redis target: decode %s: %w", e.Key, err)
				}
			} else {
				d.Fields = make(map[string]any, len(e.Fields))
				for k, v := range e.Fields {
					d.Fields[k] = v
				}
			}
			if t.id != nil {
				d.ID = t.id(d.Fields)
			}
			if d.ID == "" {
				// A key holding no id field (written by someone else):
				// what follows the prefix names it, so verify reports it
				// as extra and --repair can delete it.
				d.ID = strings.TrimPrefix(e.Key, t.prefix)
			}
			docs = append(docs, d)
		}
		return fn(docs)
	})
}

// Sweep deletes every key of gen whose version is below version (keys a
// rebuild at that version found no row for) and returns how many. A key
// rewritten meanwhile with a newer version is kept: the delete is a
// versioned compare-and-set like every write.
//
// The keys of each SCAN page go to one script call that reads each key's
// version (HGET of "_v", not the whole hash) and deletes the stale ones,
// so the values never travel and Redis runs one call per page; on Redis
// Cluster, where a call may touch one slot only, each key is its own call.
// Memory: one page of keys.
func (t *Target) Sweep(ctx context.Context, gen string, version uint64) (int, error) {
	if err := t.check(gen); err != nil {
		return 0, err
	}
	_, cluster := t.w.c.(*goredis.ClusterClient)
	v := padVersion(version)
	pattern := escapeGlob(t.prefix) + "*"
	n := 0
	var cursor uint64
	for {
		keys, next, err := t.w.c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return n, fmt.Errorf("redis target: sweep: scan: %w", err)
		}
		page := keys[:0]
		for _, k := range keys {
			if !strings.HasSuffix(k, TombSuffix) {
				page = append(page, k)
			}
		}
		if len(page) > 0 {
			c, err := t.sweepKeys(ctx, page, v, cluster)
			n += c
			if err != nil {
				return n, err
			}
		}
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}

// Empty says whether gen holds no key: SCAN of the prefix until the
// first key (tombstones do not count: the sweep leaves them alone too).
// Its cost is a SCAN of the whole database when there is none.
func (t *Target) Empty(ctx context.Context, gen string) (bool, error) {
	if err := t.check(gen); err != nil {
		return false, err
	}
	if _, cluster := t.w.c.(*goredis.ClusterClient); cluster {
		return false, nil // SCAN sees one node: never claim empty
	}
	pattern := escapeGlob(t.prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := t.w.c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return false, fmt.Errorf("redis target: scan: %w", err)
		}
		for _, k := range keys {
			if !strings.HasSuffix(k, TombSuffix) {
				return false, nil
			}
		}
		if next == 0 {
			return true, nil
		}
		cursor = next
	}
}

// sweepKeys runs sweepScript on keys: one call, or one per key on a
// cluster. It returns how many keys it deleted.
func (t *Target) sweepKeys(ctx context.Context, keys []string, v string, cluster bool) (int, error) {
	groups := [][]string{keys}
	if cluster {
		groups = make([][]string, len(keys))
		for i := range keys {
			groups[i] = keys[i : i+1]
		}
	}
	run := func() (int, error) {
		pipe := t.w.c.Pipeline()
		cmds := make([]*goredis.Cmd, len(groups))
		for i, g := range groups {
			cmds[i] = sweepScript.EvalSha(ctx, pipe, g, v)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, err
		}
		n := 0
		for _, c := range cmds {
			x, err := c.Int()
			if err != nil {
				return n, err
			}
			n += x
		}
		return n, nil
	}
	if err := sweepScript.Load(ctx, t.w.c).Err(); err != nil {
		return 0, fmt.Errorf("redis target: sweep: load script: %w", err)
	}
	n, err := run()
	if err != nil && isNoScript(err) {
		n, err = run() // flushed between Load and Exec: the next Load is above
	}
	if err != nil {
		return n, fmt.Errorf("redis target: sweep: %w", err)
	}
	return n, nil
}

// luaCur defines cur(k): the stored version of key k (false when none),
// for either format.
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

// sweepScript: KEYS = keys; ARGV = version. Deletes each key whose stored
// version is below ARGV[1] (no tombstone: the row is gone from the
// snapshot, and any later insert has a newer version anyway); a key
// without a version is kept. Returns how many keys it deleted. HGET
// first: the feed's keys are hashes in the common case, and HGET on a
// string fails fast into cur.
var sweepScript = goredis.NewScript(luaCur + `
local n = 0
for _, k in ipairs(KEYS) do
  local c = redis.pcall('HGET', k, '_v')
  if type(c) == 'table' then c = cur(k) end
  if c and c < ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
`)

// Close releases nothing: the client belongs to the caller.
func (t *Target) Close() error { return nil }
