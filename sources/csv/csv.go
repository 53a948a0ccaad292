// Package csv reads CSV files as a transit source: one file is one table
// (named after the file without its extension), a folder is one table per
// .csv file in it (not recursive, sorted by name).
//
// Reading follows RFC 4180: fields may be quoted with '"', quotes inside a
// quoted field are doubled, quoted fields may hold delimiters and line
// breaks; lines end with LF or CRLF; a UTF-8 byte order mark at the start
// of the file is dropped; blank lines are skipped. A quote inside an
// unquoted field is kept as a literal character.
//
// NULL and empty: an empty unquoted field is NULL in every column type; a
// quoted empty field ("") is the empty string in text columns and empty
// bytes in bytes columns, and NULL in every other type.
//
// Types: a type declared in Options.Columns wins; the other columns are
// inferred by Describe, which reads the whole file once. A column is int
// when all its non-empty values are 64-bit integers, else decimal (plain
// decimal text), else float, else bool (true/false, any case), else date
// (YYYY-MM-DD), else timestamp ("YYYY-MM-DD HH:MM:SS[.ffffff]", a space or
// 'T' between date and time, no zone), else timestamptz (the same with "Z"
// or ±hh:mm, i.e. RFC 3339), else text. A column with no non-empty value is
// text.
//
// Declared types: int, decimal(p,s), float, bool (true/false/t/f), text,
// date, time, timestamp, timestamptz (a value without zone is UTC), json,
// uuid (any case, with or without hyphens, read as canonical lower case),
// bytes ("\x"-prefixed hex, otherwise the field's raw bytes). A few SQL
// spellings are accepted (integer, bigint, numeric, boolean, varchar(n)…).
//
// Bad rows are never dropped and never panic. Every value of a row that
// cannot be split into the header's columns — a ragged row ("row at line
// 17 has 5 fields, header has 4"), text after a closing quote, a quote left
// open at the end of the file — is a record.Invalid with that reason, so
// whichever columns a scan selects, the sink rejects the row with its line
// number. A field that is not valid UTF-8 (outside bytes columns) or does
// not parse as its column's type is a record.Invalid on its own.
//
// Order, memory and keys: see package filetable. The default key is a
// column named "id" when there is one.
package csv

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources/csv/filetable"
)

// Options tune how files are read. The zero value reads comma-separated
// files with a header row, infers every type and uses "id" as the key.
type Options struct {
	// Delimiter separates fields. Optional: defaults to ','. It must be a
	// single-byte (ASCII) character other than '"', CR and LF.
	Delimiter rune
	// Header says the first record names the columns. Optional: nil means
	// true. Without a header the columns are named c1, c2, … after the
	// first record's field count.
	Header *bool
	// Columns declares column types per table: table → column → type, e.g.
	// {"orders": {"total": "decimal(10,2)"}}. Undeclared columns are
	// inferred.
	Columns map[string]map[string]string
	// Key declares the key columns per table. Optional: defaults to a
	// column named "id" when there is one, else no key.
	Key map[string][]string
}

// Source reads a CSV file or a folder of them. It implements
// sources.Source and sources.Getter.
type Source struct {
	*filetable.Source
}

// Open opens path, a .csv file or a folder of .csv files. Files are read
// lazily: Open only lists them and checks opts.
func Open(ctx context.Context, path string, opts Options) (*Source, error) {
	delim := opts.Delimiter
	if delim == 0 {
		delim = ','
	}
	if delim >= utf8.RuneSelf || delim == '"' || delim == '\r' || delim == '\n' {
		return nil, fmt.Errorf("csv: delimiter %q must be one ASCII character other than quote, CR and LF", delim)
	}
	header := opts.Header == nil || *opts.Header
	declared := map[string][]record.Column{}
	for tbl, cols := range opts.Columns {
		for name, decl := range cols {
			c, err := filetable.ParseDeclared(decl)
			if err != nil {
				return nil, fmt.Errorf("csv: table %q column %q: %w", tbl, name, err)
			}
			c.Name = name
			declared[tbl] = append(declared[tbl], c)
		}
	}
	files, err := filetable.ListFiles(path, ".csv")
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	known := map[string]bool{}
	var ft []filetable.File
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		known[name] = true
		cfg := &config{delim: byte(delim), header: header, declared: declared[name], key: opts.Key[name]}
		ft = append(ft, filetable.File{Name: name, Path: f, Format: func() filetable.Format { return &format{cfg: cfg} }})
	}
	for tbl := range opts.Columns {
		if !known[tbl] {
			return nil, fmt.Errorf("csv: Columns names table %q, which is not in %s", tbl, path)
		}
	}
	for tbl := range opts.Key {
		if !known[tbl] {
			return nil, fmt.Errorf("csv: Key names table %q, which is not in %s", tbl, path)
		}
	}
	s, err := filetable.New("csv", ft)
	if err != nil {
		return nil, err
	}
	return &Source{s}, nil
}

