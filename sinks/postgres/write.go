package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// writePlan is the compiled form of writing batches of one shape into one
// table: converters per column and the SQL of the upsert path.
type writePlan struct {
	target     pgx.Identifier
	stage      pgx.Identifier
	names      []string
	cols       []colConv
	copyNeeded bool  // some converter replaces values: rows are copied first
	keyed      bool  // the table has a key: upsert through the staging table
	keyPos     []int // positions of the key columns in names
	stageSQL   string
	upsertSQL  string
	// rowSQL upserts one row given as parameters $1…$n, with the same
	// conflict handling as upsertSQL (see writeRow).
	rowSQL string
	// enc holds the sink's own binary COPY encoders when every column has
	// one; nil leaves encoding to pgx.
	enc           []fieldEncoder
	copyTargetSQL string
	copyStageSQL  string
	truncateSQL   string
}

func (s *Sink) plan(ctx context.Context, t *record.Table, b *record.Batch, opts sinks.WriteOptions) (*writePlan, error) {
	ti, err := s.table(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	var kb strings.Builder
	for _, c := range b.Columns {
		kb.WriteString(c.Name)
		kb.WriteByte(0)
		kb.WriteString(strconv.Itoa(int(c.Type)))
		kb.WriteByte(0)
	}
	kb.WriteString(opts.Version)
	key := kb.String()
	ti.mu.Lock()
	p := ti.plans[key]
	ti.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err = s.compile(ti, t, b, opts)
	if err != nil {
		return nil, err
	}
	ti.mu.Lock()
	ti.plans[key] = p
	ti.mu.Unlock()
	return p, nil
}

func (s *Sink) compile(ti *tableInfo, t *record.Table, b *record.Batch, opts sinks.WriteOptions) (*writePlan, error) {
	p := &writePlan{target: pgx.Identifier{s.schema, t.Name}, keyed: len(t.Key) > 0}
	inBatch := map[string]bool{}
	tgts := make([]targetCol, len(b.Columns))
	identity := false
	h := fnv.New64a()
	h.Write([]byte(ti.ident))
	for i, c := range b.Columns {
		tc, ok := ti.cols[c.Name]
		if !ok {
			return nil, fmt.Errorf("table %s has no column %q", ti.ident, c.Name)
		}
		if inBatch[c.Name] {
			return nil, fmt.Errorf("batch names column %q twice", c.Name)
		}
		inBatch[c.Name] = true
		tgts[i] = tc
		cc := newConverter(c, tc)
		p.cols = append(p.cols, cc)
		p.names = append(p.names, c.Name)
		p.copyNeeded = p.copyNeeded || !cc.same
		identity = identity || tc.identity
		fmt.Fprintf(h, "\x00%s\x00%s\x00%d", c.Name, tc.typname, tc.typmod)
	}
	quoted := make([]string, len(p.names))
	for i, n := range p.names {
		quoted[i] = quoteIdent(n)
	}
	cols := strings.Join(quoted, ", ")
	if !s.pgxEncoding {
		p.enc = make([]fieldEncoder, len(tgts))
		for i, tc := range tgts {
			if p.enc[i] = fastEncoder(tc.typname); p.enc[i] == nil {
				p.enc = nil
				break
			}
		}
	}
	p.copyTargetSQL = "COPY " + ti.ident + " (" + cols + ") FROM STDIN BINARY"
	if !p.keyed {
		return p, nil
	}
	isKey := map[string]bool{}
	for _, k := range t.Key {
		if !inBatch[k] {
			return nil, fmt.Errorf("batch lacks key column %q", k)
		}
		isKey[k] = true
	}
	if opts.Version != "" && !inBatch[opts.Version] {
		return nil, fmt.Errorf("batch lacks version column %q", opts.Version)
	}
	p.stage = pgx.Identifier{"pg_temp", fmt.Sprintf("transit_stage_%016x", h.Sum64())}
	p.copyStageSQL = "COPY " + p.stage.Sanitize() + " (" + cols + ") FROM STDIN BINARY"
	p.truncateSQL = "TRUNCATE " + p.stage.Sanitize()
	p.stageSQL = "CREATE TEMP TABLE IF NOT EXISTS " + quoteIdent(p.stage[1]) +
		" ON COMMIT DELETE ROWS AS SELECT " + cols + " FROM " + ti.ident + " WITH NO DATA"

	insert := "INSERT INTO " + ti.ident + " AS t (" + cols + ") "
	if identity {
		insert += "OVERRIDING SYSTEM VALUE "
	}
	var q strings.Builder
	q.WriteString(" ON CONFLICT (")
	for i, k := range t.Key {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(quoteIdent(k))
	}
	q.WriteString(") ")
	for _, k := range t.Key {
		p.keyPos = append(p.keyPos, slices.Index(p.names, k))
	}
	var set, old, nu []string
	for i, n := range p.names {
		if isKey[n] {
			continue
		}
		qn := quoteIdent(n)
		set = append(set, qn+" = EXCLUDED."+qn)
		cast := ""
		if tgts[i].needsTextCompare() {
			cast = "::text"
		}
		old = append(old, "t."+qn+cast)
		nu = append(nu, "EXCLUDED."+qn+cast)
	}
	if len(set) == 0 {
		q.WriteString("DO NOTHING")
	} else {
		q.WriteString("DO UPDATE SET " + strings.Join(set, ", ") + " WHERE ")
		if opts.Version != "" {
			v := quoteIdent(opts.Version)
			q.WriteString("(t." + v + " IS NULL OR t." + v + " <= EXCLUDED." + v + ") AND ")
		}
		q.WriteString("ROW(" + strings.Join(old, ", ") + ") IS DISTINCT FROM ROW(" + strings.Join(nu, ", ") + ")")
	}
	onConflict := q.String()
	p.upsertSQL = insert + "SELECT " + cols + " FROM " + p.stage.Sanitize() + onConflict
	ph := make([]string, len(p.names))
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	p.rowSQL = insert + "VALUES (" + strings.Join(ph, ", ") + ")" + onConflict
	return p, nil
}

// converted holds a batch turned into COPY-ready rows.
type converted struct {
	rows    [][]any // per batch row; nil when rejected
	ok      []int   // indexes of the rows to write
	flat    []any   // backing store of copied rows
	rejects []sinks.Reject
}

var convertedPool = sync.Pool{New: func() any { return new(converted) }}

func (cv *converted) release() {
	clear(cv.rows)
	clear(cv.flat)
	cv.rows, cv.ok, cv.flat, cv.rejects = cv.rows[:0], cv.ok[:0], cv.flat[:0], nil
	convertedPool.Put(cv)
}

// convert validates and converts every row of b; refused rows become
// rejects without a round trip to the server.
func (p *writePlan) convert(b *record.Batch) *converted {
	cv := convertedPool.Get().(*converted)
	n, ncol := len(b.Rows), len(p.cols)
	cv.rows = slices.Grow(cv.rows[:0], n)[:n]
	cv.ok = slices.Grow(cv.ok[:0], n)
	if p.copyNeeded {
		cv.flat = slices.Grow(cv.flat[:0], n*ncol)[:n*ncol]
	}
	for i, row := range b.Rows {
		if len(row) != ncol {
			cv.rejects = append(cv.rejects, sinks.Reject{Row: i,
				Reason: fmt.Sprintf("row has %d values for %d columns", len(row), ncol)})
			continue
		}
		out := row
		if p.copyNeeded {
			out = cv.flat[i*ncol : (i+1)*ncol : (i+1)*ncol]
			copy(out, row)
		}
		reason := ""
		for j := range p.cols {
			v := row[j]
			c := &p.cols[j]
			if v == nil {
				if c.notNull {
					reason = fmt.Sprintf("column %q: NULL into a NOT NULL column", c.name)
					break
				}
				continue
			}
			if inv, ok := v.(record.Invalid); ok {
				reason = fmt.Sprintf("column %q: %s (source value %q)", c.name, inv.Reason, inv.Raw)
				break
			}
			nv, r := c.conv(v)
			if r != "" {
				reason = fmt.Sprintf("column %q: %s", c.name, r)
				break
			}
			if p.copyNeeded {
				out[j] = nv
			}
		}
		if reason != "" {
			cv.rejects = append(cv.rejects, sinks.Reject{Row: i, Reason: reason})
			cv.rows[i] = nil
			continue
		}
		cv.rows[i] = out
		cv.ok = append(cv.ok, i)
	}
	return cv
}

// run is one Write in progress.
type run struct {
	p       *writePlan
	cv      *converted
	fresh   bool
	reuse   bool // the staging table serves more than one unit in this transaction
	written int64
	rejects []sinks.Reject
}

func (w *run) source(idx []int) pgx.CopyFromSource {
	rows := w.cv.rows
	return pgx.CopyFromSlice(len(idx), func(i int) ([]any, error) { return rows[idx[i]], nil })
}

// ensureStage creates this connection's staging table when the upsert path
// needs it. Run it outside the savepoints of split, so that rolling one
// back keeps the table.
func (w *run) ensureStage(ctx context.Context, tx pgx.Tx) error {
	if w.fresh || !w.p.keyed {
		return nil
	}
	_, err := tx.Exec(ctx, w.p.stageSQL)
	return err
}

// unit writes the rows idx in tx: a plain COPY into the target, or COPY
// into the staging table (see ensureStage) and one upsert from it.
func (w *run) unit(ctx context.Context, tx pgx.Tx, idx []int) (int64, error) {
	if w.fresh || !w.p.keyed {
		return w.copy(ctx, tx, w.p.target, w.p.copyTargetSQL, idx)
	}
	if _, err := w.copy(ctx, tx, w.p.stage, w.p.copyStageSQL, idx); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, w.p.upsertSQL)
	if err != nil {
		return 0, err
	}
	// ON COMMIT DELETE ROWS empties the staging table at commit; a unit
	// that is not the last in its transaction empties it itself (TRUNCATE
	// is far cheaper than deleting the rows as they are read).
	if w.reuse {
		if _, err := tx.Exec(ctx, w.p.truncateSQL); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}

var copyReaders = sync.Pool{New: func() any { return new(copyReader) }}

// copy runs one COPY of the rows idx into table, with the sink's encoders
// when it has them for every column, through pgx otherwise.
func (w *run) copy(ctx context.Context, tx pgx.Tx, table pgx.Identifier, sql string, idx []int) (int64, error) {
	if w.p.enc == nil {
		return tx.CopyFrom(ctx, table, w.p.names, w.source(idx))
	}
	r := copyReaders.Get().(*copyReader)
	defer func() {
		r.rows, r.idx = nil, nil
		if cap(r.buf) <= 1<<20 {
			copyReaders.Put(r)
		}
	}()
	r.reset(w.p.enc, w.cv.rows, idx)
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, r, sql)
	return tag.RowsAffected(), err
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// split writes idx inside a savepoint; when the server refuses the data it
// retries each half, down to single rows, which become rejects. Errors that
// are not about the data end the write.
func (w *run) split(ctx context.Context, tx pgx.Tx, idx []int) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	n, err := w.unit(ctx, sp, idx)
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return err
		}
		w.written += n
		return nil
	}
	if rbErr := sp.Rollback(ctx); rbErr != nil {
		return errors.Join(err, rbErr)
	}
	if ctx.Err() != nil {
		return err
	}
	if w.fresh && w.p.keyed && isUniqueViolation(err) {
		// Some rows were there after all (a replay): upsert instead.
		w.fresh = false
		if err := w.ensureStage(ctx, tx); err != nil {
			return err
		}
		return w.split(ctx, tx, idx)
	}
	if !IsDataError(err) {
		return err
	}
	if isCardinalityViolation(err) && !w.fresh && w.p.keyed {
		// Rows whose keys differ in the source but not in the target
		// (the engine has already rejected the equal ones): splitting
		// would let the later one overwrite the earlier.
		keep, err := w.rejectEqualKeys(ctx, tx, idx)
		if err != nil {
			return err
		}
		if len(keep) < len(idx) {
			return w.split(ctx, tx, keep)
		}
	}
	if len(idx) == 1 {
		w.rejects = append(w.rejects, sinks.Reject{Row: idx[0], Reason: rejectReason(err)})
		return nil
	}
	mid := len(idx) / 2
	if err := w.split(ctx, tx, idx[:mid]); err != nil {
		return err
	}
	return w.split(ctx, tx, idx[mid:])
}

