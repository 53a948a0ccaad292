package plan

import (
	"strings"
	"testing"
)

// TestAdviceLedgerOnOldStore: a PostgreSQL → PostgreSQL plan without
// ledger: keeps the ledger on the old store by default, which plan check
// points out; naming the ledger, or a plan whose first postgres store is
// the target, has no such note.
func TestAdviceLedgerOnOldStore(t *testing.T) {
	base := `version: 1
name: n
stores:
  old: { kind: postgres, url: "postgres://a/x" }
  new: { kind: postgres, url: "postgres://b/y" }
`
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"entities", base + "entities:\n  e: { from: old.t, to: new.t }\n", "defaults to old, the first postgres store, which this plan only reads from; add `ledger: new`"},
		{"tables", base + "tables:\n  - { from: old.*, to: new }\n", "add `ledger: new`"},
		{"named", base + "ledger: old\nentities:\n  e: { from: old.t, to: new.t }\n", ""},
		{"target first", `version: 1
name: n
stores:
  new: { kind: postgres, url: "postgres://b/y" }
  old: { kind: mysql, url: "mysql://a/x" }
entities:
  e: { from: old.t, to: new.t }
`, ""},
	} {
		p, err := Parse("p.yaml", []byte(c.yaml), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		adv := strings.Join(p.Advice(), "\n")
		if c.want == "" && adv != "" || c.want != "" && !strings.Contains(adv, c.want) {
			t.Errorf("%s: advice %q, want %q", c.name, adv, c.want)
		}
	}
}
