package verify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// sqlReader runs verify's own SQL on a PostgreSQL or MySQL/MariaDB server.
// When every compared column has a canonical SQL expression the chunk hash
// is computed by the server; otherwise the canonical (and raw) field texts
// are fetched and hashed in Go.
type sqlReader struct {
	s       *Side
	d       string
	keyCols []record.Column
	table   string
	keys    string      // quoted key columns, comma-separated (to select)
	okeys   string      // qkeys, comma-separated (to compare and order)
	qkeys   []string    // key expressions: quoted key columns, in binary collation when textual
	exprs   []string    // per column: canonical expression, or raw expression
	raw     []bool      // exprs[i] is raw: canonicalise in Go
	push    bool        // no raw column: hash on the server
	version string      // quoted version column, or ""
	facts   serverFacts // what allows the chunk hash a shortcut (sqlFieldExpr)
}

func newSQLReader(s *Side) (*sqlReader, error) {
	p := s.SQL
	if p.Dialect != Postgres && p.Dialect != MySQL {
		return nil, fmt.Errorf("side %s: unknown SQL dialect %q", s.Store, p.Dialect)
	}
	if p.Dialect == Postgres && p.Pool == nil || p.Dialect == MySQL && p.DB == nil {
		return nil, fmt.Errorf("side %s: no connection for dialect %s", s.Store, p.Dialect)
	}
	kc, err := keyColumns(s)
	if err != nil {
		return nil, err
	}
	r := &sqlReader{s: s, d: p.Dialect, keyCols: kc, push: true}
	r.table = QuoteIdent(r.d, s.Table)
	if p.Schema != "" {
		r.table = QuoteIdent(r.d, p.Schema) + "." + r.table
	}
	for _, k := range s.Key {
		r.qkeys = append(r.qkeys, QuoteIdent(r.d, k))
	}
	r.keys = strings.Join(r.qkeys, ", ")
	r.okeys = r.keys
	r.setColumns()
	if s.Version != "" {
		r.version = QuoteIdent(r.d, s.Version)
	}
	return r, nil
}

func (r *sqlReader) setColumns() {
	r.exprs, r.raw, r.push = nil, nil, true
	for i, c := range r.s.Columns {
		q := QuoteIdent(r.d, r.s.name(i))
		e := SQLCanonicalExpr(r.d, c, q)
		if e == "" {
			r.exprs = append(r.exprs, SQLRawExpr(r.d, c, q))
			r.raw = append(r.raw, true)
			r.push = false
			continue
		}
		r.exprs = append(r.exprs, e)
		r.raw = append(r.raw, false)
	}
}

func (r *sqlReader) pushdown() bool { return r.push }

// where renders the predicate of kr, with arguments numbered from n+1.
func (r *sqlReader) where(kr keyRange, n int) (string, []any) {
	var parts []string
	var args []any
	ph := func(v any) string {
		args = append(args, v)
		if r.d == MySQL {
			return "?"
		}
		return "$" + strconv.Itoa(n+len(args))
	}
	bound := func(k record.Key, strict, last string) string {
		if r.d == Postgres {
			var ps []string
			for _, v := range k {
				ps = append(ps, ph(v))
			}
			return "(" + r.okeys + ") " + last + " (" + strings.Join(ps, ", ") + ")"
		}
		var ors []string
		for i := range r.qkeys {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, r.qkeys[j]+" = "+ph(k[j]))
			}
			op := strict
			if i == len(r.qkeys)-1 {
				op = last
			}
			ands = append(ands, r.qkeys[i]+" "+op+" "+ph(k[i]))
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		return "(" + strings.Join(ors, " OR ") + ")"
	}
	if kr.lo != nil {
		parts = append(parts, bound(kr.lo, ">", ">"))
	}
	if kr.hi != nil {
		parts = append(parts, bound(kr.hi, "<", "<="))
	}
	if len(parts) == 0 {
		return "TRUE", nil
	}
	return strings.Join(parts, " AND "), args
}

