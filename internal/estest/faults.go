package estest

import (
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults is the fault injector. Its methods are safe for concurrent use and
// take effect on the next request. Faults apply to every route except GET /
// and HEAD / unless noted.
type Faults struct {
	mu         sync.Mutex
	reject     int       // next N requests answer 429
	rejectTill time.Time // requests answer 429 until then
	unavail    int       // next N requests answer 503
	latency    time.Duration
	dropBefore int // next N requests: connection closed before applying
	dropAfter  int // next N requests: applied, then connection closed
	omit       bool
	itemRate   float64
	itemIDs    map[string]int // id -> status to fail with
	rng        *rand.Rand
}

// Reject429 makes the next n requests fail with a whole-request 429
// es_rejected_execution_exception.
func (f *Faults) Reject429(n int) { f.mu.Lock(); f.reject = n; f.mu.Unlock() }

// Reject429For makes every request fail with 429 for d.
func (f *Faults) Reject429For(d time.Duration) {
	f.mu.Lock()
	f.rejectTill = time.Now().Add(d)
	f.mu.Unlock()
}

// Unavailable503 makes the next n requests fail with 503 (retried by the
// transport by default).
func (f *Faults) Unavailable503(n int) { f.mu.Lock(); f.unavail = n; f.mu.Unlock() }

// Latency adds d before every response.
func (f *Faults) Latency(d time.Duration) { f.mu.Lock(); f.latency = d; f.mu.Unlock() }

// DropConnections closes the connection without a response on the next n
// requests; with afterApply the request is executed first (duplicate
// delivery on retry), otherwise it is not.
func (f *Faults) DropConnections(n int, afterApply bool) {
	f.mu.Lock()
	if afterApply {
		f.dropAfter = n
	} else {
		f.dropBefore = n
	}
	f.mu.Unlock()
}

// OmitProductHeader removes X-Elastic-Product from responses while on.
func (f *Faults) OmitProductHeader(on bool) { f.mu.Lock(); f.omit = on; f.mu.Unlock() }

// FailItemRate fails bulk items with 429 es_rejected_execution_exception at
// the given rate (0..1), deterministically from seed.
func (f *Faults) FailItemRate(rate float64, seed int64) {
	f.mu.Lock()
	f.itemRate, f.rng = rate, rand.New(rand.NewSource(seed))
	f.mu.Unlock()
}

// FailItems fails bulk items with these ids with the given status: 429
// (es_rejected_execution_exception), 409 (version_conflict_engine_exception)
// or 400 (document_parsing_exception). Status 0 clears them.
func (f *Faults) FailItems(status int, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.itemIDs == nil {
		f.itemIDs = map[string]int{}
	}
	for _, id := range ids {
		if status == 0 {
			delete(f.itemIDs, id)
		} else {
			f.itemIDs[id] = status
		}
	}
}

// Reset clears every fault.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject, f.rejectTill, f.unavail, f.latency = 0, time.Time{}, 0, 0
	f.dropBefore, f.dropAfter, f.omit, f.itemRate, f.itemIDs = 0, 0, false, 0, nil
}

const rejectReason = "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=2048, max_coordinating_and_primary_bytes=104857600]"

func (f *Faults) itemFault(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.itemIDs[id]
	if st == 0 && f.itemRate > 0 && f.rng.Float64() < f.itemRate {
		st = 429
	}
	switch st {
	case 0:
		return nil
	case 409:
		return map[string]any{"status": 409, "cause": cause("version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, injected by estest", id))}
	case 400:
		return map[string]any{"status": 400, "cause": cause("document_parsing_exception",
			fmt.Sprintf("[1:2] failed to parse: injected by estest for document with id '%s'", id))}
	}
	return map[string]any{"status": st, "cause": cause("es_rejected_execution_exception", rejectReason)}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// before runs request-level faults; it reports whether it answered.
func (f *Faults) before(w http.ResponseWriter, r *http.Request, s *Server) bool {
	f.mu.Lock()
	if !f.omit {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	if r.URL.Path == "/" {
		f.mu.Unlock()
		return false
	}
	lat := f.latency
	var kind string
	switch {
	case f.dropBefore > 0:
		f.dropBefore--
		kind = "drop"
	case f.reject > 0 || time.Now().Before(f.rejectTill):
		if f.reject > 0 {
			f.reject--
		}
		kind = "429"
	case f.unavail > 0:
		f.unavail--
		kind = "503"
	}
	f.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
		}
	}
	switch kind {
	case "drop":
		s.stats.fault(kind)
		hijackClose(w)
		return true
	case "429":
		s.stats.fault(kind)
		s.writeErr(w, r, newErr(429, "es_rejected_execution_exception", rejectReason))
		return true
	case "503":
		s.stats.fault(kind)
		s.writeErr(w, r, newErr(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"))
		return true
	}
	return false
}

func (f *Faults) takeDropAfter(r *http.Request) bool {
	if r.URL.Path == "/" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropAfter > 0 {
		f.dropAfter--
		return true
	}
	return false
}

type stats struct {
	mu       sync.Mutex
	requests map[string]int
	items    map[string]int
	faults   map[string]int
}

func newStats() stats {
	return stats{requests: map[string]int{}, items: map[string]int{}, faults: map[string]int{}}
}

func (s *stats) count(r *http.Request) {
	s.mu.Lock()
	s.requests[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
}

func (s *stats) item(action string, status int) {
	s.mu.Lock()
	s.items[fmt.Sprintf("%s %d", action, status)]++
	s.items[action]++
	s.mu.Unlock()
}

func (s *stats) fault(kind string) { s.mu.Lock(); s.faults[kind]++; s.mu.Unlock() }

// Requests returns how many requests hit "METHOD /path" so far. A path ending
// in "*" sums every path with that prefix.
func (s *Server) Requests(methodPath string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	if p, ok := strings.CutSuffix(methodPath, "*"); ok {
		n := 0
		for k, v := range s.stats.requests {
			if strings.HasPrefix(k, p) {
				n += v
			}
		}
		return n
	}
	return s.stats.requests[methodPath]
}

// BulkItems returns how many bulk items were processed with the given key:
// an action ("index") or an action and status ("index 409").
func (s *Server) BulkItems(key string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.items[key]
}

// InjectedFaults returns how many faults of a kind ("429", "503", "drop") fired.
func (s *Server) InjectedFaults(kind string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.faults[kind]
}
