package csv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// reader is a small RFC 4180 reader that, unlike encoding/csv, tells a
// quoted empty field ("") from an unquoted one and reports the byte offset
// and line of every record.
//
// Leniencies, all documented on the package: a quote inside an unquoted
// field is kept as a literal character; text after a closing quote
// (`"ab"c`) and a quoted field left open at the end of the file make the
// record bad (every value of the row becomes a record.Invalid).
type reader struct {
	br    *bufio.Reader
	delim byte
	off   int64 // bytes consumed
	line  int   // lines consumed

	rec     rec
	long    []byte // a line longer than the bufio buffer
	blanks  int    // blank lines skipped
	records int    // records returned
}

// rec is one record; it is reused by the next read.
type rec struct {
	buf    []byte // field bytes, concatenated
	ends   []int  // end of each field in buf
	quoted []bool
	line   int   // line where the record starts
	off    int64 // byte offset of its start
	end    int64 // byte offset just past it (after its line break)
	bad    string
}

func (r *rec) n() int { return len(r.ends) }

func (r *rec) field(i int) []byte {
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.buf[start:r.ends[i]]
}

func newReader(rd io.Reader, delim byte, off int64, line int) *reader {
	return &reader{br: bufio.NewReaderSize(rd, bufSize(rd)), delim: delim, off: off, line: line - 1}
}

// skipBOM drops a UTF-8 byte order mark at the current position.
func (r *reader) skipBOM() {
	if b, err := r.br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		r.br.Discard(3)
		r.off += 3
	}
}

// readLine returns the next physical line, with its '\n' when it has one.
// The slice is valid until the next call.
func (r *reader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	r.off += int64(len(b))
	if len(b) > 0 && b[len(b)-1] == '\n' {
		r.line++
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return b, err
	}
	if len(b) == 0 {
		return nil, io.EOF
	}
	return b, nil
}

// read returns the next record, skipping blank lines; io.EOF at the end.
func (r *reader) read() (*rec, error) {
	c := &r.rec
	for {
		start, startLine := r.off, r.line+1
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if isBlank(line) {
			r.blanks++
			continue
		}
		c.buf, c.ends, c.quoted, c.bad = c.buf[:0], c.ends[:0], c.quoted[:0], ""
		c.off, c.line = start, startLine
		if err := r.parse(line); err != nil {
			return nil, err
		}
		c.end = r.off
		r.records++
		return c, nil
	}
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// lineEnd reports whether line[pos:] is the end of the line: nothing, "\n"
// or "\r\n".
func lineEnd(line []byte, pos int) bool {
	rest := line[pos:]
	return len(rest) == 0 || rest[0] == '\n' || len(rest) == 2 && rest[0] == '\r' && rest[1] == '\n'
}

func (r *reader) parse(line []byte) error {
	c := &r.rec
	pos := 0
	for {
		// Start of a field.
		if pos < len(line) && line[pos] == '"' {
			qline := r.line + 1
			if line[len(line)-1] == '\n' {
				qline = r.line
			}
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					c.buf = append(c.buf, line[pos:]...)
					next, err := r.readLine()
					if errors.Is(err, io.EOF) {
						c.bad = fmt.Sprintf("unterminated quoted field starting at line %d", qline)
						c.ends, c.quoted = append(c.ends, len(c.buf)), append(c.quoted, true)
						return nil
					}
					if err != nil {
						return err
					}
					line, pos = next, 0
					continue
				}
				c.buf = append(c.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					c.buf = append(c.buf, '"')
					pos++
					continue
				}
				break
			}
			// After the closing quote.
			if pos < len(line) && line[pos] == r.delim {
				c.ends, c.quoted = append(c.ends, len(c.buf)), append(c.quoted, true)
				pos++
				continue
			}
			if lineEnd(line, pos) {
				c.ends, c.quoted = append(c.ends, len(c.buf)), append(c.quoted, true)
				return nil
			}
			if c.bad == "" {
				c.bad = fmt.Sprintf("text after the closing quote of field %d at line %d", len(c.ends)+1, r.line+btoi(line[len(line)-1] != '\n'))
			}
			// Keep the rest of the field as unquoted text.
			i := pos
			for i < len(line) && line[i] != r.delim && !lineEnd(line, i) {
				i++
			}
			c.buf = append(c.buf, line[pos:i]...)
			c.ends, c.quoted = append(c.ends, len(c.buf)), append(c.quoted, true)
			if i < len(line) && line[i] == r.delim {
				pos = i + 1
				continue
			}
			return nil
		}
		// Unquoted field.
		i := pos
		for i < len(line) && line[i] != r.delim && line[i] != '\n' {
			i++
		}
		end := i
		if end > pos && line[end-1] == '\r' && (i == len(line) || line[i] == '\n') {
			end--
		}
		c.buf = append(c.buf, line[pos:end]...)
		c.ends, c.quoted = append(c.ends, len(c.buf)), append(c.quoted, false)
		if i < len(line) && line[i] == r.delim {
			pos = i + 1
			continue
		}
		return nil
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bufSize is 64 KiB for a file, or just the row for a row read by offset.
func bufSize(rd io.Reader) int {
	if br, ok := rd.(*bytes.Reader); ok {
		return max(int(br.Len()), 16)
	}
	return 64 << 10
}
