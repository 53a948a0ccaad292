package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// entityRun is one entity being audited: its profilers, rules and fit
// checks, fed by one pass over the rows.
type entityRun struct {
	t     *Target
	opts  *Options
	name  string
	table *record.Table
	key   []int // positions of the ID columns in table.Columns
	cols  []*colProf
	rules []*rule
	fit   *fitChecker

	rowRules bool // some rule tests every row

	rows int64
	row  []any // the row being looked at
	id   string
	idOK bool
}

// rowID is the current row's ID text: the key column values joined by ",",
// or "#n" (1-based row number in scan order) when the entity has no key.
func (er *entityRun) rowID() string {
	if er.idOK {
		return er.id
	}
	if len(er.key) == 0 {
		er.id = "#" + strconv.FormatInt(er.rows, 10)
	} else {
		parts := make([]string, len(er.key))
		for i, k := range er.key {
			parts[i] = valueText(er.row[k], er.table.Columns[k].Type)
		}
		er.id = strings.Join(parts, ",")
	}
	er.idOK = true
	return er.id
}

func prepare(ctx context.Context, t *Target, opts *Options) (*entityRun, error) {
	er := &entityRun{t: t, opts: opts, name: entityName(t), table: t.Table}
	if t.Source == nil {
		return nil, fmt.Errorf("audit %s: no source", er.name)
	}
	if er.table == nil {
		if t.Entity == nil {
			return nil, fmt.Errorf("audit: a target has neither an entity nor a table")
		}
		tb, err := t.Source.Describe(ctx, t.Entity.FromTable)
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", er.name, err)
		}
		er.table = tb
	}
	if t.TargetColumns != nil && len(t.TargetColumns) != len(er.table.Columns) {
		return nil, fmt.Errorf("audit %s: %d target columns for %d source columns", er.name, len(t.TargetColumns), len(er.table.Columns))
	}
	keyNames := er.table.Key
	if t.Entity != nil && len(t.Entity.ID) > 0 {
		keyNames = t.Entity.ID
	}
	for _, k := range keyNames {
		i := er.table.ColumnIndex(k)
		if i < 0 {
			return nil, fmt.Errorf("audit %s: ID column %q not in table %s", er.name, k, er.table.Name)
		}
		er.key = append(er.key, i)
	}
	for i := range er.table.Columns {
		er.cols = append(er.cols, newColProf(&er.table.Columns[i], opts))
	}
	if t.TargetColumns != nil {
		er.fit = newFitChecker(er.table.Columns, t.TargetColumns, opts.SampleIDs)
	}
	if err := er.prepareRules(ctx); err != nil {
		return nil, err
	}
	for _, r := range er.rules {
		er.rowRules = er.rowRules || r.test != nil
	}
	return er, nil
}

// scan streams the rows through observeBatch. The profiling runs in its own
// goroutine, a batch behind the source, so that reading and profiling
// overlap: emit copies each batch (the source reuses its rows) into one of
// two buffers and hands it over, waiting only while both are busy.
func (er *entityRun) scan(ctx context.Context, q sources.Query) error {
	work := make(chan *rowBuf)
	free := make(chan *rowBuf, 2)
	free <- &rowBuf{}
	free <- &rowBuf{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range work {
			er.observeBatch(b.rows)
			free <- b
		}
	}()
	err := er.t.Source.Scan(ctx, q, func(b *record.Batch) error {
		if len(b.Rows) == 0 {
			return nil
		}
		var buf *rowBuf
		select {
		case buf = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf.fill(b.Rows)
		work <- buf
		return nil
	})
	close(work)
	<-done
	return err
}

// rowBuf holds a copy of one batch's rows (values shared, slices owned).
type rowBuf struct {
	rows [][]any
	flat []any
}

func (b *rowBuf) fill(rows [][]any) {
	w := len(rows[0])
	if need := len(rows) * w; cap(b.flat) < need {
		b.flat = make([]any, need)
	}
	b.rows = b.rows[:0]
	for j, row := range rows {
		dst := b.flat[j*w : (j+1)*w : (j+1)*w]
		copy(dst, row)
		b.rows = append(b.rows, dst)
	}
}

// observeBatch profiles the rows column by column, then runs the row rules
// and the fit checks.
func (er *entityRun) observeBatch(rows [][]any) {
	base := er.rows
	for i, c := range er.cols {
		c.observeColumn(rows, i)
	}
	if er.rowRules {
		for j, row := range rows {
			er.at(base, j, row)
			for _, r := range er.rules {
				if r.test != nil && r.test(row) {
					r.hit(er)
				}
			}
		}
	}
	if er.fit != nil {
		er.fit.observeBatch(er, rows, base)
	}
	er.rows = base + int64(len(rows))
}

// at makes row (index j of a batch that follows base rows) the current row.
func (er *entityRun) at(base int64, j int, row []any) {
	er.rows = base + int64(j) + 1
	er.row = row
	er.idOK = false
}

func (er *entityRun) keyNames() []string {
	out := make([]string, len(er.key))
	for i, k := range er.key {
		out[i] = er.table.Columns[k].Name
	}
	return out
}

func (er *entityRun) run(ctx context.Context) (*EntityReport, error) {
	rep := &EntityReport{Name: er.name, Table: er.table.Name}
	if er.t.Entity != nil {
		rep.Store = er.t.Entity.FromStore
	}
	// references checks need the referenced keys before the stream.
	for _, r := range er.rules {
		if r.load != nil {
			if err := r.load(ctx); err != nil {
				return nil, r.errorf(err, "load referenced keys: %v", err)
			}
		}
	}
	q := sources.Query{
		Table:     er.table.Name,
		Columns:   er.table.Names(),
		OrderBy:   er.keyNames(),
		BatchSize: er.opts.BatchSize,
		Limit:     er.opts.Sample,
	}
	if len(q.OrderBy) == 0 {
		q.OrderBy = nil
	}
	err := er.scan(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", er.table.Name, err)
	}
	rep.Rows = er.rows
	if er.opts.Sample > 0 && er.rows >= int64(er.opts.Sample) {
		rep.Sampled = true
		rep.SampleRows = er.rows
	}
	for _, c := range er.cols {
		rep.Columns = append(rep.Columns, c.profile(er.rows))
	}
	if rep.Sampled && er.t.SQL != nil {
		if err := er.pushTotals(ctx, rep); err != nil {
			return nil, fmt.Errorf("totals of %s: %w", er.table.Name, err)
		}
	}
	for _, r := range er.rules {
		res, err := r.result(ctx, er, rep)
		if err != nil {
			return nil, err
		}
		rep.Rules = append(rep.Rules, res)
	}
	if er.fit != nil {
		rep.Fit = er.fit.results()
	}
	if rep.Rules == nil {
		rep.Rules = []RuleResult{}
	}
	if rep.Fit == nil {
		rep.Fit = []FitResult{}
	}
	return rep, nil
}