// query runs q and calls fn with each row's values.
func (r *sqlReader) query(ctx context.Context, q string, args []any, fn func([]any) error) error {
	if r.d == Postgres {
		rows, err := r.s.SQL.Pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return err
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	conn, err := r.s.SQL.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, q, args...)
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
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (r *sqlReader) hash(ctx context.Context, kr keyRange) (chunkHash, error) {
	var h chunkHash
	if !r.push {
		var buf []byte
		err := r.rows(ctx, kr, func(f fetched) error {
			buf = buf[:0]
			for _, e := range f.fields {
				buf = append(buf, e...)
			}
			h.sum += RowHash(buf)
			h.count++
			h.maxV = maxVersion(h.maxV, f.version)
			return nil
		})
		return h, err
	}
	w, args := r.where(kr, 0)
	names := make([]string, len(r.exprs))
	for i := range names {
		names[i] = r.s.name(i)
	}
	q := chunkHashSQL(r.d, r.s.Columns, names, r.exprs, r.table, w, r.version, r.facts)
	err := r.query(ctx, q, args, func(v []any) error {
		h.count = toInt64(v[0])
		s := toString(v[1])
		var err error
		if h.sum, err = mod64(s); err != nil {
			return err
		}
		if len(v) > 2 {
			h.maxV = normVersion(v[2])
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("hash chunk of %s.%s: %w", r.s.Store, r.s.Table, err)
	}
	return h, nil
}

func (r *sqlReader) eachBound(ctx context.Context, kr keyRange, step int, fn func(record.Key) error) error {
	if r.d == MySQL {
		return r.stepBounds(ctx, kr, step, fn)
	}
	w, args := r.where(kr, 0)
	q := fmt.Sprintf("SELECT %s FROM (SELECT %s, ROW_NUMBER() OVER (ORDER BY %s) AS transit_rn FROM %s WHERE %s) s WHERE MOD(transit_rn, %d) = 0 ORDER BY transit_rn",
		r.keys, r.keys, r.okeys, r.table, w, step)
	err := r.query(ctx, q, args, func(v []any) error {
		k := make(record.Key, len(v))
		for i := range v {
			k[i] = normKey(r.keyCols[i], v[i])
		}
		return fn(k)
	})
	if err != nil {
		return fmt.Errorf("split chunk of %s.%s: %w", r.s.Store, r.s.Table, err)
	}
	return nil
}

// stepBounds finds the same boundaries as the ROW_NUMBER query by stepping
// along the key index: from each boundary, the key step rows further. On
// MariaDB/MySQL a window function over a large table costs as much as
// hashing it (it materialises every key), while each step here is a short
// index skip. Each boundary is handed to fn as soon as it is found, so
// that the chunks before it can be hashed while the next is looked for.
func (r *sqlReader) stepBounds(ctx context.Context, kr keyRange, step int, fn func(record.Key) error) error {
	cur := kr
	for {
		w, args := r.where(cur, 0)
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d", r.keys, r.table, w, r.okeys, step-1)
		var k record.Key
		err := r.query(ctx, q, args, func(v []any) error {
			k = make(record.Key, len(v))
			for i := range v {
				k[i] = normKey(r.keyCols[i], v[i])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("split chunk of %s.%s: %w", r.s.Store, r.s.Table, err)
		}
		if k == nil {
			return nil
		}
		if err := fn(k); err != nil {
			return err
		}
		cur = keyRange{lo: k, hi: kr.hi}
	}
}

// eachCoarseBound is eachBound for the top-level cut, where a chunk may
// hold a few rows more than step: on MySQL/MariaDB, when a later key column
// compares in binary only through a CAST (a case-insensitive collation),
// ORDER BY the whole key cannot use the key index and sorts the rest of the
// table at every step (titles, 443k rows: as long as hashing it). Then each
// step walks the index on the leading key columns that need no cast, and the
// boundary is the last row (in binary key order) of the group of rows
// sharing that prefix, found by a short sort of that group alone. Each
// chunk ends at a group's end, so the next step starts past the group and
// the boundaries strictly increase.
func (r *sqlReader) eachCoarseBound(ctx context.Context, kr keyRange, step int, fn func(record.Key) error) error {
	np := 0
	for np < len(r.qkeys) && r.qkeys[np] == QuoteIdent(r.d, r.s.Key[np]) {
		np++
	}
	if r.d != MySQL || np == 0 || np == len(r.qkeys) {
		return r.eachBound(ctx, kr, step, fn)
	}
	prefix := strings.Join(r.qkeys[:np], ", ")
	desc := make([]string, len(r.qkeys))
	for i, q := range r.qkeys {
		desc[i] = q + " DESC"
	}
	cur := kr
	for {
		w, args := r.where(cur, 0)
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d", prefix, r.table, w, prefix, step-1)
		var pv []any
		err := r.query(ctx, q, args, func(v []any) error {
			pv = append([]any(nil), v...)
			return nil
		})
		if err != nil {
			return fmt.Errorf("split chunk of %s.%s: %w", r.s.Store, r.s.Table, err)
		}
		if pv == nil {
			return nil
		}
		eq := make([]string, np)
		for i := range eq {
			eq[i] = r.qkeys[i] + " = ?"
		}
		q = fmt.Sprintf("SELECT %s FROM %s WHERE %s AND %s ORDER BY %s LIMIT 1", r.keys, r.table, w,
			strings.Join(eq, " AND "), strings.Join(desc, ", "))
		var k record.Key
		err = r.query(ctx, q, append(args, pv...), func(v []any) error {
			k = make(record.Key, len(v))
			for i := range v {
				k[i] = normKey(r.keyCols[i], v[i])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("split chunk of %s.%s: %w", r.s.Store, r.s.Table, err)
		}
		if k == nil {
			return fmt.Errorf("split chunk of %s.%s: the key prefix %v found by one query is gone in the next", r.s.Store, r.s.Table, pv)
		}
		if err := fn(k); err != nil {
			return err
		}
		cur = keyRange{lo: k, hi: kr.hi}
	}
}

func (r *sqlReader) rows(ctx context.Context, kr keyRange, fn func(fetched) error) error {
	sel := r.keys
	if r.version != "" {
		sel += ", " + r.version + " AS transit_v"
	}
	for i, e := range r.exprs {
		sel += ", " + e + " AS transit_f" + strconv.Itoa(i)
	}
	w, args := r.where(kr, 0)
	q := "SELECT " + sel + " FROM " + r.table + " WHERE " + w + " ORDER BY " + r.okeys
	nk := len(r.qkeys)
	off := nk
	if r.version != "" {
		off++
	}
	var buf []byte
	kidx := keyIndexes(r.s)
	err := r.query(ctx, q, args, func(v []any) error {
		f := fetched{key: make(record.Key, nk), fields: make([]string, len(r.exprs))}
		for i := 0; i < nk; i++ {
			f.key[i] = normKey(r.keyCols[i], v[i])
		}
		if r.version != "" {
			f.version = normVersion(v[nk])
		}
		for i := range r.exprs {
			x := v[off+i]
			switch {
			case x == nil:
				buf = append(buf[:0], nullField...)
			case r.raw[i]:
				buf = AppendField(buf[:0], r.s.Columns[i], fromText(r.s.Columns[i], toString(x)))
			default:
				buf = appendTextField(buf[:0], toString(x), false)
			}
			f.fields[i] = string(buf)
		}
		f.id = rowID(f.fields, kidx)
		return fn(f)
	})
	if err != nil {
		return fmt.Errorf("fetch rows of %s.%s: %w", r.s.Store, r.s.Table, err)
	}
	return nil
}

func (r *sqlReader) changed(ctx context.Context, kr keyRange, since any) (bool, error) {
	w, args := r.where(kr, 0)
	ph := "?"
	if r.d == Postgres {
		ph = "$" + strconv.Itoa(len(args)+1)
	}
	args = append(args, since)
	q := "SELECT 1 FROM " + r.table + " WHERE " + w + " AND " + r.version + " >= " + ph + " LIMIT 1"
	found := false
	err := r.query(ctx, q, args, func([]any) error { found = true; return nil })
	return found, err
}

// prepare makes textual key columns compare in binary (code point) order
// unless their collation already does: chunk bounds taken from one store
// must cut the other store's key space at the same places, which two
// collations (case-insensitive, locale-aware) would not.
func (r *sqlReader) prepare(ctx context.Context) error {
	coll := map[string]string{}
	binary := map[string]bool{}
	if r.d == Postgres {
		err := r.query(ctx, "SELECT current_setting('DateStyle')", nil, func(v []any) error {
			r.facts.isoDates = strings.HasPrefix(toString(v[0]), "ISO")
			return nil
		})
		if err != nil {
			return fmt.Errorf("DateStyle of %s: %w", r.s.Store, err)
		}
		q := `SELECT a.attname, coalesce(co.collname, ''), a.attcollation <> 0,
			(SELECT datcollate FROM pg_database WHERE datname = current_database())
			FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`
		err = r.query(ctx, q, []any{r.table}, func(v []any) error {
			name, cn, collatable, dbc := toString(v[0]), toString(v[1]), v[2] == true, toString(v[3])
			if cn == "default" {
				cn = dbc
			}
			binary[name] = !collatable || cn == "C" || cn == "POSIX" || cn == "ucs_basic"
			coll[name] = cn
			return nil
		})
		if err != nil {
			return fmt.Errorf("key collation of %s.%s: %w", r.s.Store, r.s.Table, err)
		}
	} else {
		q := "SELECT column_name, COALESCE(collation_name, ''), COALESCE(character_set_name, ''), is_nullable FROM information_schema.columns WHERE table_schema = COALESCE(NULLIF(?, ''), DATABASE()) AND table_name = ?"
		r.facts.utf8, r.facts.notNull = map[string]bool{}, map[string]bool{}
		err := r.query(ctx, q, []any{r.s.SQL.Schema, r.s.Table}, func(v []any) error {
			cn := toString(v[1])
			r.facts.notNull[toString(v[0])] = toString(v[3]) == "NO"
			switch toString(v[2]) {
			case "utf8mb4", "utf8mb3", "utf8", "ascii":
				r.facts.utf8[toString(v[0])] = true
			}
			binary[toString(v[0])] = cn == "" || strings.HasSuffix(cn, "_bin") || cn == "binary"
			return nil
		})
		if err != nil {
			return fmt.Errorf("key collation of %s.%s: %w", r.s.Store, r.s.Table, err)
		}
	}
	for i, k := range r.s.Key {
		if bin, ok := binary[k]; !ok || bin {
			continue
		}
		if r.d == Postgres {
			r.qkeys[i] = QuoteIdent(r.d, k) + ` COLLATE "C"`
		} else {
			r.qkeys[i] = "CAST(" + QuoteIdent(r.d, k) + " AS BINARY)"
		}
	}
	r.okeys = strings.Join(r.qkeys, ", ")
	return nil
}

func (r *sqlReader) missing(ctx context.Context) ([]string, error) {
	q := "SELECT column_name FROM information_schema.columns WHERE table_schema = coalesce(nullif($1, ''), current_schema()) AND table_name = $2"
	if r.d == MySQL {
		q = "SELECT column_name FROM information_schema.columns WHERE table_schema = COALESCE(NULLIF(?, ''), DATABASE()) AND table_name = ?"
	}
	have := map[string]bool{}
	err := r.query(ctx, q, []any{r.s.SQL.Schema, r.s.Table}, func(v []any) error {
		have[toString(v[0])] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", r.s.Store, r.s.Table, err)
	}
	if len(have) == 0 {
		return nil, &sources.NotFoundError{Store: r.s.Store, What: "table", Name: r.s.Table}
	}
	var out []string
	for i := range r.s.Columns {
		if !have[r.s.name(i)] {
			out = append(out, r.s.name(i))
		}
	}
	return out, nil
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	default:
		return fmt.Sprint(x)
	}
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case []byte:
		n, _ := strconv.ParseInt(string(x), 10, 64)
		return n
	}
	return 0
}

// normVersion reads a version value (a time or an integer) whichever driver
// gave it.
func normVersion(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case []byte:
		return normVersion(string(x))
	case string:
		for _, l := range []string{"2006-01-02 15:04:05.999999", "2006-01-02"} {
			if t, err := time.Parse(l, x); err == nil {
				return t
			}
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
		return x
	case int32:
		return int64(x)
	}
	return v
}
