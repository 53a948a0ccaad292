package estest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
)

func validIndexName(n string) *esError {
	bad := func(why string) *esError {
		return newErr(400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", n, why),
			"index_uuid", "_na_", "index", n)
	}
	switch {
	case n != strings.ToLower(n):
		return bad("must be lowercase")
	case n == "." || n == "..":
		return bad("must not be '.' or '..'")
	case strings.HasPrefix(n, "_") || strings.HasPrefix(n, "-") || strings.HasPrefix(n, "+"):
		return bad("must not start with '_', '-', or '+'")
	case strings.ContainsAny(n, "\\/*?\"<>|, #"):
		return bad(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	case len(n) > 255:
		return bad("index name is too long")
	}
	return nil
}

// flattenSettings normalises nested/dotted settings into keys without "index.".
func flattenSettings(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			flattenSettings(key, m, out)
			continue
		}
		out[strings.TrimPrefix(key, "index.")] = fmt.Sprint(v)
	}
}

var knownTypes = map[string]bool{"keyword": true, "text": true, "long": true, "integer": true, "short": true,
	"byte": true, "double": true, "float": true, "half_float": true, "scaled_float": true, "date": true,
	"boolean": true, "object": true, "nested": true, "flattened": true, "ip": true, "unsigned_long": true,
	"binary": true}

func checkMapping(props map[string]any) *esError {
	for f, v := range props {
		m, ok := v.(map[string]any)
		if !ok {
			return newErr(400, "mapper_parsing_exception", "Expected map for property [fields] on field ["+f+"]")
		}
		if t, ok := m["type"].(string); ok && !knownTypes[t] {
			return newErr(400, "mapper_parsing_exception", fmt.Sprintf("No handler for type [%s] declared on field [%s]", t, f))
		}
		if sub, ok := m["properties"].(map[string]any); ok {
			if e := checkMapping(sub); e != nil {
				return e
			}
		}
	}
	return nil
}

func (s *Server) newIndex(name string) *index {
	ix := &index{name: name, uuid: newUUID(), created: s.opts.Now(), docs: map[string]*doc{},
		settings: map[string]any{"number_of_shards": "1", "number_of_replicas": "1"},
		mappings: map[string]any{"properties": map[string]any{}}, view: map[string]*doc{}}
	s.idx[name] = ix
	return ix
}

