package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes rep as one indented JSON document. The field names are
// stable: tools and the ledger read them.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// ReadJSON is the inverse of WriteJSON.
func ReadJSON(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("read audit report: %w", err)
	}
	return &rep, nil
}

func opt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clip shortens s for a table cell and shows control characters escaped.
func clip(s string, n int) string {
	q := fmt.Sprintf("%q", s)
	q = q[1 : len(q)-1]
	if r := []rune(q); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return q
}

func idList(ids []string, count int64) string {
	if len(ids) == 0 {
		return ""
	}
	s := strings.Join(ids, " ")
	if int64(len(ids)) < count {
		s += " …"
	}
	return "ids: " + s
}

// WriteText writes rep as a terminal report: one block per entity with the
// column profiles, the rules (✓/✗) and the fit-to-target problems, then a
// one-line verdict.
func WriteText(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	failedRules, fitProblems := 0, 0
	for _, e := range rep.Entities {
		sampled := ""
		if e.Sampled {
			sampled = fmt.Sprintf(" (sampled: first %d rows profiled)", e.SampleRows)
		}
		ew.printf("%s — table %s, %d rows%s\n\n", e.Name, e.Table, e.Rows, sampled)
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  column\ttype\tnulls\tnull%\tempty\tdistinct\tmin\tmax\tsemantic\tnotes")
		for _, c := range e.Columns {
			distinct := itoa(c.Distinct)
			if c.DistinctEstimated {
				distinct = "~" + distinct
			}
			sem := ""
			if c.Semantic != nil {
				sem = c.Semantic.Type
				if c.Semantic.Format != "" {
					sem += " " + c.Semantic.Format
				}
			}
			var notes []string
			if c.InvalidUTF8 > 0 {
				notes = append(notes, fmt.Sprintf("%d invalid UTF-8", c.InvalidUTF8))
			}
			for _, reason := range sortedKeys(c.Invalid) {
				if !strings.Contains(strings.ToLower(reason), "utf-8") {
					notes = append(notes, fmt.Sprintf("%d %s", c.Invalid[reason], reason))
				}
			}
			if c.Whitespace > 0 {
				notes = append(notes, fmt.Sprintf("%d untrimmed", c.Whitespace))
			}
			if c.CaseVariants > 0 {
				notes = append(notes, fmt.Sprintf("%d case variants", c.CaseVariants))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%.1f\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Type, c.Nulls, c.NullFraction*100,
				c.Empty, distinct, clip(opt(c.Min), 20), clip(opt(c.Max), 20), sem, strings.Join(notes, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(e.Rules) > 0 {
			ew.printf("\n  rules\n")
			for _, r := range e.Rules {
				mark := "✓"
				if !r.Passed {
					mark = "✗"
					if r.Severity != "warn" {
						failedRules++
					}
				}
				line := fmt.Sprintf("  %s %s [%s]", mark, r.Name, r.Severity)
				if !r.Passed && r.Count > 0 {
					line += fmt.Sprintf(": %d rows", r.Count)
				}
				if r.Detail != "" {
					line += " — " + r.Detail
				}
				if r.Err != "" {
					line += " — error: " + r.Err
				}
				if ids := idList(r.SampleIDs, r.Count); ids != "" && !r.Passed {
					line += "  " + ids
				}
				ew.printf("%s\n", line)
			}
		}
		if len(e.Fit) > 0 {
			ew.printf("\n  fit to target (predicted rejects)\n")
			for _, f := range e.Fit {
				fitProblems++
				ew.printf("  ✗ %s → %s: %s: %d rows  %s\n", f.Column, f.TargetType, f.Problem, f.Count, idList(f.SampleIDs, f.Count))
			}
		}
		ew.printf("\n")
	}
	verdict := "OK"
	if rep.Failed() {
		verdict = "FAILED"
	}
	ew.printf("%s: %d entities, %d error rules failed, %d fit problems\n", verdict, len(rep.Entities), failedRules, fitProblems)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
