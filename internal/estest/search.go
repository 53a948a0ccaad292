package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

type hit struct {
	ix  *index
	id  string
	d   *doc
	srt []any
}

type sortKey struct {
	field string
	desc  bool
	typ   string // keyword, long, double, date, boolean, _score, _doc, _shard_doc
}

type searchReq struct {
	Size           *int              `json:"size"`
	From           *int              `json:"from"`
	Query          map[string]any    `json:"query"`
	Sort           json.RawMessage   `json:"sort"`
	SearchAfter    []json.RawMessage `json:"search_after"`
	TrackTotalHits any               `json:"track_total_hits"`
	Source         any               `json:"_source"`
	Version        bool              `json:"version"`
	SeqNoPT        bool              `json:"seq_no_primary_term"`
	PIT            *struct {
		ID        string `json:"id"`
		KeepAlive string `json:"keep_alive"`
	} `json:"pit"`
}

func (s *Server) count(expr string, body []byte) (int, any, *esError) {
	var req map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
		}
	}
	for k := range req {
		if k != "query" {
			return 0, nil, newErr(400, "parsing_exception", "request does not support ["+k+"]")
		}
	}
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	q, _ := req["query"].(map[string]any)
	n := 0
	for _, ix := range ixs {
		for id, d := range s.searchable(ix) {
			ok, e := matches(q, id, d)
			if e != nil {
				return 0, nil, e
			}
			if ok {
				n++
			}
		}
	}
	return 200, map[string]any{"count": n, "_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0}}, nil
}

func (s *Server) search(r *http.Request, expr string, body []byte) (int, any, *esError) {
	var req searchReq
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
		}
	}
	size, from := 10, 0
	if req.Size != nil {
		size = *req.Size
	}
	if req.From != nil {
		from = *req.From
	}
	var docs []hit
	var p *pit
	name := expr
	if req.PIT != nil {
		if expr != "" {
			return 0, nil, newErr(400, "action_request_validation_exception",
				"Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;")
		}
		p = s.pits[req.PIT.ID]
		if p == nil {
			c := cause("search_context_missing_exception", "No search context found for id ["+req.PIT.ID+"]")
			return 0, nil, &esError{status: 404, body: map[string]any{"type": "search_phase_execution_exception",
				"reason": "all shards failed", "phase": "query", "grouped": true, "root_cause": []any{c}, "caused_by": c}}
		}
		if req.PIT.KeepAlive != "" {
			if d, err := time.ParseDuration(req.PIT.KeepAlive); err == nil {
				p.expires = s.opts.Now().Add(d)
			}
		}
		docs = append(docs, p.docs...)
		name = strings.Join(p.indices, ",")
	} else {
		ixs, e := s.resolve(expr)
		if e != nil {
			return 0, nil, e
		}
		for _, ix := range ixs {
			for id, d := range s.searchable(ix) {
				docs = append(docs, hit{ix: ix, id: id, d: d})
			}
		}
	}
	keys, e := parseSort(req.Sort, docs, name, p != nil)
	if e != nil {
		return 0, nil, e
	}
	if len(req.SearchAfter) > 0 {
		if len(keys) == 0 {
			return 0, nil, newErr(400, "illegal_argument_exception", "[search_after] requires sort to be specified")
		}
		if from > 0 {
			return 0, nil, newErr(400, "illegal_argument_exception", "[from] parameter must be set to 0 when [search_after] is used")
		}
		if len(req.SearchAfter) != len(keys) {
			return 0, nil, newErr(400, "illegal_argument_exception",
				fmt.Sprintf("search_after has %d value(s) but sort has %d", len(req.SearchAfter), len(keys)))
		}
	}
	if from+size > 10000 {
		return 0, nil, shardFailure(name, cause("illegal_argument_exception", fmt.Sprintf(
			"Result window is too large, from + size must be less than or equal to: [10000] but was [%d].", from+size)))
	}
	var matched []hit
	for _, h := range docs {
		ok, e := matches(req.Query, h.id, h.d)
		if e != nil {
			return 0, nil, e
		}
		if ok {
			h.srt = sortValues(keys, h)
			matched = append(matched, h)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return cmpVals(keys, matched[i].srt, matched[j].srt) < 0 })
	total := len(matched)
	if len(req.SearchAfter) > 0 {
		after := make([]any, len(keys))
		for i, raw := range req.SearchAfter {
			after[i] = decodeAfter(keys[i], raw)
		}
		k := sort.Search(len(matched), func(i int) bool { return cmpVals(keys, matched[i].srt, after) > 0 })
		matched = matched[k:]
	}
	if from < len(matched) {
		matched = matched[from:]
	} else {
		matched = nil
	}
	if len(matched) > size {
		matched = matched[:size]
	}
	scored := len(keys) == 0 || keys[0].typ == "_score"
	out := []any{}
	for _, h := range matched {
		o := map[string]any{"_index": h.ix.name, "_id": h.id, "_score": nil}
		if scored {
			o["_score"] = 1.0
		}
		if req.Source != false {
			o["_source"] = h.d.source
		}
		if req.Version {
			o["_version"] = h.d.version
		}
		if req.SeqNoPT {
			o["_seq_no"], o["_primary_term"] = h.d.seqNo, 1
		}
		if len(keys) > 0 && !(len(keys) == 1 && keys[0].typ == "_score") {
			o["sort"] = h.srt
		}
		out = append(out, o)
	}
	hits := map[string]any{"hits": out, "max_score": nil}
	if scored && total > 0 {
		hits["max_score"] = 1.0
	}
	switch t := req.TrackTotalHits.(type) {
	case bool:
		if t {
			hits["total"] = map[string]any{"value": total, "relation": "eq"}
		}
	case float64:
		hits["total"] = capTotal(total, int(t))
	default:
		hits["total"] = capTotal(total, 10000)
	}
	resp := map[string]any{"took": 1, "timed_out": false, "hits": hits,
		"_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
	if p != nil {
		resp["pit_id"] = p.id
	}
	return 200, resp, nil
}

