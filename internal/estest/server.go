// Package estest is an in-process test double for the Elasticsearch 8 REST
// wire protocol, sufficient for the official go-elasticsearch/v8 client. It is
// NOT Elasticsearch: it implements the subset described in
// /work/shared/es-wire-spec.md (see README.md) and nothing else.
package estest

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// GCDeletes is how long external-version tombstones live (index.gc_deletes);
	// zero means the ES default of 60s, a negative value means forever.
	GCDeletes time.Duration
	// NRT makes search and count read the snapshot of the last refresh, as real
	// ES does; when false every write is visible to search at once.
	NRT bool
	// DisableAutoCreate turns off action.auto_create_index for bulk writes.
	DisableAutoCreate bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the handler. All state lives under one mutex, so alias swaps and
// bulk requests are atomic with respect to each other.
type Server struct {
	opts   Options
	mu     sync.Mutex
	idx    map[string]*index
	alias  map[string]map[string]aliasOpts // alias -> index -> opts
	pits   map[string]*pit
	pitSeq int
	Faults *Faults
	stats  stats
}

type aliasOpts struct {
	IsWriteIndex *bool `json:"is_write_index,omitempty"`
}

type doc struct {
	source    json.RawMessage
	version   int64
	seqNo     int64
	deleted   bool
	deletedAt time.Time
	order     int64 // insertion order, used as _doc / _shard_doc
}

type index struct {
	name     string
	uuid     string
	created  time.Time
	settings map[string]any // flat, without the "index." prefix
	mappings map[string]any // {"dynamic":..., "properties":{...}}
	docs     map[string]*doc
	seqNo    int64
	order    int64
	view     map[string]*doc // refreshed snapshot (NRT mode)
}

// New returns a server with the given options.
func New(opts Options) *Server {
	if opts.GCDeletes == 0 {
		opts.GCDeletes = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, idx: map[string]*index{}, alias: map[string]map[string]aliasOpts{},
		pits: map[string]*pit{}, Faults: &Faults{}, stats: newStats()}
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:22]
}

// esError is an error carrying an HTTP status and an ES exception body.
type esError struct {
	status int
	body   map[string]any // the "error" object (envelope a) or nil
	str    string         // string error (envelope b)
}

func (e *esError) Error() string {
	if e.str != "" {
		return e.str
	}
	return fmt.Sprintf("%v: %v", e.body["type"], e.body["reason"])
}

func cause(typ, reason string, extra ...any) map[string]any {
	m := map[string]any{"type": typ, "reason": reason}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// newErr builds an envelope (a) error whose root cause is the cause itself.
func newErr(status int, typ, reason string, extra ...any) *esError {
	return &esError{status: status, body: cause(typ, reason, extra...)}
}

func notFoundIndex(name string) *esError {
	return newErr(404, "index_not_found_exception", "no such index ["+name+"]",
		"resource.type", "index_or_alias", "resource.id", name, "index_uuid", "_na_", "index", name)
}

// shardFailure wraps a cause into search_phase_execution_exception.
func shardFailure(idx string, c map[string]any) *esError {
	return &esError{status: 400, body: map[string]any{
		"type": "search_phase_execution_exception", "reason": "all shards failed", "phase": "query",
		"grouped": true, "root_cause": []any{c}, "caused_by": c,
		"failed_shards": []any{map[string]any{"shard": 0, "index": idx, "node": "test-node-0", "reason": c}},
	}}
}

func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, e *esError) {
	if e.str != "" {
		writeJSON(w, r, e.status, map[string]any{"error": e.str, "status": e.status})
		return
	}
	body := map[string]any{}
	for k, v := range e.body {
		body[k] = v
	}
	if _, ok := body["root_cause"]; !ok {
		rc := map[string]any{}
		for k, v := range e.body {
			if k != "caused_by" {
				rc[k] = v
			}
		}
		body["root_cause"] = []any{rc}
	}
	writeJSON(w, r, e.status, map[string]any{"error": body, "status": e.status})
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads the whole request body, gunzipping it when needed.
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gunzip request: %w", err)
		}
		defer gz.Close()
		rd = gz
	}
	return io.ReadAll(rd)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	s.stats.count(r)
	if s.Faults.before(w, r, s) {
		return
	}
	if err != nil {
		s.writeErr(w, r, newErr(400, "parse_exception", err.Error()))
		return
	}
	if r.URL.Query().Has("filter_path") {
		s.writeErr(w, r, newErr(400, "illegal_argument_exception", "estest does not implement filter_path"))
		return
	}
	var segs []string
	for _, p := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		if p == "" {
			continue
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			u = p
		}
		segs = append(segs, u)
	}
	status, resp, e := s.route(r, segs, body)
	if s.Faults.takeDropAfter(r) {
		s.stats.fault("drop")
		hijackClose(w)
		return
	}
	if e != nil {
		s.writeErr(w, r, e)
		return
	}
	writeJSON(w, r, status, resp)
}

