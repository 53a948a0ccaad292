package main

import (
	"strings"
	"testing"
)

// TestServeRefusesUnsafeSetups: without a token the server does not start,
// and --insecure-dev is refused on an address that is not loopback. Both
// are checked before the plan is read.
func TestServeRefusesUnsafeSetups(t *testing.T) {
	t.Setenv(serveTokenEnv, "")
	plan := writePlan(t, "version: 1\nname: x\nstores: {}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", plan, "--addr", "127.0.0.1:0"}, serveTokenEnv},
		{[]string{"serve", plan, "--addr", "0.0.0.0:8080", "--insecure-dev"}, "loopback"},
		{[]string{"serve", plan, "--addr", ":8080", "--insecure-dev"}, "loopback"},
		{[]string{"serve", plan, "--addr", "192.168.1.5:8080", "--insecure-dev"}, "loopback"},
		{[]string{"serve", plan, "--addr", "127.0.0.1:0", "--insecure-dev", "--pin-phase", "orders=later"}, "--pin-phase"},
	} {
		code, _, errOut := transitRun(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args[2:], code, errOut, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.0.0.2:9": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.1:80": false, "example.com:80": false, "bad": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
