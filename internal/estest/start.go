package estest

import (
	"net/http/httptest"
	"testing"
)

// Start runs a server with default options on a loopback httptest server and
// closes it when the test ends. It returns the URL and the server handle.
func Start(t testing.TB) (string, *Server) {
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) (string, *Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL, s
}