func (s *Server) createIndex(name string, body []byte) (int, any, *esError) {
	if e := validIndexName(name); e != nil {
		return 0, nil, e
	}
	if ix, ok := s.idx[name]; ok {
		return 0, nil, newErr(400, "resource_already_exists_exception",
			fmt.Sprintf("index [%s/%s] already exists", name, ix.uuid), "index_uuid", ix.uuid, "index", name)
	}
	if _, ok := s.alias[name]; ok {
		return 0, nil, newErr(400, "invalid_index_name_exception",
			fmt.Sprintf("Invalid index name [%s], already exists as alias", name), "index_uuid", "_na_", "index", name)
	}
	var req struct {
		Settings map[string]any            `json:"settings"`
		Mappings map[string]any            `json:"mappings"`
		Aliases  map[string]map[string]any `json:"aliases"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
		}
	}
	if props, ok := req.Mappings["properties"].(map[string]any); ok {
		if e := checkMapping(props); e != nil {
			return 0, nil, e
		}
	}
	for a := range req.Aliases {
		if _, ok := s.idx[a]; ok {
			return 0, nil, newErr(400, "invalid_alias_name_exception",
				fmt.Sprintf("Invalid alias name [%s]: an index or data stream exists with the same name as the alias", a))
		}
	}
	ix := s.newIndex(name)
	flattenSettings("", req.Settings, ix.settings)
	if req.Mappings != nil {
		ix.mappings = req.Mappings
		if _, ok := ix.mappings["properties"].(map[string]any); !ok {
			ix.mappings["properties"] = map[string]any{}
		}
	}
	for a, o := range req.Aliases {
		var ao aliasOpts
		if b, ok := o["is_write_index"].(bool); ok {
			ao.IsWriteIndex = &b
		}
		s.addAlias(a, name, ao)
	}
	return 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name}, nil
}

func (s *Server) deleteIndex(expr string) (int, any, *esError) {
	var names []string
	for _, n := range strings.Split(expr, ",") {
		if strings.ContainsAny(n, "*") || n == "_all" {
			return 0, nil, newErr(400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
		}
		if _, ok := s.alias[n]; ok {
			return 0, nil, newErr(400, "illegal_argument_exception",
				"The provided expression ["+n+"] matches an alias, specify the corresponding concrete indices instead.")
		}
		if _, ok := s.idx[n]; !ok {
			return 0, nil, notFoundIndex(n)
		}
		names = append(names, n)
	}
	for _, n := range names {
		s.dropIndex(n)
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

func (s *Server) dropIndex(n string) {
	delete(s.idx, n)
	for a, m := range s.alias {
		delete(m, n)
		if len(m) == 0 {
			delete(s.alias, a)
		}
	}
}

// resolve expands a comma list of names, aliases and wildcards to concrete indices.
func (s *Server) resolve(expr string) ([]*index, *esError) {
	seen := map[string]bool{}
	var out []*index
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, s.idx[n])
		}
	}
	for _, n := range strings.Split(expr, ",") {
		if n == "_all" || n == "" {
			n = "*"
		}
		if strings.Contains(n, "*") {
			var names []string
			for in := range s.idx {
				if ok, _ := path.Match(n, in); ok {
					names = append(names, in)
				}
			}
			for a, m := range s.alias {
				if ok, _ := path.Match(n, a); ok {
					for in := range m {
						names = append(names, in)
					}
				}
			}
			sort.Strings(names)
			for _, in := range names {
				add(in)
			}
			continue
		}
		if _, ok := s.idx[n]; ok {
			add(n)
			continue
		}
		if m, ok := s.alias[n]; ok {
			var names []string
			for in := range m {
				names = append(names, in)
			}
			sort.Strings(names)
			for _, in := range names {
				add(in)
			}
			continue
		}
		return nil, notFoundIndex(n)
	}
	return out, nil
}

func (s *Server) getIndex(r *http.Request, expr string) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"aliases": s.aliasesOf(ix.name), "mappings": ix.mappings,
			"settings": map[string]any{"index": ix.settingsView()}}
	}
	return 200, out, nil
}

func (ix *index) settingsView() map[string]any {
	m := map[string]any{"uuid": ix.uuid, "provided_name": ix.name,
		"creation_date": fmt.Sprint(ix.created.UnixMilli())}
	for k, v := range ix.settings {
		m[k] = v
	}
	return m
}

func (s *Server) putSettings(expr string, body []byte) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
	}
	if st, ok := req["settings"].(map[string]any); ok && len(req) == 1 {
		req = st
	}
	flat := map[string]any{}
	flattenSettings("", req, flat)
	for k := range flat {
		if k == "number_of_shards" {
			return 0, nil, newErr(400, "illegal_argument_exception",
				"final "+ixs[0].name+" setting [index.number_of_shards], not updateable")
		}
	}
	for _, ix := range ixs {
		for k, v := range flat {
			ix.settings[k] = v
		}
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

func (s *Server) getSettings(expr string) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"settings": map[string]any{"index": ix.settingsView()}}
	}
	return 200, out, nil
}

func (s *Server) putMapping(expr string, body []byte) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, newErr(400, "x_content_parse_exception", err.Error())
	}
	props, _ := req["properties"].(map[string]any)
	if e := checkMapping(props); e != nil {
		return 0, nil, e
	}
	for _, ix := range ixs {
		cur := ix.mappings["properties"].(map[string]any)
		for f, v := range props {
			if old, ok := cur[f].(map[string]any); ok && old["type"] != v.(map[string]any)["type"] && v.(map[string]any)["type"] != nil {
				return 0, nil, newErr(400, "illegal_argument_exception",
					fmt.Sprintf("mapper [%s] cannot be changed from type [%v] to [%v]", f, old["type"], v.(map[string]any)["type"]))
			}
		}
	}
	for _, ix := range ixs {
		cur := ix.mappings["properties"].(map[string]any)
		for f, v := range props {
			cur[f] = v
		}
		if d, ok := req["dynamic"]; ok {
			ix.mappings["dynamic"] = d
		}
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

func (s *Server) getMapping(expr string) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"mappings": ix.mappings}
	}
	return 200, out, nil
}

func (s *Server) catIndices(r *http.Request, expr string) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	var rows []map[string]any
	for _, ix := range ixs {
		n := 0
		for _, d := range ix.docs {
			if !d.deleted {
				n++
			}
		}
		rows = append(rows, map[string]any{"health": "green", "status": "open", "index": ix.name, "uuid": ix.uuid,
			"pri": "1", "rep": ix.settings["number_of_replicas"], "docs.count": fmt.Sprint(n)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i]["index"].(string) < rows[j]["index"].(string) })
	if h := r.URL.Query().Get("h"); h != "" { // only the named columns, as ES does
		for i, row := range rows {
			sel := map[string]any{}
			for _, c := range strings.Split(h, ",") {
				if v, ok := row[c]; ok {
					sel[c] = v
				}
			}
			rows[i] = sel
		}
	}
	if rows == nil {
		rows = []map[string]any{}
	}
	return 200, rows, nil
}

func (s *Server) refresh(expr string) (int, any, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return 0, nil, e
	}
	for _, ix := range ixs {
		ix.refresh()
	}
	n := len(ixs)
	return 200, map[string]any{"_shards": map[string]any{"total": n, "successful": n, "failed": 0}}, nil
}

func (ix *index) refresh() {
	ix.view = make(map[string]*doc, len(ix.docs))
	for id, d := range ix.docs {
		if !d.deleted {
			c := *d
			ix.view[id] = &c
		}
	}
}

// searchable returns the documents search and count see.
func (s *Server) searchable(ix *index) map[string]*doc {
	if s.opts.NRT {
		return ix.view
	}
	out := make(map[string]*doc, len(ix.docs))
	for id, d := range ix.docs {
		if !d.deleted {
			out[id] = d
		}
	}
	return out
}

// single resolves a name to exactly one index for reads.
func (s *Server) single(expr string) (*index, *esError) {
	ixs, e := s.resolve(expr)
	if e != nil {
		return nil, e
	}
	if len(ixs) != 1 {
		return nil, newErr(400, "illegal_argument_exception",
			fmt.Sprintf("alias [%s] has more than one index associated with it, can't execute a single index op", expr))
	}
	return ixs[0], nil
}

func (s *Server) getDoc(r *http.Request, expr, id string) (int, any, *esError) {
	ix, e := s.single(expr)
	if e != nil {
		return 0, nil, e
	}
	d, ok := ix.docs[id]
	if !ok || d.deleted {
		return 404, map[string]any{"_index": ix.name, "_id": id, "found": false}, nil
	}
	out := map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "_seq_no": d.seqNo,
		"_primary_term": 1, "found": true}
	if r.URL.Query().Get("_source") != "false" {
		out["_source"] = d.source
	}
	return 200, out, nil
}
