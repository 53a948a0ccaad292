package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// validate checks v against the subset of JSON Schema that JSONSchema
// produces: type, enum, pattern, minimum, properties, required,
// additionalProperties, items, anyOf, oneOf and local $ref.
func validate(root, s map[string]any, v any, path string) error {
	if r, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(r, "#/$defs/")
		d, ok := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: dangling $ref %s", path, r)
		}
		return validate(root, d, v, path)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		if n := matches(root, alts, v, path); n == 0 {
			return fmt.Errorf("%s: matches no anyOf alternative", path)
		}
	}
	if alts, ok := s["oneOf"].([]any); ok {
		if n := matches(root, alts, v, path); n != 1 {
			return fmt.Errorf("%s: matches %d oneOf alternatives, want 1", path, n)
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s is not %v", path, jsonType(v), types)
		}
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if fmt.Sprint(x) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %v not in %v", path, v, e)
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
	}
	if m, ok := s["minimum"].(float64); ok {
		if f, ok := toFloat(v); ok && f < m {
			return fmt.Errorf("%s: %v < %v", path, v, m)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: missing %q", path, r)
			}
		}
		for k, val := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				if err := validate(root, ps, val, path+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: unexpected key %q", path, k)
				}
			case map[string]any:
				if err := validate(root, ap, val, path+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				if err := validate(root, items, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func matches(root map[string]any, alts []any, v any, path string) int {
	n := 0
	for _, a := range alts {
		if validate(root, a.(map[string]any), v, path) == nil {
			n++
		}
	}
	return n
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, x.(string))
		}
	}
	return out
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int:
		return "integer"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(JSONSchema(), &s); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	return s
}

func yamlValue(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJSONSchemaKeys(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" || s["additionalProperties"] != false {
		t.Errorf("schema header: %v %v", s["$schema"], s["additionalProperties"])
	}
	props := s["properties"].(map[string]any)
	for _, k := range planSpec.keys() {
		if props[k] == nil {
			t.Errorf("top-level key %q missing from schema", k)
		}
	}
	ent := s["$defs"].(map[string]any)["entity"].(map[string]any)
	eprops := ent["properties"].(map[string]any)
	if len(eprops) != len(entitySpec.Fields) {
		t.Errorf("entity schema has %d keys, parser %d", len(eprops), len(entitySpec.Fields))
	}
	for _, k := range entitySpec.keys() {
		if eprops[k] == nil {
			t.Errorf("entity key %q missing from schema", k)
		}
	}
}

// TestSpecKeysExercised makes sure the example plans use every key the
// parser declares, so the example-based tests cover the whole format.
func TestSpecKeysExercised(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				used[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, f := range examplePlans(t) {
		data, _ := os.ReadFile(f)
		walk(yamlValue(t, data))
	}
	objs := append([]*object{planSpec, storeSpec, tableRuleSpec, entitySpec, columnRuleSpec, limitsSpec, throttleSpec, breakerSpec}, checkKinds...)
	for _, o := range objs {
		for _, k := range o.keys() {
			if !used[k] {
				t.Errorf("no example plan uses %s key %q", o.Name, k)
			}
		}
	}
}

func TestExamplesMatchSchema(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	for _, f := range examplePlans(t) {
		data, _ := os.ReadFile(f)
		if err := validate(s, s, yamlValue(t, data), "$"); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for name, src := range map[string]string{
		"unknown top key":    head + "colour: red\n",
		"unknown entity key": head + "entities:\n  e: { from: old.a, versoin: x }\n",
		"two check kinds":    head + "entities:\n  e:\n    from: old.a\n    checks:\n      - { not_null: a, unique: b }\n",
		"bad severity":       head + "entities:\n  e:\n    from: old.a\n    checks:\n      - { not_null: a, severity: fatal }\n",
		"bad kind":           head + "  m: { kind: mongo, url: x }\n",
		"batch size 0":       head + "tables:\n  - { from: old.*, to: pg, batch_size: 0 }\n",
	} {
		if err := validate(s, s, yamlValue(t, []byte(src)), "$"); err == nil {
			t.Errorf("%s: schema accepts what Parse rejects", name)
		}
	}
}