func capTotal(n, limit int) map[string]any {
	if n > limit {
		return map[string]any{"value": limit, "relation": "gte"}
	}
	return map[string]any{"value": n, "relation": "eq"}
}

func fieldType(ix *index, f string) string {
	props, _ := ix.mappings["properties"].(map[string]any)
	if i := strings.Index(f, "."); i > 0 {
		if def, ok := props[f[:i]].(map[string]any); ok {
			if fields, ok := def["fields"].(map[string]any); ok {
				if sub, ok := fields[f[i+1:]].(map[string]any); ok {
					t, _ := sub["type"].(string)
					return t
				}
			}
		}
	}
	def, ok := props[f].(map[string]any)
	if !ok {
		return ""
	}
	t, _ := def["type"].(string)
	return t
}

func parseSort(raw json.RawMessage, docs []hit, idxName string, withPIT bool) ([]sortKey, *esError) {
	var items []any
	if len(raw) > 0 {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, newErr(400, "x_content_parse_exception", err.Error())
		}
		if a, ok := v.([]any); ok {
			items = a
		} else {
			items = []any{v}
		}
	}
	var keys []sortKey
	for _, it := range items {
		var k sortKey
		unmapped := ""
		switch x := it.(type) {
		case string:
			k.field = x
		case map[string]any:
			for f, o := range x {
				k.field = f
				switch ov := o.(type) {
				case string:
					k.desc = ov == "desc"
				case map[string]any:
					k.desc = ov["order"] == "desc"
					unmapped, _ = ov["unmapped_type"].(string)
				}
			}
		}
		switch k.field {
		case "_id":
			return nil, shardFailure(idxName, cause("illegal_argument_exception",
				"Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled"))
		case "_score":
			k.typ = "_score"
			if _, isStr := it.(string); isStr {
				k.desc = true
			}
		case "_doc":
			k.typ = "_doc"
		case "_shard_doc":
			if !withPIT {
				return nil, newErr(400, "illegal_argument_exception", "[_shard_doc] sort field cannot be used without [point in time]")
			}
			k.typ = "_shard_doc"
		default:
			t := ""
			for _, h := range docs {
				if t = fieldType(h.ix, k.field); t != "" {
					break
				}
			}
			if t == "" && len(docs) == 0 {
				t = "keyword"
			}
			if t == "" {
				t = unmapped
			}
			switch t {
			case "":
				return nil, shardFailure(idxName, cause("query_shard_exception", "No mapping found for ["+k.field+"] in order to sort on"))
			case "text":
				return nil, shardFailure(idxName, cause("illegal_argument_exception",
					"Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead."))
			case "long", "integer", "short", "byte", "unsigned_long":
				t = "long"
			case "double", "float", "half_float", "scaled_float":
				t = "double"
			}
			k.typ = t
		}
		keys = append(keys, k)
	}
	if withPIT && (len(keys) == 0 || keys[len(keys)-1].typ != "_shard_doc") {
		if len(keys) == 0 {
			keys = append(keys, sortKey{field: "_score", typ: "_score", desc: true})
		}
		keys = append(keys, sortKey{field: "_shard_doc", typ: "_shard_doc"})
	}
	return keys, nil
}

