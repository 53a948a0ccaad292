package estest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// checkDoc validates a source against the index mapping, adding dynamic
// mappings for new top-level fields as ES does.
func checkDoc(ix *index, id string, src json.RawMessage) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(src, &m); err != nil {
		return cause("document_parsing_exception", fmt.Sprintf("failed to parse: %v", err))
	}
	props := ix.mappings["properties"].(map[string]any)
	for f, v := range m {
		def, ok := props[f].(map[string]any)
		if !ok {
			if ix.mappings["dynamic"] == "strict" {
				return cause("strict_dynamic_mapping_exception",
					fmt.Sprintf("[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", f))
			}
			if t := dynType(v); t != "" {
				props[f] = map[string]any{"type": t}
			}
			continue
		}
		t, _ := def["type"].(string)
		if !fits(t, v) {
			return cause("document_parsing_exception",
				fmt.Sprintf("[1:2] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%v'", f, t, id, v),
				"caused_by", cause("illegal_argument_exception", fmt.Sprintf("For input string: \"%v\"", v)))
		}
	}
	return nil
}

func dynType(v any) string {
	switch x := v.(type) {
	case string:
		return "keyword"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "long"
		}
		return "float"
	}
	return ""
}

func fits(t string, v any) bool {
	if v == nil {
		return true
	}
	switch t {
	case "long", "integer", "short", "byte", "unsigned_long":
		switch x := v.(type) {
		case float64:
			return x == math.Trunc(x)
		case string:
			_, err := strconv.ParseInt(x, 10, 64)
			return err == nil
		}
		return false
	case "double", "float", "half_float", "scaled_float":
		switch x := v.(type) {
		case float64:
			return true
		case string:
			_, err := strconv.ParseFloat(x, 64)
			return err == nil
		}
		return false
	case "boolean":
		switch x := v.(type) {
		case bool:
			return true
		case string:
			return x == "true" || x == "false"
		}
		return false
	case "keyword", "text", "date":
		_, isObj := v.(map[string]any)
		return !isObj
	}
	return true
}

func (s *Server) singleWrite(r *http.Request, expr, id string, body []byte) (int, any, *esError) {
	op := bulkOp{action: "index", source: body, meta: bulkMeta{Index: expr, VersionType: r.URL.Query().Get("version_type")}}
	if id != "" {
		op.meta.ID = &id
	}
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, nil, newErr(400, "illegal_argument_exception", "Failed to parse long parameter [version] with value ["+v+"]")
		}
		op.meta.Version = &n
	}
	if r.URL.Query().Get("op_type") == "create" {
		op.action = "create"
	}
	return s.single1(r, op)
}

func (s *Server) singleDelete(r *http.Request, expr, id string) (int, any, *esError) {
	op := bulkOp{action: "delete", meta: bulkMeta{Index: expr, ID: &id, VersionType: r.URL.Query().Get("version_type")}}
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, nil, newErr(400, "illegal_argument_exception", "Failed to parse long parameter [version] with value ["+v+"]")
		}
		op.meta.Version = &n
	}
	return s.single1(r, op)
}

func (s *Server) single1(r *http.Request, op bulkOp) (int, any, *esError) {
	if op.meta.VersionType == "external_gt" {
		op.meta.VersionType = "external"
	}
	res, ix := s.applyOp(op)
	st := res["status"].(int)
	if c, ok := res["error"].(map[string]any); ok {
		return 0, nil, &esError{status: st, body: c}
	}
	if ix != nil && r.URL.Query().Has("refresh") && r.URL.Query().Get("refresh") != "false" {
		ix.refresh()
	}
	delete(res, "status")
	return st, res, nil
}
