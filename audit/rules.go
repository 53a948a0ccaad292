package audit

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// rule is one plan check being evaluated. Row-level rules set test, which
// the stream calls for every row; whole-table rules set final, called after
// the stream; references set load, called before it.
type rule struct {
	check *plan.Check
	ent   string
	res   RuleResult
	cols  []int
	max   int  // sample IDs kept
	fail  bool // failed without a row count (row_count)
	test  func(row []any) bool
	load  func(ctx context.Context) error
	final func(ctx context.Context, er *entityRun, rep *EntityReport) error
}

func (r *rule) hit(er *entityRun) {
	r.res.Count++
	if len(r.res.SampleIDs) < r.max {
		r.res.SampleIDs = append(r.res.SampleIDs, er.rowID())
	}
}

func (r *rule) errorf(err error, format string, args ...any) *RuleError {
	return &RuleError{Pos: r.check.Pos, Entity: r.ent, Check: r.res.Name, Msg: fmt.Sprintf(format, args...), Err: err}
}

func (r *rule) result(ctx context.Context, er *entityRun, rep *EntityReport) (RuleResult, error) {
	r.res.Passed = true
	if r.final != nil {
		if err := r.final(ctx, er, rep); err != nil {
			// The check was valid before the data was read; a failure now
			// (a timeout, a lost connection) fails the rule, not the audit.
			r.res.Err = err.Error()
			r.res.Passed = false
			return r.res, nil
		}
	}
	if r.res.Count > 0 || r.fail {
		r.res.Passed = false
	}
	return r.res, nil
}

// prepareRules checks every rule of the entity against the table (and the
// referenced tables, and the SQL engine for sql checks) before anything runs.
func (er *entityRun) prepareRules(ctx context.Context) error {
	if er.t.Entity == nil {
		return nil
	}
	for _, c := range er.t.Entity.Checks {
		r := &rule{check: c, ent: er.name, max: er.opts.SampleIDs}
		r.res = RuleResult{Name: checkName(c), Kind: c.Kind, Severity: c.Severity, Pos: c.Pos, SampleIDs: []string{}}
		if r.res.Severity == "" {
			r.res.Severity = "error"
		}
		if r.res.Severity != "error" && r.res.Severity != "warn" {
			return r.errorf(nil, "severity %q: want error or warn", c.Severity)
		}
		for _, name := range c.Columns {
			i := er.table.ColumnIndex(name)
			if i < 0 {
				return r.errorf(nil, "column %q not found in table %s (columns: %s)", name, er.table.Name, strings.Join(er.table.Names(), ", "))
			}
			r.cols = append(r.cols, i)
		}
		needCols := func() error {
			if len(r.cols) == 0 {
				return r.errorf(nil, "%s needs columns", c.Kind)
			}
			return nil
		}
		var err error
		switch c.Kind {
		case "not_null":
			if err = needCols(); err == nil {
				r.test = func(row []any) bool {
					for _, i := range r.cols {
						if row[i] == nil {
							return true
						}
					}
					return false
				}
			}
		case "unique":
			if err = needCols(); err == nil {
				err = er.prepareUnique(r)
			}
		case "references":
			if err = needCols(); err == nil {
				err = er.prepareReferences(ctx, r)
			}
		case "pattern":
			if err = needCols(); err == nil {
				err = er.preparePattern(r)
			}
		case "range":
			if err = needCols(); err == nil {
				err = er.prepareRange(r)
			}
		case "accepted_values":
			if err = needCols(); err == nil {
				if len(c.Values) == 0 {
					return r.errorf(nil, "accepted_values needs values")
				}
				ok := map[string]bool{}
				for _, v := range c.Values {
					ok[v] = true
				}
				r.test = func(row []any) bool {
					for _, i := range r.cols {
						if v := row[i]; v != nil && !ok[valueText(v, er.table.Columns[i].Type)] {
							return true
						}
					}
					return false
				}
			}
		case "max_null_fraction":
			if err = needCols(); err == nil {
				er.prepareNullFraction(r)
			}
		case "row_count":
			if c.Min == nil && c.Max == nil {
				return r.errorf(nil, "row_count needs min or max")
			}
			r.final = func(_ context.Context, _ *entityRun, rep *EntityReport) error {
				if (c.Min != nil && float64(rep.Rows) < *c.Min) || (c.Max != nil && float64(rep.Rows) > *c.Max) {
					r.fail = true
				}
				r.res.Detail = fmt.Sprintf("%d rows, expected %s", rep.Rows, bounds(c.Min, c.Max))
				return nil
			}
		case "freshness":
			err = er.prepareFreshness(r)
		case "sql":
			err = er.prepareSQL(ctx, r)
		default:
			return r.errorf(nil, "unknown check kind %q", c.Kind)
		}
		if err != nil {
			return err
		}
		er.rules = append(er.rules, r)
	}
	return nil
}