func (w *run) result() sinks.WriteResult {
	rej := append(w.cv.rejects, w.rejects...)
	slices.SortFunc(rej, func(a, b sinks.Reject) int { return a.Row - b.Row })
	return sinks.WriteResult{Written: int(w.written), Rejects: rej}
}

func (s *Sink) begin(ctx context.Context, t *record.Table, b *record.Batch, opts sinks.WriteOptions) (*run, error) {
	p, err := s.plan(ctx, t, b, opts)
	if err != nil {
		return nil, err
	}
	return &run{p: p, cv: p.convert(b), fresh: opts.Fresh}, nil
}

// Write stores b into t in a transaction of its own; see sinks.Sink.
func (s *Sink) Write(ctx context.Context, t *record.Table, b *record.Batch, opts sinks.WriteOptions) (sinks.WriteResult, error) {
	return s.write(ctx, t, b, opts, false)
}

// write is Write; staged sends a one-row upsert through the staging table
// too, as the batches of more rows go (tests compare the two).
func (s *Sink) write(ctx context.Context, t *record.Table, b *record.Batch, opts sinks.WriteOptions, staged bool) (sinks.WriteResult, error) {
	if t == nil || b == nil {
		return sinks.WriteResult{}, errors.New("postgres sink: write: nil table or batch")
	}
	w, err := s.begin(ctx, t, b, opts)
	if err != nil {
		return sinks.WriteResult{}, fmt.Errorf("write %s: %w", t.Name, err)
	}
	defer w.cv.release()
	if len(w.cv.ok) == 0 {
		return w.result(), nil
	}
	if len(w.cv.ok) == 1 && !w.fresh && w.p.keyed && !staged {
		return w.writeRow(ctx, s, t)
	}
	// The common case in one transaction without savepoints.
	whole := func(tx pgx.Tx) error {
		if err := w.ensureStage(ctx, tx); err != nil {
			return err
		}
		n, err := w.unit(ctx, tx, w.cv.ok)
		w.written = n
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, whole)
	if err != nil && w.fresh && w.p.keyed && isUniqueViolation(err) && ctx.Err() == nil {
		w.fresh = false // the rows are there already: upsert them
		err = pgx.BeginFunc(ctx, s.pool, whole)
	}
	if err != nil && IsDataError(err) && ctx.Err() == nil {
		// Find the rows at fault, one savepoint per attempt.
		w.written, w.reuse = 0, true
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := w.ensureStage(ctx, tx); err != nil {
				return err
			}
			return w.split(ctx, tx, w.cv.ok)
		})
	}
	if err != nil {
		return sinks.WriteResult{}, fmt.Errorf("write %d rows into %s: %w", len(w.cv.ok), t.Name, err)
	}
	return w.result(), nil
}

