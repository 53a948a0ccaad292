package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type bulkMeta struct {
	ID          *string `json:"_id"`
	Index       string  `json:"_index"`
	Version     *int64  `json:"version"`
	VersionType string  `json:"version_type"`
}

type bulkOp struct {
	action string
	meta   bulkMeta
	source json.RawMessage
}

func (s *Server) bulk(r *http.Request, pathIndex string, body []byte) (int, any, *esError) {
	start := time.Now()
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
	}
	if body[len(body)-1] != '\n' {
		return 0, nil, newErr(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
	}
	var lines [][]byte
	for _, l := range bytes.Split(body, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	var ops []bulkOp
	var invalid []string
	for i := 0; i < len(lines); i++ {
		var m map[string]bulkMeta
		if err := json.Unmarshal(lines[i], &m); err != nil || len(m) != 1 {
			return 0, nil, newErr(400, "illegal_argument_exception",
				fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", i+1))
		}
		var op bulkOp
		for k, v := range m {
			op.action, op.meta = k, v
		}
		switch op.action {
		case "index", "create", "update":
			if i+1 >= len(lines) {
				return 0, nil, newErr(400, "action_request_validation_exception", "Validation Failed: 1: source is missing;")
			}
			i++
			op.source = lines[i]
		case "delete":
		default:
			return 0, nil, newErr(400, "illegal_argument_exception", "Malformed action/metadata line, unknown action ["+op.action+"]")
		}
		if op.meta.Index == "" {
			op.meta.Index = pathIndex
		}
		if op.meta.Index == "" {
			invalid = append(invalid, "index is missing")
		}
		vt := strings.ToLower(op.meta.VersionType)
		if vt == "external_gt" {
			vt = "external"
		}
		op.meta.VersionType = vt
		switch {
		case op.meta.ID == nil && op.action != "index" && op.action != "create":
			invalid = append(invalid, "id is missing")
		case vt == "" && op.meta.Version != nil && op.action != "update":
			invalid = append(invalid, "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead")
		case vt != "" && vt != "external" && vt != "external_gte" && vt != "internal":
			invalid = append(invalid, "unknown version type ["+vt+"]")
		case (vt == "external" || vt == "external_gte") && op.action == "create":
			invalid = append(invalid, "create operations only support internal versioning. use index instead")
		case (vt == "external" || vt == "external_gte") && op.action == "update":
			invalid = append(invalid, "version type [EXTERNAL] is not supported by the update API")
		case (vt == "external" || vt == "external_gte") && (op.meta.Version == nil || *op.meta.Version < 0):
			v := int64(-1)
			if op.meta.Version != nil {
				v = *op.meta.Version
			}
			invalid = append(invalid, fmt.Sprintf("illegal version value [%d] for version type [%s]", v, strings.ToUpper(vt)))
		}
		ops = append(ops, op)
	}
	if len(invalid) > 0 {
		var b strings.Builder
		b.WriteString("Validation Failed: ")
		for i, m := range invalid {
			fmt.Fprintf(&b, "%d: %s;", i+1, m)
		}
		return 0, nil, newErr(400, "action_request_validation_exception", b.String())
	}
	refresh := r.URL.Query().Has("refresh") && r.URL.Query().Get("refresh") != "false"
	items := make([]any, 0, len(ops))
	errs := false
	touched := map[*index]bool{}
	for _, op := range ops {
		res, ix := s.applyOp(op)
		if ix != nil {
			touched[ix] = true
		}
		if _, ok := res["error"]; ok {
			errs = true
		} else if refresh && ix != nil {
			res["forced_refresh"] = true
		}
		s.stats.item(op.action, res["status"].(int))
		items = append(items, map[string]any{op.action: res})
	}
	if refresh {
		for ix := range touched {
			ix.refresh()
		}
	}
	return 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errs, "items": items}, nil
}

func itemErr(ix *index, name, id string, status int, c map[string]any) map[string]any {
	uuid := "_na_"
	if ix != nil {
		uuid = ix.uuid
	}
	c["index_uuid"], c["shard"], c["index"] = uuid, "0", name
	return map[string]any{"_index": name, "_id": id, "status": status, "error": c}
}

// writeIndex resolves a bulk target to the concrete index writes go to.
func (s *Server) writeIndex(name string) (*index, map[string]any) {
	if ix, ok := s.idx[name]; ok {
		return ix, nil
	}
	if m, ok := s.alias[name]; ok {
		var only, write string
		for in, o := range m {
			only = in
			if o.IsWriteIndex != nil && *o.IsWriteIndex {
				write = in
			}
		}
		if write == "" && len(m) == 1 {
			write = only
		}
		if write == "" {
			return nil, cause("illegal_argument_exception", "no write index is defined for alias ["+name+
				"]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index")
		}
		return s.idx[write], nil
	}
	if e := validIndexName(name); e != nil {
		return nil, e.body
	}
	if s.opts.DisableAutoCreate {
		return nil, notFoundIndex(name).body
	}
	return s.newIndex(name), nil
}

func (s *Server) applyOp(op bulkOp) (map[string]any, *index) {
	id := ""
	if op.meta.ID != nil {
		id = *op.meta.ID
	} else {
		id = newUUID()
	}
	if c := s.Faults.itemFault(id); c != nil {
		return itemErr(nil, op.meta.Index, id, c["status"].(int), c["cause"].(map[string]any)), nil
	}
	ix, c := s.writeIndex(op.meta.Index)
	if c != nil {
		st := 400
		if c["type"] == "index_not_found_exception" {
			st = 404
		}
		return itemErr(nil, op.meta.Index, id, st, c), nil
	}
	now := s.opts.Now()
	cur := ix.docs[id]
	if cur != nil && cur.deleted && s.opts.GCDeletes >= 0 && now.Sub(cur.deletedAt) >= s.opts.GCDeletes {
		delete(ix.docs, id)
		cur = nil
	}
	live := cur != nil && !cur.deleted
	vt := op.meta.VersionType
	external := vt == "external" || vt == "external_gte"
	var newVer int64
	if external {
		prov := *op.meta.Version
		if cur != nil {
			if vt == "external" && cur.version >= prov {
				return itemErr(ix, ix.name, id, 409, cause("version_conflict_engine_exception",
					fmt.Sprintf("[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", id, cur.version, prov))), ix
			}
			if vt == "external_gte" && cur.version > prov {
				return itemErr(ix, ix.name, id, 409, cause("version_conflict_engine_exception",
					fmt.Sprintf("[%s]: version conflict, current version [%d] is higher than the one provided [%d]", id, cur.version, prov))), ix
			}
		}
		newVer = prov
	} else if live {
		newVer = cur.version + 1
	} else if cur != nil {
		newVer = cur.version + 1
	} else {
		newVer = 1
	}
	ok := func(status int, result string, d *doc) map[string]any {
		return map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "result": result,
			"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0},
			"_seq_no": d.seqNo, "_primary_term": 1, "status": status}
	}
	put := func(src json.RawMessage, deleted bool) *doc {
		d := &doc{source: src, version: newVer, seqNo: ix.seqNo, deleted: deleted, order: ix.order}
		if deleted {
			d.deletedAt = now
		}
		ix.seqNo++
		ix.order++
		ix.docs[id] = d
		return d
	}
	switch op.action {
	case "create":
		if live {
			return itemErr(ix, ix.name, id, 409, cause("version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, cur.version))), ix
		}
		fallthrough
	case "index":
		if c := checkDoc(ix, id, op.source); c != nil {
			return itemErr(ix, ix.name, id, 400, c), ix
		}
		d := put(op.source, false)
		if live {
			return ok(200, "updated", d), ix
		}
		return ok(201, "created", d), ix
	case "update":
		var u struct {
			Doc         map[string]any `json:"doc"`
			DocAsUpsert bool           `json:"doc_as_upsert"`
			Upsert      map[string]any `json:"upsert"`
		}
		if err := json.Unmarshal(op.source, &u); err != nil {
			return itemErr(ix, ix.name, id, 400, cause("x_content_parse_exception", err.Error())), ix
		}
		var merged map[string]any
		switch {
		case live:
			_ = json.Unmarshal(cur.source, &merged)
			for k, v := range u.Doc {
				merged[k] = v
			}
		case u.DocAsUpsert:
			merged = u.Doc
		case u.Upsert != nil:
			merged = u.Upsert
		default:
			return itemErr(ix, ix.name, id, 404, cause("document_missing_exception", "["+id+"]: document missing")), ix
		}
		src, _ := json.Marshal(merged)
		if live && bytes.Equal(canon(cur.source), src) {
			return ok(200, "noop", cur), ix
		}
		if c := checkDoc(ix, id, src); c != nil {
			return itemErr(ix, ix.name, id, 400, c), ix
		}
		d := put(src, false)
		if live {
			return ok(200, "updated", d), ix
		}
		return ok(201, "created", d), ix
	default: // delete
		d := put(nil, true)
		if live {
			return ok(200, "deleted", d), ix
		}
		if !external {
			delete(ix.docs, id)
		}
		return ok(404, "not_found", d), ix
	}
}

func canon(b json.RawMessage) []byte {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.Marshal(v)
	return out
}