func bounds(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("between %s and %s", formatFloat(*lo), formatFloat(*hi))
	case lo != nil:
		return "at least " + formatFloat(*lo)
	case hi != nil:
		return "at most " + formatFloat(*hi)
	}
	return "anything"
}

func (er *entityRun) tupleText(row []any, cols []int) (string, bool) {
	if len(cols) == 1 {
		v := row[cols[0]]
		return valueText(v, er.table.Columns[cols[0]].Type), v != nil
	}
	parts := make([]string, len(cols))
	for j, i := range cols {
		if row[i] == nil {
			return "", false
		}
		parts[j] = valueText(row[i], er.table.Columns[i].Type)
	}
	return strings.Join(parts, "\x00"), true
}

func (er *entityRun) prepareUnique(r *rule) error {
	if sp := er.t.SQL; sp != nil {
		r.final = func(ctx context.Context, er *entityRun, _ *EntityReport) error {
			return er.pushUnique(ctx, r)
		}
		return nil
	}
	// In Go: remember each value with the ID of its first row; a value seen
	// again makes every row holding it a violation.
	seen := map[string]string{}
	const counted = "\x00counted"
	r.test = func(row []any) bool {
		k, ok := er.tupleText(row, r.cols)
		if !ok {
			return false
		}
		first, dup := seen[k]
		if !dup {
			seen[k] = er.rowID()
			return false
		}
		if first != counted {
			r.res.Count++
			if len(r.res.SampleIDs) < r.max {
				r.res.SampleIDs = append(r.res.SampleIDs, first)
			}
			seen[k] = counted
		}
		return true
	}
	return nil
}

