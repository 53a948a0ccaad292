package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

// chromium finds headless Chromium; "" when it is not installed. Tests
// never install it: make services (scripts/services.sh) does.

func TestHTML(t *testing.T) {
	rep, err := Run(context.Background(), []Target{peopleTarget(t, "people_dirty")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, bad := range []string{"http://", "https://", "<script", "<link"} {
		if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("HTML report is not self-contained: holds %q", bad)
		}
	}
	if !strings.Contains(html, "<svg") {
		t.Error("HTML report has no inline SVG")
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	br := testenv.Chromium(t, "the HTML report", "file://"+file)
	if _, nonWhite := br.Screenshot(1280, 2000); nonWhite < 2000 {
		t.Errorf("screenshot looks blank: %d non-white pixels sampled", nonWhite)
	}
	dom := br.DOM()
	for _, want := range []string{"pattern(email)", "✗", "✓", "unique(email)", "invalid UTF-8", "FAILED"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
}
