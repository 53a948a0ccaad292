package plan

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// it can write back as a plan that parses again.
func FuzzParse(f *testing.F) {
	for _, path := range examplePlans(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(head + "entities:\n  e: &a { from: old.a, checks: [{not_null: [x]}] }\n  f: *a\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, lookupEnv)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := p.WriteYAML(&b); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		if _, err := Parse("again.yaml", b.Bytes(), nil); err != nil {
			t.Fatalf("written plan does not parse: %v\n%s", err, b.String())
		}
	})
}
