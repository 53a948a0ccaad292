package testenv

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Browser is headless Chromium pointed at one page, for tests that check
// what a page renders. Its profile and screenshots live in the test's
// temporary directory.
type Browser struct {
	t   testing.TB
	bin string
	dir string
	url string
}

// Chromium returns a Browser on url, or marks the test Unavailable when
// no chromium is installed (make services installs it). what names the
// page in that message.
func Chromium(t testing.TB, what, url string) *Browser {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return &Browser{t: t, bin: p, dir: t.TempDir(), url: url}
		}
	}
	Unavailable(t, "chromium (renders "+what+")", exec.ErrNotFound)
	return nil
}

// Run runs Chromium headless on the page with extra flags and returns
// what it wrote on stdout; a failure fails the test.
func (b *Browser) Run(extra ...string) []byte {
	b.t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir=" + filepath.Join(b.dir, "profile")}, extra...)
	args = append(args, b.url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.Bytes()
}

// DOM is the page's DOM after rendering.
func (b *Browser) DOM() string { b.t.Helper(); return string(b.Run("--dump-dom")) }

// Screenshot renders the page at width×height into a PNG in the test's
// temporary directory and returns its path and how many of every fourth
// pixel (every second row and column) are not white: a blank page gives
// about zero.
func (b *Browser) Screenshot(width, height int) (string, int) {
	b.t.Helper()
	shot := filepath.Join(b.dir, "screenshot.png")
	b.Run("--screenshot="+shot, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
	f, err := os.Open(shot)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		b.t.Fatal(err)
	}
	r := img.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				n++
			}
		}
	}
	return shot, n
}