type config struct {
	delim    byte
	header   bool
	declared []record.Column
	key      []string
}

// format is the per-file state: the columns found by Describe.
type format struct {
	cfg   *config
	cols  []record.Column
	types []record.Type
}

var _ filetable.Format = (*format)(nil)

func (f *format) Describe(ctx context.Context, r io.Reader) (*record.Table, error) {
	rd := newReader(r, f.cfg.delim, 0, 1)
	rd.skipBOM()
	var names []string
	first, err := rd.read()
	if err != nil && err != io.EOF {
		return nil, err
	}
	pending := false
	if first != nil {
		if first.bad != "" {
			return nil, fmt.Errorf("first record: %s", first.bad)
		}
		for i := 0; i < first.n(); i++ {
			name := string(first.field(i))
			if f.cfg.header {
				if !utf8.ValidString(name) {
					return nil, fmt.Errorf("header: column %d name is not valid UTF-8", i+1)
				}
				name = strings.TrimSpace(name)
			}
			if !f.cfg.header || name == "" {
				name = fmt.Sprintf("c%d", i+1)
			}
			names = append(names, name)
		}
		pending = !f.cfg.header
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("header: column %q appears twice", n)
		}
		seen[n] = true
	}
	decl := map[string]record.Column{}
	for _, c := range f.cfg.declared {
		if !seen[c.Name] {
			return nil, fmt.Errorf("declared column %q is not in the file", c.Name)
		}
		decl[c.Name] = c
	}
	inf := make([]filetable.Inference, len(names))
	nulls := make([]bool, len(names))  // an empty unquoted field: NULL
	qempty := make([]bool, len(names)) // a quoted "": NULL unless text or bytes
	observe := func(c *rec) {
		if c.bad != "" || c.n() != len(names) {
			return
		}
		for i := range names {
			b := c.field(i)
			if len(b) == 0 {
				if c.quoted[i] {
					qempty[i] = true
				} else {
					nulls[i] = true
				}
				continue
			}
			if _, ok := decl[names[i]]; ok || !utf8.Valid(b) {
				continue
			}
			inf[i].Add(string(b), false)
		}
	}
	if pending {
		observe(first)
	}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c, err := rd.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		observe(c)
	}
	t := &record.Table{}
	for i, n := range names {
		c, ok := decl[n]
		if !ok {
			c = inf[i].Column(n)
		}
		c.Name = n
		c.Nullable = nulls[i] || qempty[i] && c.Type != record.Text && c.Type != record.Bytes
		t.Columns = append(t.Columns, c)
	}
	t.Key, err = filetable.DefaultKey(t, f.cfg.key)
	if err != nil {
		return nil, err
	}
	f.cols = t.Columns
	f.types = make([]record.Type, len(t.Columns))
	for i, c := range t.Columns {
		f.types[i] = c.Type
	}
	return t, nil
}

func (f *format) Rows(r io.Reader, off int64, line int, fn func(filetable.Row) error) error {
	rd := newReader(r, f.cfg.delim, off, line)
	if off == 0 {
		rd.skipBOM()
		if f.cfg.header {
			if _, err := rd.read(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	row := &csvRow{f: f}
	for {
		c, err := rd.read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row.c = c
		if err := fn(row); err != nil {
			return err
		}
	}
}

// csvRow decodes the values of one record.
type csvRow struct {
	f *format
	c *rec
}

func (r *csvRow) Line() int     { return r.c.line }
func (r *csvRow) Offset() int64 { return r.c.off }
func (r *csvRow) End() int64    { return r.c.end }

func (r *csvRow) Value(i int) any {
	c := r.c
	if c.bad != "" || c.n() != len(r.f.types) {
		reason := c.bad
		if reason == "" {
			reason = fmt.Sprintf("row at line %d has %d fields, header has %d", c.line, c.n(), len(r.f.types))
		}
		raw := ""
		if i < c.n() {
			raw = string(c.field(i))
		}
		return record.Invalid{Raw: raw, Reason: reason}
	}
	b := c.field(i)
	t := r.f.types[i]
	if len(b) == 0 {
		switch {
		case !c.quoted[i]:
			return nil
		case t == record.Text:
			return ""
		case t == record.Bytes:
			return []byte{}
		}
		return nil
	}
	return filetable.ParseText(t, string(b), c.line)
}
