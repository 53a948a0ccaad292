// Package jsonl reads JSON Lines files as a transit source: one JSON object
// per line; a .jsonl or .ndjson file is one table (named after the file
// without its extension), a folder is one table per such file in it (not
// recursive, sorted by name). A UTF-8 byte order mark at the start of a
// file is dropped; blank lines are skipped; lines may end with CRLF.
//
// Columns are the union of the keys of all objects, in first-seen order. A
// key missing from an object, and a JSON null, are NULL.
//
// Types: a type declared in Options.Columns wins (same spellings as the csv
// package). Otherwise Describe, which reads the whole file once, infers:
// int when every non-null value is an integral JSON number that fits 64
// bits (no '.', no exponent); decimal when every value is a number and
// some are not such integers (the value is kept exact, as plain decimal
// text); bool for true/false; text for strings (strings that look like
// dates or timestamps stay text unless declared); json for objects and
// arrays (the value's JSON text); text when a column mixes kinds (then a
// non-string value is its JSON text). A column that is always null is text.
//
// Declared types read: int, decimal and float from numbers or strings;
// bool from true/false or "true"/"false"; date, time, timestamp,
// timestamptz and uuid from strings (as in csv); bytes from a base64 string
// (or "\x"-prefixed hex); json from any value; text from a string, or the
// JSON text of any other value.
//
// Bad input never panics and is never dropped: a line that is not a JSON
// object (bad JSON, an array, text after the object, a key that is not
// valid UTF-8) is a row whose every value is a record.Invalid naming the
// line; a value that is not valid UTF-8 or does not fit its column's type
// is a record.Invalid on its own.
//
// Order, memory and keys: see package filetable. The default key is a
// column named "id" when there is one.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources/csv/filetable"
)

// Options tune how files are read. The zero value infers every type and
// uses "id" as the key.
type Options struct {
	// Columns declares column types per table: table → column → type, e.g.
	// {"events": {"at": "timestamptz", "amount": "decimal(12,2)"}}.
	Columns map[string]map[string]string
	// Key declares the key columns per table. Optional: defaults to a
	// column named "id" when there is one, else no key.
	Key map[string][]string
}

// Source reads a JSON Lines file or a folder of them. It implements
// sources.Source and sources.Getter.
type Source struct {
	*filetable.Source
}

// Open opens path, a .jsonl/.ndjson file or a folder of them. Files are
// read lazily: Open only lists them and checks opts.
func Open(ctx context.Context, path string, opts Options) (*Source, error) {
	declared := map[string][]record.Column{}
	for tbl, cols := range opts.Columns {
		for name, decl := range cols {
			c, err := filetable.ParseDeclared(decl)
			if err != nil {
				return nil, fmt.Errorf("jsonl: table %q column %q: %w", tbl, name, err)
			}
			c.Name = name
			declared[tbl] = append(declared[tbl], c)
		}
	}
	files, err := filetable.ListFiles(path, ".jsonl", ".ndjson")
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	known := map[string]bool{}
	var ft []filetable.File
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		known[name] = true
		cfg := &config{declared: declared[name], key: opts.Key[name]}
		ft = append(ft, filetable.File{Name: name, Path: f, Format: func() filetable.Format { return &format{cfg: cfg} }})
	}
	for tbl := range opts.Columns {
		if !known[tbl] {
			return nil, fmt.Errorf("jsonl: Columns names table %q, which is not in %s", tbl, path)
		}
	}
	for tbl := range opts.Key {
		if !known[tbl] {
			return nil, fmt.Errorf("jsonl: Key names table %q, which is not in %s", tbl, path)
		}
	}
	s, err := filetable.New("jsonl", ft)
	if err != nil {
		return nil, err
	}
	return &Source{s}, nil
}

type config struct {
	declared []record.Column
	key      []string
}

// format is the per-file state: the columns found by Describe.
type format struct {
	cfg   *config
	names map[string]int
	types []record.Type
}

var _ filetable.Format = (*format)(nil)

// line reads the lines of a file with their offsets.
type lineReader struct {
	br   *bufio.Reader
	off  int64
	line int
	long []byte
}

