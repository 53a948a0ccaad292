package estest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// matches evaluates the supported query subset: match_all, ids, term, terms, bool.
func matches(q map[string]any, id string, d *doc) (bool, *esError) {
	if len(q) == 0 {
		return true, nil
	}
	for typ, body := range q {
		switch typ {
		case "match_all":
			return true, nil
		case "match_none":
			return false, nil
		case "ids":
			m, _ := body.(map[string]any)
			vals, _ := m["values"].([]any)
			for _, v := range vals {
				if fmt.Sprint(v) == id {
					return true, nil
				}
			}
			return false, nil
		case "term", "terms":
			m, _ := body.(map[string]any)
			for f, v := range m {
				if f == "boost" {
					continue
				}
				var want []any
				switch x := v.(type) {
				case []any:
					want = x
				case map[string]any:
					if typ == "term" {
						want = []any{x["value"]}
					}
				default:
					want = []any{x}
				}
				got := fieldValue(f, id, d)
				for _, w := range want {
					for _, g := range got {
						if fmt.Sprint(w) == fmt.Sprint(g) {
							return true, nil
						}
					}
				}
				return false, nil
			}
			return false, nil
		case "bool":
			m, _ := body.(map[string]any)
			for _, clause := range []string{"must", "filter", "must_not", "should"} {
				subs := asList(m[clause])
				anyOK := false
				for _, sq := range subs {
					sm, _ := sq.(map[string]any)
					ok, e := matches(sm, id, d)
					if e != nil {
						return false, e
					}
					switch {
					case (clause == "must" || clause == "filter") && !ok:
						return false, nil
					case clause == "must_not" && ok:
						return false, nil
					case ok:
						anyOK = true
					}
				}
				if clause == "should" && len(subs) > 0 && !anyOK {
					_, hasMust := m["must"]
					_, hasFilter := m["filter"]
					if !hasMust && !hasFilter {
						return false, nil
					}
				}
			}
			return true, nil
		default:
			return false, newErr(400, "parsing_exception", "unknown query ["+typ+"]", "line", 1, "col", 13)
		}
	}
	return true, nil
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func fieldValue(f, id string, d *doc) []any {
	if f == "_id" {
		return []any{id}
	}
	var src map[string]any
	_ = json.Unmarshal(d.source, &src)
	var cur any = src
	for _, part := range strings.Split(f, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			break // multi-field like title.raw: use the parent value
		}
		cur = m[part]
	}
	if a, ok := cur.([]any); ok {
		return a
	}
	if cur == nil {
		return nil
	}
	if n, ok := cur.(float64); ok {
		return []any{json.Number(fmt.Sprint(n))}
	}
	return []any{cur}
}

type pit struct {
	id      string
	indices []string
	docs    []hit
	expires time.Time
}

func (s *Server) expirePITs() {
	now := s.opts.Now()
	for id, p := range s.pits {
		if now.After(p.expires) {
			delete(s.pits, id)
		}
	}
}

func (s *Server) openPIT(r *http.Request, expr string) (int, any, *esError) {
	ka := r.URL.Query().Get("keep_alive")
	if ka == "" {
		return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: [keep_alive] is not specified;")
	}
	dur, err := time.ParseDuration(ka)
	if err != nil {
		return 0, nil, newErr(400, "illegal_argument_exception", "failed to parse setting [keep_alive] with value ["+ka+"] as a time value")
	}
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	s.pitSeq++
	p := &pit{id: fmt.Sprintf("cGl0-%08d-%s", s.pitSeq, newUUID()), expires: s.opts.Now().Add(dur)}
	for _, ix := range ixs {
		p.indices = append(p.indices, ix.name)
		for id, d := range s.searchable(ix) {
			c := *d
			p.docs = append(p.docs, hit{ix: ix, id: id, d: &c})
		}
	}
	sort.Slice(p.docs, func(i, j int) bool {
		a, b := p.docs[i], p.docs[j]
		if a.ix.name != b.ix.name {
			return a.ix.name < b.ix.name
		}
		return a.d.order < b.d.order
	})
	for i := range p.docs {
		p.docs[i].d.order = int64(i) // the PIT's _shard_doc
	}
	s.pits[p.id] = p
	return 200, map[string]any{"id": p.id, "_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}}, nil
}

func (s *Server) closePIT(body []byte) (int, any, *esError) {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.ID == "" {
		return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: no point-in-time id is specified;")
	}
	if _, ok := s.pits[req.ID]; !ok {
		return 404, map[string]any{"succeeded": true, "num_freed": 0}, nil
	}
	delete(s.pits, req.ID)
	return 200, map[string]any{"succeeded": true, "num_freed": 1}, nil
}
