package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transitdb/transit/dualread"
)

// entityServe is what the server keeps per entity so that a read does not
// look things up by name: the record's fields in the order encoding/json
// would write them, and the metric children by phase, source and code.
type entityServe struct {
	fields  []string // sorted
	metrics sync.Map // serveKey → *serveMetrics
}

type serveKey struct {
	phase, source string
	code          int
}

type serveMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newEntityServe(rd *dualread.Reader) *entityServe {
	f := rd.Columns()
	slices.Sort(f)
	return &entityServe{fields: f}
}

func (s *Server) count(es *entityServe, entity, phase, source string, code int, d time.Duration) {
	k := serveKey{phase, source, code}
	var sm *serveMetrics
	if v, ok := es.metrics.Load(k); ok {
		sm = v.(*serveMetrics)
	} else {
		v, _ := es.metrics.LoadOrStore(k, &serveMetrics{
			requests: s.requests.WithLabelValues(entity, phase, source, strconv.Itoa(code)),
			latency:  s.latency.WithLabelValues(entity, phase),
		})
		sm = v.(*serveMetrics)
	}
	sm.requests.Inc()
	sm.latency.Observe(d.Seconds())
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeRecord writes the answer of a found record: the bytes
// writeJSON(w, 200, response{…}) writes, without reflection, a map per
// record or sorting its keys on every read.
func writeRecord(w http.ResponseWriter, es *entityServe, out *response, fields map[string]any) {
	bp := bufs.Get().(*[]byte)
	b, ok := appendResponse((*bp)[:0], es, out, fields)
	if !ok {
		out.Record = jsonRecord(fields)
		writeJSON(w, http.StatusOK, out)
	} else {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		bufs.Put(bp)
	}
}

// appendResponse appends the JSON of out with fields as its record, as
// json.Encoder writes it (keys of the record sorted, HTML characters
// escaped, a newline at the end); false when fields are not the entity's
// columns.
func appendResponse(b []byte, es *entityServe, out *response, fields map[string]any) ([]byte, bool) {
	if len(fields) != len(es.fields) {
		return b, false
	}
	b = append(b, `{"entity":`...)
	b = appendString(b, out.Entity)
	b = append(b, `,"id":`...)
	if out.ID == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, v := range out.ID {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, `,"phase":`...)
	b = appendString(b, out.Phase)
	b = append(b, `,"source":`...)
	b = appendString(b, out.Source)
	if out.Ported {
		b = append(b, `,"ported":true`...)
	}
	b = append(b, `,"record":{`...)
	for i, f := range es.fields {
		v, ok := fields[f]
		if !ok {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f)
		b = append(b, ':')
		b = appendValue(b, recordValue(v))
	}
	return append(b, "}}\n"...), true
}

// appendValue appends v as encoding/json does: the common types directly,
// the others through json.Marshal.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case bool:
		return strconv.AppendBool(b, x)
	}
	j, err := json.Marshal(v)
	if err != nil {
		// encoding/json's Encoder would have failed the whole answer;
		// say what the value was instead.
		j, _ = json.Marshal(err.Error())
	}
	return append(b, j...)
}

// appendString appends s as a JSON string as encoding/json does (with its
// HTML escaping): plain ASCII directly, anything else through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
