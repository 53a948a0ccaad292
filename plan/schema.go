package plan

import (
	"encoding/json"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of the plan format,
// generated from the same declaration of keys the parser uses. Editors can
// use it for completion and early checks; Parse remains the authority
// (it also checks references between stores, URL schemes and the like).
//
// Where the plan allows ${VAR} interpolation in a number, boolean or
// duration, the schema also accepts a string holding "${".
func JSONSchema() []byte {
	defs := map[string]any{}
	root := objectSchema(planSpec, defs)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://transitdb.github.io/transit/plan.schema.json"
	root["title"] = "transit plan"
	defs["check"] = checkSchema(defs)
	root["$defs"] = defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		// The schema is built from static values only; failing to encode
		// it is a programming error.
		panic("plan: encode JSON schema: " + err.Error())
	}
	return append(b, '\n')
}

var interpolated = map[string]any{"type": "string", "pattern": `\$\{`}

func objectSchema(o *object, defs map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range o.Fields {
		props[f.Key] = fieldSchema(f, defs)
		if f.Required {
			required = append(required, f.Key)
		}
	}
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if o.Doc != "" {
		s["description"] = o.Doc
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

func def(defs map[string]any, o *object) map[string]any {
	if _, ok := defs[o.Name]; !ok {
		defs[o.Name] = nil // reserve, in case of recursion
		defs[o.Name] = objectSchema(o, defs)
	}
	return ref(o.Name)
}

func valueSchema(k valueKind, f field, defs map[string]any) map[string]any {
	withMin := func(s map[string]any) map[string]any {
		if f.Min != nil {
			s["minimum"] = *f.Min
		}
		return s
	}
	str := map[string]any{"type": []string{"string", "number", "boolean"}}
	switch k {
	case vString:
		if len(f.Enum) > 0 {
			return map[string]any{"anyOf": []any{map[string]any{"enum": f.Enum}, interpolated}}
		}
		return str
	case vInt:
		if len(f.Enum) > 0 {
			var vals []any
			for _, e := range f.Enum {
				var v any
				_ = json.Unmarshal([]byte(e), &v)
				vals = append(vals, v)
			}
			return map[string]any{"enum": vals}
		}
		return map[string]any{"anyOf": []any{withMin(map[string]any{"type": "integer"}), interpolated}}
	case vBool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, interpolated}}
	case vNumber:
		return map[string]any{"anyOf": []any{withMin(map[string]any{"type": "number"}), interpolated}}
	case vDuration:
		return map[string]any{"type": "string", "pattern": `^([0-9.]+(ns|us|µs|ms|s|m|h))+$|\$\{`}
	case vNumberOrText:
		return map[string]any{"type": []string{"number", "string"}}
	case vStringList:
		return map[string]any{"anyOf": []any{str, map[string]any{"type": "array", "items": str}}}
	case vList:
		return map[string]any{"type": "array", "items": def(defs, f.Elem)}
	case vMap:
		return map[string]any{"type": "object", "additionalProperties": def(defs, f.Elem)}
	case vStringMap:
		return map[string]any{"type": "object", "additionalProperties": str}
	case vMapOfStringMap:
		return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "object", "additionalProperties": str}}
	case vObject:
		return def(defs, f.Elem)
	case vChecks:
		return map[string]any{"type": "array", "items": ref("check")}
	}
	return map[string]any{}
}

func fieldSchema(f field, defs map[string]any) map[string]any {
	s := valueSchema(f.Kind, f, defs)
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	return s
}

// checkSchema describes a check item: one kind key (whose value is the
// kind's long form or, where allowed, its short form) plus severity and
// name.
func checkSchema(defs map[string]any) map[string]any {
	var alts []any
	for _, k := range checkKinds {
		body := objectSchema(k, defs)
		var value any = body
		if k.Short != nil {
			value = map[string]any{"anyOf": []any{body, valueSchema(*k.Short, field{}, defs)}}
		}
		props := map[string]any{k.Name: value}
		for _, f := range checkCommon {
			props[f.Key] = fieldSchema(f, defs)
		}
		alts = append(alts, map[string]any{
			"type":                 "object",
			"description":          k.Doc,
			"properties":           props,
			"required":             []string{k.Name},
			"additionalProperties": false,
		})
	}
	return map[string]any{"oneOf": alts}
}