// WriteTx stores b into t inside the caller's transaction (begun on Pool),
// so the caller can commit a checkpoint with the data. The rows run in a
// savepoint: on error nothing of the batch is kept and tx stays usable
// unless the connection itself failed.
func (s *Sink) WriteTx(ctx context.Context, tx pgx.Tx, t *record.Table, b *record.Batch, opts sinks.WriteOptions) (sinks.WriteResult, error) {
	if t == nil || b == nil {
		return sinks.WriteResult{}, errors.New("postgres sink: write: nil table or batch")
	}
	w, err := s.begin(ctx, t, b, opts)
	if err != nil {
		return sinks.WriteResult{}, fmt.Errorf("write %s: %w", t.Name, err)
	}
	defer w.cv.release()
	if len(w.cv.ok) == 0 {
		return w.result(), nil
	}
	registerCodecs(tx.Conn().TypeMap())
	w.reuse = true // the caller may write more batches in tx
	// No savepoint of its own around the batch: split already tries every
	// piece inside one, and after any other error the caller rolls tx
	// back (the TxWriter contract), so nothing of the batch is kept.
	err = w.ensureStage(ctx, tx)
	if err == nil {
		err = w.split(ctx, tx, w.cv.ok)
	}
	if err != nil {
		return sinks.WriteResult{}, fmt.Errorf("write %d rows into %s: %w", len(w.cv.ok), t.Name, err)
	}
	return w.result(), nil
}

// writeRow upserts a batch's one row with a single autocommit statement
// (rowSQL: the staged upsert's INSERT … ON CONFLICT … DO UPDATE … WHERE
// with the row as parameters) instead of a transaction, a staging table,
// a COPY and the upsert: one round trip instead of about six, for the
// on-demand ports of dualread. The result is the staged path's: the same
// version guard and IS DISTINCT FROM condition decide whether a row is
// replaced, and a row the server refuses is a reject with the same reason.
func (w *run) writeRow(ctx context.Context, s *Sink, t *record.Table) (sinks.WriteResult, error) {
	i := w.cv.ok[0]
	tag, err := s.pool.Exec(ctx, w.p.rowSQL, w.cv.rows[i]...)
	if err != nil {
		if IsDataError(err) && ctx.Err() == nil {
			w.rejects = append(w.rejects, sinks.Reject{Row: i, Reason: rejectReason(err)})
			return w.result(), nil
		}
		return sinks.WriteResult{}, fmt.Errorf("write 1 rows into %s: %w", t.Name, err)
	}
	w.written = tag.RowsAffected()
	return w.result(), nil
}
