package elasticsearch

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/transitdb/transit/internal/estest"
)

// FuzzAppendString: the hand-written JSON string encoder gives back the
// same text through encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" backslash \\ nl \n tab \t", "\x00\x1f\x7f", "Ünï €", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes as %s, not JSON: %v", s, b, err)
		}
		if got != s {
			t.Fatalf("%q came back as %q", s, got)
		}
	})
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "-12.50": true, "1e5": true, "1.5E-3": true, "123456789012345678901234567890.1": true,
		"": false, "-": false, ".5": false, "5.": false, "01": false, "NaN": false, "Infinity": false, "1e": false, "+1": false, "1 ": false} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
		if want != json.Valid([]byte(s)) && strings.TrimSpace(s) == s {
			t.Errorf("%q: table disagrees with json.Valid", s)
		}
	}
}

// TestAuthHeaders: basic auth and API keys reach the server as the
// Authorization header the client builds.
func TestAuthHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := estest.New(estest.Options{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Username: "elastic", Password: "s3cret"}, "Basic ZWxhc3RpYzpzM2NyZXQ="},
		{Config{Username: "elastic", Password: "s3cret", APIKey: "aWQ6a2V5"}, "APIKey aWQ6a2V5"},
	} {
		c.cfg.Addresses, c.cfg.Alias = []string{ts.URL}, "auth"
		tg, err := New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		seen = nil
		if _, err := tg.Current(t.Context()); err != nil {
			t.Fatal(err)
		}
		if strings.Join(seen, ",") != c.want {
			t.Errorf("Authorization %q, want %q", seen, c.want)
		}
	}
}
