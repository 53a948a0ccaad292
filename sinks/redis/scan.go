package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Entry is one key read back by Scan.
type Entry struct {
	Key     string
	Version uint64
	Fields  map[string]string // hash format: the fields without "_v"
	JSON    json.RawMessage   // json format: the "data" member
}

// Scan walks the keys starting with prefix (tombstones left out) and hands
// them to fn in batches of up to count, read with one pipelined
// HGETALL/GET per batch. Memory: one batch of values, plus the set of keys
// already seen (SCAN may return a key twice while Redis rehashes; Scan
// hands each key to fn once). A key that expires or is deleted between
// SCAN and its read is left out.
func (w *Writer) Scan(ctx context.Context, prefix string, count int, fn func([]Entry) error) error {
	return w.scan(ctx, prefix, count, make(map[string]struct{}), fn)
}

// scan walks the keys as Scan says; seen, when not nil, drops repeats.
func (w *Writer) scan(ctx context.Context, prefix string, count int, seen map[string]struct{}, fn func([]Entry) error) error {
	if count <= 0 {
		count = 1000
	}
	pattern := escapeGlob(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := w.c.Scan(ctx, cursor, pattern, int64(count)).Result()
		if err != nil {
			return fmt.Errorf("redis sink: scan: %w", err)
		}
		batch := keys[:0]
		for _, k := range keys {
			if strings.HasSuffix(k, TombSuffix) {
				continue
			}
			if seen != nil {
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
			}
			batch = append(batch, k)
		}
		if len(batch) > 0 {
			entries, err := w.read(ctx, batch)
			if err != nil {
				return err
			}
			if err := fn(entries); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (w *Writer) read(ctx context.Context, keys []string) ([]Entry, error) {
	pipe := w.c.Pipeline()
	hashes := make([]*goredis.MapStringStringCmd, len(keys))
	strs := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		if w.opts.Format == FormatJSON {
			strs[i] = pipe.Get(ctx, k)
		} else {
			hashes[i] = pipe.HGetAll(ctx, k)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		return nil, fmt.Errorf("redis sink: scan read: %w", err)
	}
	out := make([]Entry, 0, len(keys))
	for i, k := range keys {
		e := Entry{Key: k}
		if w.opts.Format == FormatJSON {
			s, err := strs[i].Result()
			if err == goredis.Nil {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("redis sink: scan read %s: %w", k, err)
			}
			var doc struct {
				V    string          `json:"_v"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal([]byte(s), &doc); err != nil {
				return nil, fmt.Errorf("redis sink: scan read %s: %w", k, err)
			}
			e.JSON = doc.Data
			e.Version, _ = strconv.ParseUint(doc.V, 10, 64)
		} else {
			m, err := hashes[i].Result()
			if err != nil {
				return nil, fmt.Errorf("redis sink: scan read %s: %w", k, err)
			}
			if len(m) == 0 {
				continue
			}
			e.Version, _ = strconv.ParseUint(m[VersionField], 10, 64)
			delete(m, VersionField)
			e.Fields = m
		}
		out = append(out, e)
	}
	return out, nil
}

// escapeGlob escapes SCAN MATCH's special characters in s.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