func newLineReader(r io.Reader, off int64, line int) *lineReader {
	size := 64 << 10
	if br, ok := r.(*bytes.Reader); ok { // one row read by offset: no big buffer
		size = max(int(br.Len()), 16)
	}
	lr := &lineReader{br: bufio.NewReaderSize(r, size), off: off, line: line - 1}
	if off == 0 {
		if b, err := lr.br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
			lr.br.Discard(3)
			lr.off = 3
		}
	}
	return lr
}

// next returns the next non-blank line (without its line break), its line
// number and byte range; io.EOF at the end. The slice is valid until the
// next call.
func (lr *lineReader) next() (b []byte, line int, off, end int64, err error) {
	for {
		b, err = lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.long = append(lr.long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = lr.br.ReadSlice('\n')
				lr.long = append(lr.long, b...)
			}
			b = lr.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, 0, 0, err
		}
		if len(b) == 0 {
			return nil, 0, 0, 0, io.EOF
		}
		off = lr.off
		lr.off += int64(len(b))
		lr.line++
		if t := bytes.TrimSpace(b); len(t) > 0 {
			return t, lr.line, off, lr.off, nil
		}
	}
}

// member is one key and raw value of an object.
type member struct {
	key string
	raw json.RawMessage
}

// parseObject splits one line into its members, in order. A non-empty
// reason says the line is not a JSON object.
func parseObject(line []byte, members []member) ([]member, string) {
	members = members[:0]
	if !json.Valid(line) {
		return members, "not valid JSON"
	}
	if line[0] != '{' {
		return members, "not a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // '{'
		return members, err.Error()
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return members, err.Error()
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return members, err.Error()
		}
		members = append(members, member{key: key, raw: raw})
	}
	return members, ""
}

// kinds of JSON values seen in a column.
const (
	kInt = 1 << iota
	kNum // a number that is not a 64-bit integer literal
	kBool
	kString
	kJSON
)

func kindOf(raw []byte) int {
	switch raw[0] {
	case '"':
		return kString
	case '{', '[':
		return kJSON
	case 't', 'f':
		return kBool
	}
	if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return kInt
	}
	return kNum
}

func (f *format) Describe(ctx context.Context, r io.Reader) (*record.Table, error) {
	lr := newLineReader(r, 0, 1)
	var names []string
	index := map[string]int{}
	var kinds []int
	var present []int // objects holding a non-null value
	objects := 0
	var members []member
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line, _, _, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var bad string
		if members, bad = parseObject(line, members); bad != "" {
			continue
		}
		if !utf8.Valid(line) && !valueHoldsBadUTF8(members) {
			continue // a bad key: the row is Invalid
		}
		objects++
		seen := map[int]bool{}
		for _, m := range members {
			i, ok := index[m.key]
			if !ok {
				i = len(names)
				index[m.key] = i
				names = append(names, m.key)
				kinds = append(kinds, 0)
				present = append(present, 0)
			}
			if string(m.raw) == "null" || seen[i] {
				continue
			}
			seen[i] = true
			present[i]++
			if utf8.Valid(m.raw) {
				kinds[i] |= kindOf(m.raw)
			}
		}
	}
	decl := map[string]record.Column{}
	for _, c := range f.cfg.declared {
		if _, ok := index[c.Name]; !ok {
			return nil, fmt.Errorf("declared column %q is not in the file", c.Name)
		}
		decl[c.Name] = c
	}
	t := &record.Table{}
	for i, n := range names {
		c, ok := decl[n]
		if !ok {
			c = record.Column{Native: "inferred"}
			switch k := kinds[i]; k {
			case kInt:
				c.Type, c.Bits = record.Int, 64
			case kNum, kInt | kNum:
				c.Type = record.Decimal
			case kBool:
				c.Type = record.Bool
			case kJSON:
				c.Type = record.JSON
			default:
				c.Type = record.Text
			}
			c.Native += " " + c.Type.String()
		}
		c.Name = n
		c.Nullable = present[i] < objects
		t.Columns = append(t.Columns, c)
	}
	var err error
	if t.Key, err = filetable.DefaultKey(t, f.cfg.key); err != nil {
		return nil, err
	}
	f.names = index
	f.types = make([]record.Type, len(t.Columns))
	for i, c := range t.Columns {
		f.types[i] = c.Type
	}
	return t, nil
}

func valueHoldsBadUTF8(members []member) bool {
	for _, m := range members {
		if !utf8.Valid(m.raw) {
			return true
		}
	}
	return false
}

