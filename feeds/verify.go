package feeds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transitdb/transit/feeds/feedverify"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/verify"
)

// VerifySource is what PostgreSQL says the feed's store should hold: the
// table's rows (the feed's columns) or the documents query's results.
func (f *Feed) VerifySource() (feedverify.Source, error) {
	if f.pool == nil {
		return nil, fmt.Errorf("feed %s: the source has no pool to verify from", f.Name())
	}
	if f.Spec.Documents == nil {
		return feedverify.NewTable(f.pool, f.schema, f.Spec.FromTable, f.id, f.cols)
	}
	return feedverify.NewQuery(f.pool, f.schema, f.Spec.FromTable, f.id[0], f.Spec.Documents.Query)
}

// Compare compares generation gen of the feed's Target with PostgreSQL
// (feedverify.Compare); maxDiffs bounds the differences kept with fields.
func (f *Feed) Compare(ctx context.Context, gen string, maxDiffs int) (*feedverify.Report, error) {
	src, err := f.VerifySource()
	if err != nil {
		return nil, err
	}
	rep, err := feedverify.Compare(ctx, src, f.Target, gen, feedverify.Options{Name: f.Name(), MaxDiffs: maxDiffs})
	if err != nil {
		return nil, fmt.Errorf("feed %s: verify %s: %w", f.Name(), gen, err)
	}
	return rep, nil
}

// ErrDiffers says a compare found differences.
var ErrDiffers = errors.New("differs from PostgreSQL")

// Summary says in one line what a report found: the counts and the first
// few differences (fields of changed documents with both values).
func Summary(rep *feedverify.Report, first int) string {
	if rep.Consistent() {
		return fmt.Sprintf("equal: %d documents", rep.Docs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d documents in PostgreSQL, %d in %s: %d missing, %d extra, %d changed",
		rep.Docs, rep.Stored, rep.Generation, rep.Missing, rep.Extra, rep.Changed)
	for i, d := range rep.Diffs {
		if i == first {
			fmt.Fprintf(&b, "; …")
			break
		}
		if i == 0 {
			b.WriteString("; first: ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %v", d.Kind, d.Key[0])
		if d.Kind == verify.Changed && len(d.Fields) > 0 {
			var fs []string
			for _, fd := range d.Fields {
				fs = append(fs, fmt.Sprintf("%s %s → %s", fd.Column, nullText(fd.Old, fd.OldNull), nullText(fd.New, fd.NewNull)))
			}
			fmt.Fprintf(&b, " (%s)", strings.Join(fs, ", "))
		}
	}
	return b.String()
}

func nullText(s string, null bool) string {
	if null {
		return "NULL"
	}
	return strconv.Quote(s)
}

// VerifyBeforeSwitch is the rebuild's verify hook (Options.Verify): it
// compares gen with PostgreSQL and returns an error naming the counts and
// the first differences when they differ.
func VerifyBeforeSwitch(ctx context.Context, f *Feed, gen string) error {
	rep, err := f.Compare(ctx, gen, 10)
	if err != nil {
		return err
	}
	if !rep.Consistent() {
		return &DiffersError{IDs: rep.RepairIDs(), Summary: Summary(rep, 5)}
	}
	return nil
}

// DiffersError is VerifyBeforeSwitch's error when the compare found
// differences (errors.Is(err, ErrDiffers)). It carries the ID of every
// differing document, so a rebuild can tell changes that were in flight
// during the compare (the catch-up after it applies them) from real
// differences.
type DiffersError struct {
	IDs     []string // every differing document's ID (feedverify's RepairIDs)
	Summary string   // the counts and the first differences
}

func (e *DiffersError) Error() string { return ErrDiffers.Error() + ": " + e.Summary }
func (e *DiffersError) Unwrap() error { return ErrDiffers }

// ParseID turns a document ID (feedverify's RepairIDs) back into the
// values of the feed's id columns, typed as the table's columns, so
// Refeed can read the rows again.
func (f *Feed) ParseID(id string) (record.Key, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == '\\' && i+1 < len(id):
			i++
			cur.WriteByte(id[i])
		case c == ':':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	if len(parts) != len(f.id) {
		return nil, fmt.Errorf("feed %s: document id %q has %d parts, the feed's id has %d columns", f.Name(), id, len(parts), len(f.id))
	}
	key := make(record.Key, len(parts))
	for i, p := range parts {
		key[i] = p
		if c := f.table.Column(f.id[i]); c != nil && c.Type == record.Int {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("feed %s: document id %q: %s is not an integer", f.Name(), id, f.id[i])
			}
			key[i] = n
		}
	}
	return key, nil
}
