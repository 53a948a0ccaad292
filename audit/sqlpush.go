package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/transitdb/transit/record"
)

func (sp *SQLPushdown) ident(name string) string {
	if sp.Dialect == "mysql" {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (sp *SQLPushdown) idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = sp.ident(n)
	}
	return strings.Join(q, ", ")
}

func (sp *SQLPushdown) table(name string) string {
	if sp.Dialect == "postgres" && sp.Schema != "" {
		return sp.ident(sp.Schema) + "." + sp.ident(name)
	}
	return sp.ident(name)
}

func (sp *SQLPushdown) castText(expr string) string {
	if sp.Dialect == "mysql" {
		return "CAST(" + expr + " AS CHAR)"
	}
	return "CAST(" + expr + " AS TEXT)"
}

// probe checks that the store accepts query q without reading rows.
func (sp *SQLPushdown) probe(ctx context.Context, q string) error {
	return sp.query(ctx, "SELECT * FROM ("+q+") transit_audit_probe WHERE 1 = 0", func([]string, []any) error { return nil })
}

// query runs q and calls fn with the column names and each row; values are
// nil or text (numbers formatted, bytes as strings).
func (sp *SQLPushdown) query(ctx context.Context, q string, fn func(cols []string, row []any) error) error {
	if sp.Pool != nil {
		rows, err := sp.Pool.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return err
			}
			for i, v := range vals {
				vals[i] = normText(v)
			}
			if err := fn(cols, vals); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if sp.DB == nil {
		return fmt.Errorf("no SQL connection")
	}
	rows, err := sp.DB.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = normText(v)
		}
		if err := fn(cols, out); err != nil {
			return err
		}
	}
	return rows.Err()
}

func normText(v any) any {
	if v == nil {
		return nil
	}
	return anyText(v)
}

func anyText(v any) string {
	if s, ok := v.(fmt.Stringer); ok {
		if _, isInv := v.(record.Invalid); !isInv {
			return s.String()
		}
	}
	return valueText(v, record.Timestamp)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// pushUnique counts, in SQL, the rows whose (non-NULL) values of the rule's
// columns occur more than once, and lists the first IDs in key order.
func (er *entityRun) pushUnique(ctx context.Context, r *rule) error {
	sp := er.t.SQL
	names := make([]string, len(r.cols))
	var conds []string
	for j, i := range r.cols {
		names[j] = er.table.Columns[i].Name
		conds = append(conds, sp.ident(names[j])+" IS NOT NULL")
	}
	tuple := sp.idents(names)
	if len(names) > 1 {
		tuple = "(" + tuple + ")"
	}
	where := " FROM " + sp.table(er.table.Name) + " WHERE " + tuple + " IN (SELECT " + sp.idents(names) +
		" FROM " + sp.table(er.table.Name) + " WHERE " + strings.Join(conds, " AND ") +
		" GROUP BY " + sp.idents(names) + " HAVING COUNT(*) > 1)"
	if sp.Dialect == "mysql" {
		// MySQL cannot select from a table in a subquery of the same
		// statement that it also reads from in some modes; a derived table works.
		where = " FROM " + sp.table(er.table.Name) + " WHERE " + tuple + " IN (SELECT * FROM (SELECT " + sp.idents(names) +
			" FROM " + sp.table(er.table.Name) + " WHERE " + strings.Join(conds, " AND ") +
			" GROUP BY " + sp.idents(names) + " HAVING COUNT(*) > 1) transit_audit_dups)"
	}
	err := sp.query(ctx, "SELECT COUNT(*)"+where, func(_ []string, row []any) error {
		s, _ := row[0].(string)
		n, err := strconv.ParseInt(s, 10, 64)
		r.res.Count = n
		return err
	})
	if err != nil || r.res.Count == 0 {
		return err
	}
	keys := er.keyNames()
	if len(keys) == 0 {
		return nil
	}
	sel := make([]string, len(keys))
	for i, k := range keys {
		sel[i] = sp.castText(sp.ident(k))
	}
	q := "SELECT " + strings.Join(sel, ", ") + where + " ORDER BY " + sp.idents(keys) + " LIMIT " + strconv.Itoa(r.max)
	return sp.query(ctx, q, func(_ []string, row []any) error {
		parts := make([]string, len(row))
		for i, v := range row {
			parts[i], _ = v.(string)
		}
		r.res.SampleIDs = append(r.res.SampleIDs, strings.Join(parts, ","))
		return nil
	})
}

// pushTotals replaces the sampled row count, NULL counts and (for numbers
// and dates) min/max with the figures of the whole table.
func (er *entityRun) pushTotals(ctx context.Context, rep *EntityReport) error {
	sp := er.t.SQL
	sel := []string{"COUNT(*)"}
	type mm struct{ col, at int }
	var mms []mm
	countAt := make([]int, len(er.table.Columns))
	for i, c := range er.table.Columns {
		id := sp.ident(c.Name)
		countAt[i] = len(sel)
		sel = append(sel, "COUNT("+id+")")
		if er.cols[i].hist {
			mms = append(mms, mm{i, len(sel)})
			sel = append(sel, sp.castText("MIN("+id+")"), sp.castText("MAX("+id+")"))
		}
	}
	return sp.query(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+sp.table(er.table.Name), func(_ []string, row []any) error {
		num := func(v any) int64 {
			s, _ := v.(string)
			n, _ := strconv.ParseInt(s, 10, 64)
			return n
		}
		total := num(row[0])
		rep.Rows = total
		for i := range er.table.Columns {
			c := &rep.Columns[i]
			c.Nulls = total - num(row[countAt[i]])
			if total > 0 {
				c.NullFraction = round4(float64(c.Nulls) / float64(total))
			}
		}
		for _, m := range mms {
			c := &rep.Columns[m.col]
			if lo, ok := row[m.at].(string); ok {
				c.Min = &lo
			}
			if hi, ok := row[m.at+1].(string); ok {
				c.Max = &hi
			}
		}
		return nil
	})
}
