package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint scrapes /metrics while a run is moving rows.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	bin, murl, purl, _ := ordersSetup(t, 100_000)
	plan := ordersPlan(t, murl, purl, 200)
	cmd := exec.Command(bin, "run", plan, "--metrics-addr", "127.0.0.1:0", "--workers", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	var url string
	for sc.Scan() {
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			url = "http://" + m[1] + "/metrics"
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if url == "" {
		t.Fatal("no metrics address logged")
	}
	var body string
	for i := 0; i < 100; i++ {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, `transit_rows_total{entity="orders",stage="written"}`) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{`transit_rows_total{entity="orders",stage="read"}`, `transit_batch_seconds_bucket{entity="orders"`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}
