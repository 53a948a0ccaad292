package estest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

func newClient(t testing.TB, url string, mod ...func(*elasticsearch.Config)) *elasticsearch.Client {
	t.Helper()
	cfg := elasticsearch.Config{Addresses: []string{url}}
	for _, m := range mod {
		m(&cfg)
	}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return es
}

// resp is a decoded response.
type resp struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (r resp) errType() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

func (r resp) rootCauseType() string {
	e, _ := r.Body["error"].(map[string]any)
	rc, _ := e["root_cause"].([]any)
	if len(rc) == 0 {
		return ""
	}
	s, _ := rc[0].(map[string]any)["type"].(string)
	return s
}

// do performs an esapi request and decodes the body; a transport error fails the test.
func do(t testing.TB, es *elasticsearch.Client, req esapi.Request) resp {
	t.Helper()
	r, err := try(es, req)
	if err != nil {
		t.Fatalf("request %T: %v", req, err)
	}
	return r
}

func try(es *elasticsearch.Client, req esapi.Request) (resp, error) {
	res, err := req.Do(context.Background(), es)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	out := resp{Status: res.StatusCode, Raw: string(raw)}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if len(raw) > 0 {
		if err := d.Decode(&v); err != nil {
			return out, fmt.Errorf("decode %q: %w", raw, err)
		}
	}
	out.Body, _ = v.(map[string]any)
	return out, nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func ndjson(lines ...any) io.Reader {
	var b strings.Builder
	for _, l := range lines {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	return strings.NewReader(b.String())
}

func want(t testing.TB, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
}

// bulkItems returns (action, item) pairs of a bulk response.
func bulkItems(t testing.TB, r resp) []map[string]any {
	t.Helper()
	want(t, r, 200)
	var out []map[string]any
	for _, it := range r.Body["items"].([]any) {
		for _, v := range it.(map[string]any) {
			out = append(out, v.(map[string]any))
		}
	}
	return out
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}
