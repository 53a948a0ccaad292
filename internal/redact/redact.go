// Package redact hides passwords in connection strings and in the error
// text that quotes them. It is the one redactor of transit: plan, stores,
// sources and sinks all use it (it imports nothing of transit).
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Mask replaces every password.
const Mask = "xxxxx"

const redacted = Mask

// URL returns u with any password replaced by "xxxxx": the password of the
// user info in scheme://user:password@host URLs (postgres://, mysql://,
// redis://...) and in user:password@tcp(host)/db go-sql-driver DSNs, and
// the value of password-like parameters (password, sslpassword, pwd,
// secret, token...) in the query string or in key=value conninfo strings.
// When the URL is ambiguous it redacts too much rather than too little: it
// never leaks a password.
func URL(u string) string {
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

// Text redacts every connection string found in free text (an error
// message, a log line): scheme://user:password@... URLs, go-sql-driver
// user:password@tcp(...) DSNs and password=value pairs.
func Text(s string) string {
	s = urlInText().ReplaceAllStringFunc(s, URL)
	s = dsnInText().ReplaceAllString(s, "${1}:"+Mask+"@${2}(")
	return kvInText().ReplaceAllStringFunc(s, func(kv string) string {
		m := kvInText().FindStringSubmatch(kv)
		if !sensitiveKey(m[1]) {
			return kv
		}
		return m[1] + m[2] + Mask
	})
}

// Text's patterns compile on first use, not at program start.
var (
	urlInText = lazyRegexp(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	dsnInText = lazyRegexp(`([^\s"'/:@]*):[^\s"'@]+@(tcp|tcp6|unix|udp)\(`)
	kvInText  = lazyRegexp(`(?i)\b([a-z_]+)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&"',;)]+)`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Passwords returns the passwords dsn holds (user info, password-like
// query or key=value parameters), raw and as they would be escaped.
func Passwords(dsn string) []string {
	var out []string
	add := func(p string) {
		if p == "" || p == Mask {
			return
		}
		out = append(out, p)
		if u, err := url.PathUnescape(p); err == nil && u != p {
			out = append(out, u)
		}
		for _, e := range []string{url.QueryEscape(p), url.PathEscape(p)} {
			if e != p {
				out = append(out, e)
			}
		}
	}
	if pw, ok := userPassword(dsn); ok {
		add(pw)
	}
	for _, m := range kvInText().FindAllStringSubmatch(dsn, -1) {
		if sensitiveKey(m[1]) {
			add(strings.Trim(m[3], "'"))
		}
	}
	return out
}

// userPassword finds the password of scheme://user:password@host or
// user:password@tcp(host)/db with the same rules as URL.
func userPassword(u string) (string, bool) {
	rest := u
	if i := strings.Index(u, "://"); i >= 0 {
		rest = u[i+3:]
	} else if at := strings.LastIndex(u, "@"); at < 0 || strings.ContainsAny(u[:at], "= \t") {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		at = strings.LastIndex(rest, "@")
	}
	if at < 0 {
		return "", false
	}
	if c := strings.IndexByte(rest[:at], ':'); c >= 0 && c+1 < at {
		return rest[c+1 : at], true
	}
	return "", false
}

// Error returns err with the passwords of dsn, and any connection string
// its text quotes, hidden from its message. errors.Is and errors.As still
// see the cause. nil stays nil.
func Error(err error, dsn string) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, dsn: dsn}
}

type redactedError struct {
	err error
	dsn string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, p := range Passwords(e.dsn) {
		msg = strings.ReplaceAll(msg, p, Mask)
	}
	return Text(msg)
}

func (e *redactedError) Unwrap() error { return e.err }
