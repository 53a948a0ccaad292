package plan

import (
	"strings"
	"unicode"
)

// TargetName maps a source name (table or column) that the plan does not
// name explicitly to its target name, following p.Naming.
func (p *Plan) TargetName(source string) string {
	switch p.Naming {
	case NamingSnakeCase:
		return SnakeCase(source)
	case NamingLower:
		return strings.ToLower(source)
	}
	return source
}

// SnakeCase turns CamelCase and PascalCase names into snake_case:
// "InvoiceLine" → "invoice_line", "HTTPServer" → "http_server",
// "MediaTypeId" → "media_type_id", "Address2" → "address2". Names already in
// snake_case are kept; spaces, hyphens and dots become underscores.
func SnakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	lastUnderscore := true // no underscore at the start
	for i, r := range rs {
		switch {
		case r == ' ' || r == '-' || r == '.':
			r = '_'
		case unicode.IsUpper(r):
			if i > 0 && !lastUnderscore {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
		lastUnderscore = r == '_'
	}
	return b.String()
}
