package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// WriteJSON writes one JSON object per line per entity: its status,
// counters, column issues, notes and every difference with whole values.
// Field names are stable (snake_case); NULL values are JSON null.
func WriteJSON(w io.Writer, reps []*EntityReport) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range reps {
		if err := enc.Encode(summarize(r, true)); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes reps for a terminal width columns wide: a summary
// table, then per entity its column issues, notes and differences, with
// values truncated to fit.
func WriteTable(w io.Writer, reps []*EntityReport, width int) error {
	if width < 40 {
		width = 80
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tSTATUS\tROWS\tCHUNKS\tHASHED\tFETCHED\tMISSING\tEXTRA\tCHANGED\tREPAIRED")
	for _, r := range reps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Entity, r.Status(), r.RowsCompared,
			r.Chunks, r.ChunksHashed, r.ChunksFetched, r.Missing, r.Extra, r.Changed, r.Repaired)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	valueWidth := max(8, (width-30)/2)
	for _, r := range reps {
		if r.Consistent() && len(r.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s → %s, %s):\n", r.Entity, r.Old, r.New, r.Mode)
		if r.Err != nil {
			fmt.Fprintf(w, "  INCOMPLETE: %s\n", truncate(r.Err.Error(), width-16))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for _, c := range r.Columns {
			fmt.Fprintf(w, "  column %s: %s\n", c.Column, c.Problem)
		}
		for _, d := range r.Diffs {
			mark := ""
			if d.Repaired {
				mark = " (repaired)"
			}
			fmt.Fprintf(w, "  %-8s %s%s\n", d.Kind, keyText(d.Key), mark)
			for _, f := range d.Fields {
				o, n := window(f, valueWidth)
				name := f.Column
				if f.NewName != "" {
					name += " → " + f.NewName
				}
				fmt.Fprintf(w, "      %s: %s → %s\n", name, o, n)
			}
		}
	}
	return nil
}

func keyText(k []any) string {
	parts := make([]string, len(k))
	for i, v := range jsonKey(k) {
		switch x := v.(type) {
		case string:
			parts[i] = strconv.Quote(x)
		default:
			parts[i] = fmt.Sprint(x)
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// window shows the two values of a field quoted and cut to width runes;
// when both are long and share a beginning, the cut starts a little before
// the first difference, so the difference stays in view.
func window(f FieldDiff, width int) (string, string) {
	o, n := []rune(strconv.Quote(f.Old)), []rune(strconv.Quote(f.New))
	p := 0
	for p < len(o) && p < len(n) && o[p] == n[p] {
		p++
	}
	show := func(r []rune, null bool) string {
		if null {
			return "NULL"
		}
		if len(r) > width && !f.OldNull && !f.NewNull && p > width/2 {
			r = append([]rune("…"), r[p-width/4:]...)
		}
		return truncate(string(r), width)
	}
	return show(o, f.OldNull), show(n, f.NewNull)
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