func (er *entityRun) preparePattern(r *rule) error {
	re, err := regexp.Compile(r.check.Pattern)
	if err != nil {
		return r.errorf(err, "invalid pattern %q: %v", r.check.Pattern, err)
	}
	if r.check.Pattern == "" {
		return r.errorf(nil, "pattern is empty")
	}
	r.test = func(row []any) bool {
		for _, i := range r.cols {
			if v := row[i]; v != nil && !re.MatchString(valueText(v, er.table.Columns[i].Type)) {
				return true
			}
		}
		return false
	}
	return nil
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (er *entityRun) prepareRange(r *rule) error {
	c := r.check
	if c.Min == nil && c.Max == nil && c.MinText == "" && c.MaxText == "" {
		return r.errorf(nil, "range needs min or max")
	}
	var tests []func(v any) bool // true = out of range
	for _, i := range r.cols {
		col := er.table.Columns[i]
		switch col.Type {
		case record.Date, record.Timestamp, record.TimestampTZ:
			var lo, hi *time.Time
			for _, b := range []struct {
				s   string
				dst **time.Time
			}{{c.MinText, &lo}, {c.MaxText, &hi}} {
				if b.s == "" {
					continue
				}
				t, ok := parseTime(b.s)
				if !ok {
					return r.errorf(nil, "range bound %q of date column %s is not a date or timestamp", b.s, col.Name)
				}
				*b.dst = &t
			}
			if lo == nil && hi == nil {
				return r.errorf(nil, "range on date column %s needs a date bound", col.Name)
			}
			tests = append(tests, func(v any) bool {
				t, ok := v.(time.Time)
				if !ok {
					return false // invalid values are the fit check's business
				}
				return lo != nil && t.Before(*lo) || hi != nil && t.After(*hi)
			})
		case record.Int, record.Uint, record.Float, record.Decimal, record.Year:
			lo, hi := c.Min, c.Max
			if lo == nil && hi == nil {
				return r.errorf(nil, "range on numeric column %s needs a numeric min or max", col.Name)
			}
			tests = append(tests, func(v any) bool {
				f, ok := number(v)
				return ok && (lo != nil && f < *lo || hi != nil && f > *hi)
			})
		default:
			lo, hi := c.MinText, c.MaxText
			if lo == "" && c.Min != nil {
				lo = formatFloat(*c.Min)
			}
			if hi == "" && c.Max != nil {
				hi = formatFloat(*c.Max)
			}
			t := col.Type
			tests = append(tests, func(v any) bool {
				s := valueText(v, t)
				return lo != "" && s < lo || hi != "" && s > hi
			})
		}
	}
	r.test = func(row []any) bool {
		for j, i := range r.cols {
			if v := row[i]; v != nil && tests[j](v) {
				return true
			}
		}
		return false
	}
	return nil
}

func (er *entityRun) prepareNullFraction(r *rule) {
	c := r.check
	r.test = func(row []any) bool {
		for _, i := range r.cols {
			if row[i] == nil {
				return true
			}
		}
		return false
	}
	r.final = func(_ context.Context, _ *entityRun, rep *EntityReport) error {
		var bad []string
		for _, i := range r.cols {
			p := rep.Columns[i]
			frac := 0.0
			if rep.Rows > 0 {
				frac = float64(p.Nulls) / float64(rep.Rows)
			}
			if frac > c.Fraction {
				bad = append(bad, fmt.Sprintf("%s %.4f > %s", p.Name, frac, formatFloat(c.Fraction)))
			}
		}
		if len(bad) == 0 {
			r.res.Count = 0
			r.res.SampleIDs = []string{}
			return nil
		}
		r.res.Detail = "null fraction " + strings.Join(bad, ", ")
		return nil
	}
}

func (er *entityRun) prepareFreshness(r *rule) error {
	c := r.check
	col := ""
	if len(c.Columns) > 0 {
		col = c.Columns[0]
	} else if er.t.Entity.Version != "" {
		col = er.t.Entity.Version
	}
	if c.Name == "" {
		r.res.Name = "freshness(" + col + ")"
	}
	i := er.table.ColumnIndex(col)
	if i < 0 {
		return r.errorf(nil, "freshness needs a column (or the entity's version column); %q not found in table %s", col, er.table.Name)
	}
	switch er.table.Columns[i].Type {
	case record.Date, record.Timestamp, record.TimestampTZ:
	default:
		return r.errorf(nil, "freshness column %s is %s, not a date or timestamp", col, er.table.Columns[i].Type)
	}
	if c.MaxAge <= 0 {
		return r.errorf(nil, "freshness needs max_age")
	}
	r.final = func(_ context.Context, er *entityRun, _ *EntityReport) error {
		newest, ok := er.cols[i].max.(time.Time)
		now := er.opts.Now()
		if !ok {
			r.res.Count = 1
			r.res.Detail = "no " + col + " value"
			return nil
		}
		age := now.Sub(newest)
		r.res.Detail = fmt.Sprintf("newest %s is %s old (max %s)", valueText(newest, er.table.Columns[i].Type), age.Round(time.Second), c.MaxAge)
		if age > c.MaxAge {
			r.res.Count = 1
		}
		return nil
	}
	return nil
}

// splitRef resolves a references check's Ref to the store holding the
// referenced table.
func (er *entityRun) refStore(r *rule) (sources.Source, *SQLPushdown, string, error) {
	ref := r.check.Ref
	store, table, dotted := strings.Cut(ref, ".")
	if !dotted {
		return er.t.Source, er.t.SQL, ref, nil
	}
	if er.t.Entity != nil && store == er.t.Entity.FromStore {
		return er.t.Source, er.t.SQL, table, nil
	}
	if er.t.Resolve == nil {
		return nil, nil, "", r.errorf(nil, "references %q: store %q cannot be reached from this audit", ref, store)
	}
	src, sp, tb, err := er.t.Resolve(ref)
	if err != nil {
		return nil, nil, "", r.errorf(err, "references %q: %v", ref, err)
	}
	return src, sp, tb, nil
}

func (er *entityRun) prepareReferences(ctx context.Context, r *rule) error {
	c := r.check
	if c.Ref == "" {
		return r.errorf(nil, "references needs ref")
	}
	src, sp, table, err := er.refStore(r)
	if err != nil {
		return err
	}
	refCols := c.RefColumns
	var refTable *record.Table
	if src != nil {
		refTable, err = src.Describe(ctx, table)
		if err != nil {
			return r.errorf(err, "referenced table %s: %v", c.Ref, err)
		}
		if len(refCols) == 0 {
			refCols = refTable.Key
		}
		for _, rc := range refCols {
			if refTable.ColumnIndex(rc) < 0 {
				return r.errorf(nil, "referenced column %q not found in table %s (columns: %s)", rc, c.Ref, strings.Join(refTable.Names(), ", "))
			}
		}
	} else if sp != nil {
		if len(refCols) == 0 {
			return r.errorf(nil, "references %s needs ref_columns", c.Ref)
		}
		if err := sp.probe(ctx, "SELECT "+sp.idents(refCols)+" FROM "+sp.table(table)); err != nil {
			return r.errorf(err, "referenced columns %s of %s: %v", strings.Join(refCols, ", "), c.Ref, err)
		}
	} else {
		return r.errorf(nil, "references %q: no source for that store", c.Ref)
	}
	if len(refCols) != len(r.cols) {
		return r.errorf(nil, "references: %d columns against %d referenced columns", len(r.cols), len(refCols))
	}
	keys := map[string]struct{}{}
	r.load = func(ctx context.Context) error {
		add := func(parts []string) {
			keys[strings.Join(parts, "\x00")] = struct{}{}
		}
		if sp != nil {
			q := "SELECT DISTINCT "
			var conds []string
			for j, rc := range refCols {
				if j > 0 {
					q += ", "
				}
				q += sp.castText(sp.ident(rc))
				conds = append(conds, sp.ident(rc)+" IS NOT NULL")
			}
			q += " FROM " + sp.table(table) + " WHERE " + strings.Join(conds, " AND ")
			return sp.query(ctx, q, func(_ []string, row []any) error {
				parts := make([]string, len(row))
				for j, v := range row {
					parts[j], _ = v.(string)
				}
				add(parts)
				return nil
			})
		}
		idx := make([]int, len(refCols))
		for j, rc := range refCols {
			idx[j] = refTable.ColumnIndex(rc)
		}
		return src.Scan(ctx, sources.Query{Table: table, Columns: refTable.Names(), BatchSize: er.opts.BatchSize}, func(b *record.Batch) error {
			for _, row := range b.Rows {
				parts := make([]string, len(idx))
				for j, i := range idx {
					parts[j] = valueText(row[i], refTable.Columns[i].Type)
				}
				add(parts)
			}
			return nil
		})
	}
	r.test = func(row []any) bool {
		k, ok := er.tupleText(row, r.cols)
		if !ok {
			return false // a NULL reference is not an orphan
		}
		_, found := keys[k]
		return !found
	}
	return nil
}

func (er *entityRun) prepareSQL(ctx context.Context, r *rule) error {
	q := strings.TrimRight(strings.TrimSpace(r.check.SQL), "; \n\t")
	if q == "" {
		return r.errorf(nil, "sql check without sql")
	}
	sp := er.t.SQL
	if sp == nil {
		return r.errorf(nil, "sql checks need a SQL store; %s is not one", er.name)
	}
	if err := sp.probe(ctx, q); err != nil {
		return r.errorf(err, "sql check failed: %v", err)
	}
	r.final = func(ctx context.Context, er *entityRun, _ *EntityReport) error {
		keys := er.keyNames()
		return sp.query(ctx, q, func(cols []string, row []any) error {
			r.res.Count++
			if len(r.res.SampleIDs) >= r.max {
				return nil
			}
			var parts []string
			for _, k := range keys {
				for j, c := range cols {
					if strings.EqualFold(c, k) {
						parts = append(parts, anyText(row[j]))
						break
					}
				}
			}
			if len(parts) != len(keys) || len(parts) == 0 {
				parts = []string{anyText(row[0])}
			}
			r.res.SampleIDs = append(r.res.SampleIDs, strings.Join(parts, ","))
			return nil
		})
	}
	return nil
}
