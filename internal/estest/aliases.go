package estest

import (
	"encoding/json"
	"net/http"
	"path"
	"sort"
	"strings"
)

func (s *Server) addAlias(alias, idx string, o aliasOpts) {
	m := s.alias[alias]
	if m == nil {
		m = map[string]aliasOpts{}
		s.alias[alias] = m
	}
	m[idx] = o
}

func (s *Server) aliasesOf(idx string) map[string]any {
	out := map[string]any{}
	for a, m := range s.alias {
		if o, ok := m[idx]; ok {
			out[a] = o
		}
	}
	return out
}

type aliasAction struct {
	Index        string   `json:"index"`
	Indices      []string `json:"indices"`
	Alias        string   `json:"alias"`
	Aliases      []string `json:"aliases"`
	IsWriteIndex *bool    `json:"is_write_index"`
	MustExist    *bool    `json:"must_exist"`
}

// aliasActions applies all actions atomically: every action is validated and
// applied to a copy of the alias table; only if all succeed is it installed.
func (s *Server) aliasActions(body []byte) (int, any, *esError) {
	var req struct {
		Actions []map[string]aliasAction `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
	}
	if len(req.Actions) == 0 {
		return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: [actions] is required;")
	}
	next := map[string]map[string]aliasOpts{}
	for a, m := range s.alias {
		c := map[string]aliasOpts{}
		for k, v := range m {
			c[k] = v
		}
		next[a] = c
	}
	dropped := map[string]bool{}
	for _, act := range req.Actions {
		for kind, a := range act {
			idxs := append([]string{}, a.Indices...)
			if a.Index != "" {
				idxs = append(idxs, a.Index)
			}
			names := append([]string{}, a.Aliases...)
			if a.Alias != "" {
				names = append(names, a.Alias)
			}
			var concrete []string
			for _, in := range idxs {
				if strings.Contains(in, "*") {
					for n := range s.idx {
						if ok, _ := path.Match(in, n); ok && !dropped[n] {
							concrete = append(concrete, n)
						}
					}
					continue
				}
				if kind == "remove_index" {
					if _, ok := next[in]; ok {
						return 0, nil, newErr(400, "illegal_argument_exception",
							"The provided expression ["+in+"] matches an alias, specify the corresponding concrete indices instead.")
					}
				}
				if _, ok := s.idx[in]; !ok || dropped[in] {
					return 0, nil, notFoundIndex(in)
				}
				concrete = append(concrete, in)
			}
			if len(concrete) == 0 {
				return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: One of [index] or [indices] is required;")
			}
			switch kind {
			case "add":
				if len(names) == 0 {
					return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: [alias] is required;")
				}
				for _, n := range names {
					if _, ok := s.idx[n]; ok && !dropped[n] {
						return 0, nil, newErr(400, "invalid_alias_name_exception",
							"Invalid alias name ["+n+"]: an index or data stream exists with the same name as the alias")
					}
					for _, in := range concrete {
						if next[n] == nil {
							next[n] = map[string]aliasOpts{}
						}
						next[n][in] = aliasOpts{IsWriteIndex: a.IsWriteIndex}
					}
				}
			case "remove":
				for _, n := range names {
					for _, in := range concrete {
						if _, ok := next[n][in]; !ok {
							return 0, nil, newErr(404, "aliases_not_found_exception", "aliases ["+n+"] missing",
								"resource.type", "aliases", "resource.id", n)
						}
						delete(next[n], in)
					}
				}
			case "remove_index":
				for _, in := range concrete {
					dropped[in] = true
					for _, m := range next {
						delete(m, in)
					}
				}
			default:
				return 0, nil, newErr(400, "parsing_exception", "Unknown action ["+kind+"]")
			}
		}
	}
	for a, m := range next {
		if len(m) == 0 {
			delete(next, a)
		}
	}
	s.alias = next
	for in := range dropped {
		delete(s.idx, in)
	}
	return 200, map[string]any{"acknowledged": true, "errors": false}, nil
}

func (s *Server) getAlias(r *http.Request, idxExpr, name string) (int, any, *esError) {
	out := map[string]any{}
	var missing []string
	for _, n := range strings.Split(name, ",") {
		found := false
		for a, m := range s.alias {
			if ok, _ := path.Match(n, a); !ok {
				continue
			}
			for in, o := range m {
				if idxExpr != "" {
					if ok, _ := path.Match(idxExpr, in); !ok {
						continue
					}
				}
				found = true
				e, _ := out[in].(map[string]any)
				if e == nil {
					e = map[string]any{"aliases": map[string]any{}}
					out[in] = e
				}
				e["aliases"].(map[string]any)[a] = o
			}
		}
		if !found && !strings.Contains(n, "*") {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		word := "alias"
		if len(missing) > 1 {
			word = "aliases"
		}
		return 0, nil, &esError{status: 404, str: word + " [" + strings.Join(missing, ",") + "] missing"}
	}
	return 200, out, nil
}

func (s *Server) catAliases(r *http.Request, name string) (int, any, *esError) {
	rows := []map[string]any{}
	for a, m := range s.alias {
		if ok, _ := path.Match(name, a); !ok {
			continue
		}
		for in, o := range m {
			w := "-"
			if o.IsWriteIndex != nil {
				w = "false"
				if *o.IsWriteIndex {
					w = "true"
				}
			}
			rows = append(rows, map[string]any{"alias": a, "index": in, "filter": "-",
				"routing.index": "-", "routing.search": "-", "is_write_index": w})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i]["alias"] != rows[j]["alias"] {
			return rows[i]["alias"].(string) < rows[j]["alias"].(string)
		}
		return rows[i]["index"].(string) < rows[j]["index"].(string)
	})
	return 200, rows, nil
}