func sortValues(keys []sortKey, h hit) []any {
	out := make([]any, len(keys))
	var src map[string]any
	for i, k := range keys {
		switch k.typ {
		case "_score":
			out[i] = 1.0
		case "_doc", "_shard_doc":
			out[i] = h.d.order
		default:
			if src == nil {
				_ = json.Unmarshal(h.d.source, &src)
			}
			v, ok := src[strings.SplitN(k.field, ".", 2)[0]]
			if !ok || v == nil {
				out[i] = missingVal(k)
				continue
			}
			out[i] = normVal(k, v)
		}
	}
	return out
}

func missingVal(k sortKey) any {
	switch k.typ {
	case "long", "date", "boolean":
		if k.desc {
			return int64(math.MinInt64)
		}
		return int64(math.MaxInt64)
	case "double":
		if k.desc {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	return nil
}

func normVal(k sortKey, v any) any {
	switch k.typ {
	case "long":
		switch x := v.(type) {
		case float64:
			return int64(x)
		case string:
			var n int64
			fmt.Sscan(x, &n)
			return n
		}
	case "double":
		if x, ok := v.(float64); ok {
			return x
		}
	case "date":
		switch x := v.(type) {
		case float64:
			return int64(x)
		case string:
			for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
				if t, err := time.Parse(l, x); err == nil {
					return t.UnixMilli()
				}
			}
		}
	case "boolean":
		if x, _ := v.(bool); x {
			return int64(1)
		}
		return int64(0)
	}
	return fmt.Sprint(v)
}

func decodeAfter(k sortKey, raw json.RawMessage) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	_ = d.Decode(&v)
	switch k.typ {
	case "_score", "double":
		if n, ok := v.(json.Number); ok {
			f, _ := n.Float64()
			return f
		}
	case "keyword":
		if v == nil {
			return nil
		}
		return fmt.Sprint(v)
	default:
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				f, _ := n.Float64()
				return int64(f)
			}
			return i
		}
		if sv, ok := v.(string); ok {
			return normVal(k, sv)
		}
	}
	return v
}

func cmpOne(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1 // missing sorts last
	case b == nil:
		return -1
	}
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		return cmpOrd(x, y)
	case float64:
		y, _ := b.(float64)
		return cmpOrd(x, y)
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	}
	return 0
}

func cmpOrd[T int64 | float64](x, y T) int {
	if x < y {
		return -1
	}
	if x > y {
		return 1
	}
	return 0
}

func cmpVals(keys []sortKey, a, b []any) int {
	for i, k := range keys {
		c := cmpOne(a[i], b[i])
		if k.desc && a[i] != nil && b[i] != nil {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