func (s *Server) route(r *http.Request, p []string, body []byte) (int, any, *esError) {
	m := r.Method
	unknown := func() (int, any, *esError) {
		return 0, nil, &esError{status: 400, str: fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, m)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expirePITs()
	switch len(p) {
	case 0:
		return 200, infoBody, nil
	case 1:
		switch p[0] {
		case "_bulk":
			return s.bulk(r, "", body)
		case "_search":
			return s.search(r, "", body)
		case "_count":
			return s.count("_all", body)
		case "_refresh":
			return s.refresh("_all")
		case "_aliases":
			if m == http.MethodPost || m == http.MethodPut {
				return s.aliasActions(body)
			}
		case "_alias":
			return s.getAlias(r, "", "*")
		case "_pit":
			if m == http.MethodDelete {
				return s.closePIT(body)
			}
		case "_cluster", "_cat":
			return unknown()
		default:
			switch m {
			case http.MethodPut:
				return s.createIndex(p[0], body)
			case http.MethodDelete:
				return s.deleteIndex(p[0])
			case http.MethodHead, http.MethodGet:
				return s.getIndex(r, p[0])
			}
		}
	case 2:
		switch {
		case p[0] == "_alias":
			return s.getAlias(r, "", p[1])
		case p[0] == "_cat" && p[1] == "aliases":
			return s.catAliases(r, "*")
		case p[0] == "_cat" && p[1] == "indices":
			return s.catIndices(r, "*")
		case p[0] == "_cluster" && p[1] == "health":
			return 200, map[string]any{"cluster_name": "test-cluster", "status": "green", "timed_out": false}, nil
		case p[1] == "_bulk":
			return s.bulk(r, p[0], body)
		case p[1] == "_search":
			return s.search(r, p[0], body)
		case p[1] == "_count":
			return s.count(p[0], body)
		case p[1] == "_refresh":
			return s.refresh(p[0])
		case p[1] == "_pit" && m == http.MethodPost:
			return s.openPIT(r, p[0])
		case p[1] == "_settings" && m == http.MethodPut:
			return s.putSettings(p[0], body)
		case p[1] == "_settings":
			return s.getSettings(p[0])
		case p[1] == "_mapping" && m == http.MethodPut:
			return s.putMapping(p[0], body)
		case p[1] == "_mapping":
			return s.getMapping(p[0])
		case p[1] == "_alias":
			return s.getAlias(r, p[0], "*")
		case p[1] == "_doc" && m == http.MethodPost:
			return s.singleWrite(r, p[0], "", body)
		}
	case 3:
		switch {
		case p[0] == "_cat" && p[1] == "indices":
			return s.catIndices(r, p[2])
		case p[0] == "_cat" && p[1] == "aliases":
			return s.catAliases(r, p[2])
		case p[1] == "_alias":
			return s.getAlias(r, p[0], p[2])
		case p[1] == "_doc" && (m == http.MethodGet || m == http.MethodHead):
			return s.getDoc(r, p[0], p[2])
		case p[1] == "_doc" && (m == http.MethodPut || m == http.MethodPost):
			return s.singleWrite(r, p[0], p[2], body)
		case p[1] == "_doc" && m == http.MethodDelete:
			return s.singleDelete(r, p[0], p[2])
		}
	}
	return unknown()
}

var infoBody = map[string]any{
	"name": "test-node-0", "cluster_name": "test-cluster", "cluster_uuid": "l8hTJ3lSQiuD1G1H8Vt0Ew",
	"version": map[string]any{
		"number": "8.19.0", "build_flavor": "default", "build_type": "docker",
		"build_hash": "0000000000000000000000000000000000000000", "build_date": "2025-07-01T00:00:00.000000000Z",
		"build_snapshot": false, "lucene_version": "9.12.1",
		"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
	},
	"tagline": "You Know, for Search",
}
