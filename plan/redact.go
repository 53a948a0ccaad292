package plan

import (
	"strings"
)

// redacted replaces every password RedactURL removes.
const redacted = "xxxxx"

// RedactURL returns u with any password replaced by "xxxxx": the password
// of the user info in scheme://user:password@host URLs (and in
// user:password@tcp(host)/db MySQL DSNs), and the value of password-like
// parameters (password, sslpassword, pwd, secret...) in the query string
// or in key=value connection strings. When the URL is ambiguous it redacts
// too much rather than too little: it never leaks a password.
func RedactURL(u string) string {
	rest, prefix := u, ""
	if i := strings.Index(u, "://"); i >= 0 {
		prefix, rest = u[:i+3], u[i+3:]
	} else if at := strings.LastIndex(u, "@"); at < 0 || strings.ContainsAny(u[:at], "= \t") {
		// Not user:password@host shaped: a key=value string (or plain).
		return redactKeyValues(u)
	}
	// User info ends at the last @ of the authority. A password holding an
	// unescaped / ? or # hides that @ behind the path; then take the last @
	// of the whole string, which may redact part of the host or path but
	// never leaves a password readable.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		at = strings.LastIndex(rest, "@")
	}
	if at >= 0 {
		user := rest[:at]
		if c := strings.IndexByte(user, ':'); c >= 0 && c+1 < len(user) {
			user = user[:c+1] + redacted
		}
		rest = user + rest[at:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q+1] + redactQuery(rest[q+1:])
	}
	return prefix + rest
}

func sensitiveKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || k == "pwd" || strings.Contains(k, "token")
}

// redactQuery redacts password-like parameters of a URL query string.
func redactQuery(q string) string {
	frag := ""
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q, frag = q[:i], q[i:]
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, v, ok := strings.Cut(p, "="); ok && v != "" && sensitiveKey(k) {
			parts[i] = k + "=" + redacted
		}
	}
	return strings.Join(parts, "&") + frag
}

// redactKeyValues redacts password-like values of a libpq-style
// "key=value key='quoted value'" connection string.
func redactKeyValues(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		// Copy blanks, then read a key up to '='.
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		eq := strings.IndexByte(s[j:], '=')
		if eq < 0 {
			b.WriteString(s[i:])
			break
		}
		key := s[j : j+eq]
		if strings.ContainsAny(strings.TrimSpace(key), " \t") {
			// Not key=value shaped: stop interpreting; hide the rest if it
			// might hold a password.
			if strings.Contains(strings.ToLower(s[j:]), "pass") {
				b.WriteString(s[i:j] + redacted)
			} else {
				b.WriteString(s[i:])
			}
			break
		}
		v := j + eq + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		end := v
		if end < len(s) && s[end] == '\'' {
			end++
			for end < len(s) && s[end] != '\'' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(s))
		} else {
			for end < len(s) && s[end] != ' ' && s[end] != '\t' {
				end++
			}
		}
		b.WriteString(s[i:v])
		if sensitiveKey(key) && end > v {
			b.WriteString(redacted)
		} else {
			b.WriteString(s[v:end])
		}
		i = end
	}
	return b.String()
}

// Redacted returns a deep copy of p with every store URL passed through
// RedactURL. Entities keep pointing at the copy's table rules.
func (p *Plan) Redacted() *Plan {
	c := p.clone()
	for _, s := range c.Stores {
		s.URL = RedactURL(s.URL)
	}
	return c
}

// clone deep-copies p.
func (p *Plan) clone() *Plan {
	c := *p
	c.Stores = make([]*Store, len(p.Stores))
	for i, s := range p.Stores {
		cs := *s
		if s.Header != nil {
			h := *s.Header
			cs.Header = &h
		}
		if s.Columns != nil {
			cs.Columns = make(map[string]map[string]string, len(s.Columns))
			for t, cols := range s.Columns {
				m := make(map[string]string, len(cols))
				for k, v := range cols {
					m[k] = v
				}
				cs.Columns[t] = m
			}
		}
		cs.Limits = s.Limits.clone()
		c.Stores[i] = &cs
	}
	rules := map[*TableRule]*TableRule{}
	c.Tables = make([]*TableRule, len(p.Tables))
	for i, r := range p.Tables {
		cr := *r
		cr.Exclude = cloneStrings(r.Exclude)
		c.Tables[i] = &cr
		rules[r] = &cr
	}
	ruleCopy := func(r *TableRule) *TableRule {
		if r == nil {
			return nil
		}
		if cr, ok := rules[r]; ok {
			return cr
		}
		cr := *r
		cr.Exclude = cloneStrings(r.Exclude)
		rules[r] = &cr
		return &cr
	}
	c.Entities = make([]*Entity, len(p.Entities))
	for i, e := range p.Entities {
		ce := *e
		ce.ID = cloneStrings(e.ID)
		ce.FromRule = ruleCopy(e.FromRule)
		ce.Overrides = ruleCopy(e.Overrides)
		if e.Columns != nil {
			ce.Columns = make(map[string]*ColumnRule, len(e.Columns))
			for k, col := range e.Columns {
				cc := *col
				ce.Columns[k] = &cc
			}
		}
		if e.Checks != nil {
			ce.Checks = make([]*Check, len(e.Checks))
			for j, ch := range e.Checks {
				cc := *ch
				cc.Columns = cloneStrings(ch.Columns)
				cc.RefColumns = cloneStrings(ch.RefColumns)
				cc.Values = cloneStrings(ch.Values)
				if ch.Min != nil {
					v := *ch.Min
					cc.Min = &v
				}
				if ch.Max != nil {
					v := *ch.Max
					cc.Max = &v
				}
				ce.Checks[j] = &cc
			}
		}
		c.Entities[i] = &ce
	}
	return &c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