func (f *format) Rows(r io.Reader, off int64, line int, fn func(filetable.Row) error) error {
	lr := newLineReader(r, off, line)
	row := &jsonRow{f: f, raws: make([]json.RawMessage, len(f.types))}
	for {
		b, ln, start, end, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row.reset(b, ln, start, end)
		if err := fn(row); err != nil {
			return err
		}
	}
}

// jsonRow decodes the values of one line.
type jsonRow struct {
	f        *format
	line     int
	off, end int64
	text     []byte
	bad      string
	members  []member
	raws     []json.RawMessage // by column; nil = absent
}

func (r *jsonRow) reset(b []byte, line int, off, end int64) {
	r.text, r.line, r.off, r.end = b, line, off, end
	clear(r.raws)
	var bad string
	r.members, bad = parseObject(b, r.members)
	switch {
	case bad != "":
		r.bad = fmt.Sprintf("line %d: %s", line, bad)
	case !utf8.Valid(b) && !valueHoldsBadUTF8(r.members):
		r.bad = fmt.Sprintf("invalid UTF-8 at line %d", line)
	default:
		r.bad = ""
		for _, m := range r.members {
			if i, ok := r.f.names[m.key]; ok {
				r.raws[i] = m.raw
			}
		}
	}
}

func (r *jsonRow) Line() int     { return r.line }
func (r *jsonRow) Offset() int64 { return r.off }
func (r *jsonRow) End() int64    { return r.end }

func (r *jsonRow) Value(i int) any {
	if r.bad != "" {
		return record.Invalid{Raw: string(r.text), Reason: r.bad}
	}
	raw := r.raws[i]
	if raw == nil || string(raw) == "null" {
		return nil
	}
	return convert(r.f.types[i], raw, r.line)
}

// convert reads one raw JSON value as type t.
func convert(t record.Type, raw []byte, line int) any {
	if !utf8.Valid(raw) {
		return record.Invalid{Raw: string(raw), Reason: fmt.Sprintf("invalid UTF-8 at line %d", line)}
	}
	kind := kindOf(raw)
	mismatch := func() any {
		return record.Invalid{Raw: string(raw), Reason: fmt.Sprintf("line %d: JSON %s is not a valid %s", line, kindName(kind), t)}
	}
	var s string
	if kind == kString {
		if err := json.Unmarshal(raw, &s); err != nil {
			return record.Invalid{Raw: string(raw), Reason: fmt.Sprintf("line %d: %v", line, err)}
		}
	}
	switch t {
	case record.Text:
		if kind == kString {
			return s
		}
		return string(raw)
	case record.JSON:
		return string(raw)
	case record.Int:
		switch kind {
		case kInt:
			n, _ := strconv.ParseInt(string(raw), 10, 64)
			return n
		case kNum:
			d, ok := filetable.PlainDecimal(string(raw))
			if ip, frac, _ := strings.Cut(d, "."); ok && strings.Trim(frac, "0") == "" {
				if n, err := strconv.ParseInt(ip, 10, 64); err == nil {
					return n
				}
			}
			return mismatch()
		case kString:
			return filetable.ParseText(t, s, line)
		}
	case record.Decimal:
		switch kind {
		case kInt, kNum:
			if d, ok := filetable.PlainDecimal(string(raw)); ok {
				return d
			}
		case kString:
			return filetable.ParseText(t, s, line)
		}
	case record.Float:
		switch kind {
		case kInt, kNum:
			if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
				return f
			}
		case kString:
			return filetable.ParseText(t, s, line)
		}
	case record.Bool:
		switch kind {
		case kBool:
			return raw[0] == 't'
		case kString:
			return filetable.ParseText(t, s, line)
		}
	case record.Bytes:
		if kind == kString {
			if strings.HasPrefix(s, `\x`) {
				return filetable.ParseText(t, s, line)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return record.Invalid{Raw: s, Reason: fmt.Sprintf("line %d: bytes are not base64", line)}
			}
			return b
		}
	default: // Date, Time, Timestamp, TimestampTZ, UUID
		if kind == kString {
			return filetable.ParseText(t, s, line)
		}
	}
	return mismatch()
}

func kindName(k int) string {
	switch k {
	case kInt, kNum:
		return "number"
	case kBool:
		return "boolean"
	case kString:
		return "string"
	}
	return "object or array"
}
