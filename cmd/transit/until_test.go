package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseUntil: --until takes now (the command's start), RFC 3339, or a
// date and time read as UTC; anything else is a usage error that names the
// forms.
func TestParseUntil(t *testing.T) {
	before := time.Now()
	got, err := parseUntil("now")
	if err != nil || got == nil || got.Before(before) || got.After(time.Now()) {
		t.Fatalf("now: %v %v", got, err)
	}
	for in, want := range map[string]time.Time{
		"2024-05-01T02:03:04+02:00": time.Date(2024, 5, 1, 0, 3, 4, 0, time.UTC),
		"2024-05-01 02:03:04":       time.Date(2024, 5, 1, 2, 3, 4, 0, time.UTC),
		"2024-05-01":                time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseUntil(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	if got, err := parseUntil(""); got != nil || err != nil {
		t.Errorf("empty: %v %v", got, err)
	}
	if _, err := parseUntil("yesterday"); err == nil || !strings.Contains(err.Error(), "want now, RFC 3339") {
		t.Errorf("yesterday: %v", err)
	}
}
