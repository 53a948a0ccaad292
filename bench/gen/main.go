// Command gen writes the tab-separated files of a synthetic database shaped
// like the classic MySQL "employees" sample (six tables, about 3.9M rows at
// scale 1) for scripts/bench.sh. The data is deterministic: the same scale
// and seed always give byte-identical files, so the MariaDB load and the
// PostgreSQL ceiling read the very same rows.
//
// The files use the text format both LOAD DATA INFILE and psql's \copy read
// by default: fields separated by a tab, rows ended by a newline, NULL
// written as \N. No generated value contains a tab, newline or backslash.
//
//	go run ./bench/gen -scale 1 -out bench/out/s1   # write the files
//	go run ./bench/gen -scale 1 -counts             # only print the row counts
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Version names the shape of the generated data. Bump it whenever the
// output changes, so scripts/bench.sh reloads databases made by an older
// generator.
const Version = 1

// Row counts of the real sample; -scale multiplies the four large ones.
const (
	baseEmployees = 300_024
	baseDeptEmp   = 331_603
	baseTitles    = 443_308
	baseSalaries  = 2_844_047
)

// Tables lists the tables in load order (parents before children).
var Tables = []string{"departments", "employees", "dept_manager", "dept_emp", "titles", "salaries"}

var departments = [][2]string{
	{"d001", "Marketing"}, {"d002", "Finance"}, {"d003", "Human Resources"},
	{"d004", "Production"}, {"d005", "Development"}, {"d006", "Quality Management"},
	{"d007", "Sales"}, {"d008", "Research"}, {"d009", "Customer Service"},
}

// deptWeights skews employees towards the large departments, roughly as in
// the sample (Development and Production hold half the staff).
var deptWeights = []int{20, 17, 17, 73, 85, 20, 52, 21, 23}

// managersPerDept sums to 24, the size of the sample's dept_manager.
var managersPerDept = []int{2, 2, 2, 4, 2, 4, 2, 2, 4}

// titleTracks are careers; an employee holds the first one, two or three
// titles of one track, so titles never repeat for an employee.
var titleTracks = [][]string{
	{"Staff", "Senior Staff", "Technique Leader"},
	{"Engineer", "Senior Engineer", "Technique Leader"},
	{"Assistant Engineer", "Engineer", "Senior Engineer"},
}

// Counts holds the row count of each table at one scale.
type Counts struct {
	Employees, Departments, DeptManager, DeptEmp, Titles, Salaries int
}

// CountsFor returns the row counts at scale s.
func CountsFor(s float64) Counts {
	n := func(base int) int { return int(math.Round(float64(base) * s)) }
	return Counts{
		Employees: n(baseEmployees), Departments: len(departments), DeptManager: 24,
		DeptEmp: n(baseDeptEmp), Titles: n(baseTitles), Salaries: n(baseSalaries),
	}
}

// Of returns the count of table name.
func (c Counts) Of(name string) int {
	switch name {
	case "employees":
		return c.Employees
	case "departments":
		return c.Departments
	case "dept_manager":
		return c.DeptManager
	case "dept_emp":
		return c.DeptEmp
	case "titles":
		return c.Titles
	case "salaries":
		return c.Salaries
	}
	return 0
}

// Total is the number of rows of all tables.
func (c Counts) Total() int {
	return c.Employees + c.Departments + c.DeptManager + c.DeptEmp + c.Titles + c.Salaries
}

func main() {
	scale := flag.Float64("scale", 1, "size multiplier (0.001 to 100)")
	out := flag.String("out", "bench/out/s1", "directory to write the .tsv files into")
	seed := flag.Uint64("seed", 1, "PRNG seed")
	counts := flag.Bool("counts", false, "only print each table's row count (table<TAB>rows) and exit")
	version := flag.Bool("version", false, "print the generator version and exit")
	flag.Parse()
	if *version {
		fmt.Println(Version)
		return
	}
	if *scale < 0.001 || *scale > 100 {
		fatal(errors.New("-scale must be between 0.001 and 100"))
	}
	c := CountsFor(*scale)
	if *counts {
		for _, t := range Tables {
			fmt.Printf("%s\t%d\n", t, c.Of(t))
		}
		return
	}
	start := time.Now()
	if err := generate(*out, c, *seed); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "gen: %d rows written to %s in %.1fs\n", c.Total(), *out, time.Since(start).Seconds())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

// Days are counted from 1970-01-01; every date a row can hold lies between
// firstDay and lastDay, or is the sample's "until further notice" date
// 9999-01-01.
var (
	firstDay = dayOf(1950, 1, 1)
	lastDay  = dayOf(2030, 12, 31)
	dateText = makeDateText()
	forever  = int32(-1) // 9999-01-01
	noDate   = int32(-2) // NULL
	endOfLog = dayOf(2002, 8, 1)
)

func dayOf(y int, m time.Month, d int) int32 {
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func makeDateText() [][10]byte {
	out := make([][10]byte, lastDay-firstDay+1)
	for i := range out {
		t := time.Unix(int64(firstDay+int32(i))*86400, 0).UTC()
		copy(out[i][:], t.Format("2006-01-02"))
	}
	return out
}

// employee is what the child tables need to know about one employee.
type employee struct {
	no    int32
	hire  int32
	left  int32 // day they left, or forever while still employed
	title uint8 // career track
}

// end is the last day an employee's history covers.
func (e *employee) end() int32 {
	if e.left == forever {
		return endOfLog
	}
	return e.left
}

type writer struct {
	f      *os.File
	w      *bufio.Writer
	buf    []byte // the row being built
	fields int    // fields on it so far
}

func create(dir, table string) (*writer, error) {
	f, err := os.Create(filepath.Join(dir, table+".tsv.tmp"))
	if err != nil {
		return nil, err
	}
	return &writer{f: f, w: bufio.NewWriterSize(f, 1<<20), buf: make([]byte, 0, 256)}, nil
}

func (w *writer) int(v int64) *writer {
	w.sep()
	w.buf = strconv.AppendInt(w.buf, v, 10)
	return w
}

func (w *writer) str(s string) *writer {
	w.sep()
	w.buf = append(w.buf, s...)
	return w
}

func (w *writer) date(d int32) *writer {
	w.sep()
	switch d {
	case forever:
		w.buf = append(w.buf, "9999-01-01"...)
	case noDate:
		w.buf = append(w.buf, `\N`...)
	default:
		if d < firstDay || d > lastDay {
			panic(fmt.Sprintf("gen: day %d outside the date table", d))
		}
		w.buf = append(w.buf, dateText[d-firstDay][:]...)
	}
	return w
}

// sep separates a field from the one before it on the row.
func (w *writer) sep() {
	if w.fields > 0 {
		w.buf = append(w.buf, '\t')
	}
	w.fields++
}

func (w *writer) end() {
	w.buf = append(w.buf, '\n')
	w.w.Write(w.buf) // errors surface at Flush
	w.buf = w.buf[:0]
	w.fields = 0
}

// close flushes the file and moves it to its final name, so a half-written
// file never looks complete.
func (w *writer) close() error {
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	name := w.f.Name()
	return os.Rename(name, name[:len(name)-len(".tmp")])
}

func generate(dir string, c Counts, seed uint64) error {
	if c.Employees < 30 {
		return errors.New("scale too small: need at least 30 employees")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// One stream per table, each seeded from the same seed, so changing one
	// table's generator leaves the others' rows as they were.
	rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

	emps, err := writeEmployees(dir, c, rng(1))
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return writeDepartments(dir) },
		func() error { return writeDeptManager(dir, emps, rng(2)) },
		func() error { return writeDeptEmp(dir, emps, c.DeptEmp, rng(3)) },
		func() error { return writeTitles(dir, emps, c.Titles, rng(4)) },
		func() error { return writeSalaries(dir, emps, c.Salaries, rng(5)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func writeDepartments(dir string) error {
	w, err := create(dir, "departments")
	if err != nil {
		return err
	}
	for _, d := range departments {
		w.str(d[0]).str(d[1]).end()
	}
	return w.close()
}

func writeEmployees(dir string, c Counts, r *rand.Rand) ([]employee, error) {
	firsts := namePool(r, 1275, 14)
	lasts := namePool(r, 1637, 16)
	w, err := create(dir, "employees")
	if err != nil {
		return nil, err
	}
	emps := make([]employee, c.Employees)
	birthFrom, birthTo := dayOf(1952, 2, 1), dayOf(1965, 2, 1)
	hireFrom, hireTo := dayOf(1985, 1, 1), dayOf(2000, 1, 28)
	no := int32(10001)
	for i := range emps {
		if i > 0 {
			no++
			if r.IntN(20) == 0 { // the sample's numbering has gaps
				no += int32(r.IntN(20))
			}
		}
		birth := birthFrom + r.Int32N(birthTo-birthFrom+1)
		// Early years hired more people: take the earlier of two draws half
		// of the time.
		hire := hireFrom + r.Int32N(hireTo-hireFrom+1)
		if r.IntN(2) == 0 {
			hire = min(hire, hireFrom+r.Int32N(hireTo-hireFrom+1))
		}
		left := forever
		if r.IntN(5) == 0 { // a fifth have left
			left = hire + 60 + r.Int32N(endOfLog-hire-60+1)
		}
		gender := "M"
		if r.IntN(5) < 2 {
			gender = "F"
		}
		emps[i] = employee{no: no, hire: hire, left: left, title: uint8(r.IntN(len(titleTracks)))}
		w.int(int64(no)).date(birth).str(firsts[r.IntN(len(firsts))]).str(lasts[r.IntN(len(lasts))]).
			str(gender).date(hire).end()
	}
	return emps, w.close()
}

// namePool makes n pronounceable capitalised names of at most max letters.
func namePool(r *rand.Rand, n, max int) []string {
	onsets := []string{"b", "br", "ch", "d", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"}
	vowels := []string{"a", "e", "i", "o", "u", "ai", "ei", "ou", "y"}
	codas := []string{"", "", "", "n", "r", "l", "s", "k", "m", "tt", "nd"}
	out := make([]string, n)
	for i := range out {
		var b []byte
		for s := 0; s < 2+r.IntN(3); s++ {
			b = append(b, onsets[r.IntN(len(onsets))]...)
			b = append(b, vowels[r.IntN(len(vowels))]...)
			b = append(b, codas[r.IntN(len(codas))]...)
		}
		if len(b) > max {
			b = b[:max]
		}
		b[0] -= 'a' - 'A'
		out[i] = string(b)
	}
	return out
}

// spread gives each of n employees between lo and hi rows, total rows in
// all, starting from want(i) (clamped) and then nudging randomly chosen
// employees up or down until the total is exact.
func spread(r *rand.Rand, n, total, lo, hi int, want func(i int) int) ([]uint8, error) {
	if total < n*lo || total > n*hi {
		return nil, fmt.Errorf("cannot spread %d rows over %d employees at %d to %d each", total, n, lo, hi)
	}
	counts := make([]uint8, n)
	sum := 0
	for i := range counts {
		c := min(max(want(i), lo), hi)
		counts[i] = uint8(c)
		sum += c
	}
	for sum != total {
		i := r.IntN(n)
		switch {
		case sum < total && int(counts[i]) < hi:
			counts[i]++
			sum++
		case sum > total && int(counts[i]) > lo:
			counts[i]--
			sum--
		}
	}
	return counts, nil
}

func pickDept(r *rand.Rand) int {
	total := 0
	for _, w := range deptWeights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range deptWeights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(deptWeights) - 1
}

func writeDeptManager(dir string, emps []employee, r *rand.Rand) error {
	w, err := create(dir, "dept_manager")
	if err != nil {
		return err
	}
	used := map[int]bool{}
	for d, n := range managersPerDept {
		// Successive managers of a department: each takes over from the
		// one before; the last still holds the post.
		from := dayOf(1985, 1, 1) + r.Int32N(365)
		for k := 0; k < n; k++ {
			i := r.IntN(len(emps))
			for used[i] {
				i = r.IntN(len(emps))
			}
			used[i] = true
			to := forever
			if k < n-1 {
				to = from + 400 + r.Int32N(1500)
			}
			w.int(int64(emps[i].no)).str(departments[d][0]).date(from).date(to).end()
			if to != forever {
				from = to
			}
		}
	}
	return w.close()
}

func writeDeptEmp(dir string, emps []employee, total int, r *rand.Rand) error {
	counts, err := spread(r, len(emps), total, 1, 2, func(int) int {
		if r.IntN(10) == 0 {
			return 2
		}
		return 1
	})
	if err != nil {
		return fmt.Errorf("dept_emp: %w", err)
	}
	w, err := create(dir, "dept_emp")
	if err != nil {
		return err
	}
	for i := range emps {
		e := &emps[i]
		d := pickDept(r)
		if counts[i] == 1 {
			w.int(int64(e.no)).str(departments[d][0]).date(e.hire).date(e.left).end()
			continue
		}
		d2 := pickDept(r)
		for d2 == d {
			d2 = pickDept(r)
		}
		move := e.hire + 1 + r.Int32N(e.end()-e.hire)
		w.int(int64(e.no)).str(departments[d][0]).date(e.hire).date(move).end()
		w.int(int64(e.no)).str(departments[d2][0]).date(move).date(e.left).end()
	}
	return w.close()
}

func writeTitles(dir string, emps []employee, total int, r *rand.Rand) error {
	counts, err := spread(r, len(emps), total, 1, 3, func(i int) int {
		// Longer service, more promotions.
		years := int(emps[i].end()-emps[i].hire) / 365
		return 1 + r.IntN(years/4+1)
	})
	if err != nil {
		return fmt.Errorf("titles: %w", err)
	}
	w, err := create(dir, "titles")
	if err != nil {
		return err
	}
	for i := range emps {
		e := &emps[i]
		n := int32(counts[i])
		step := (e.end() - e.hire) / n
		for k := int32(0); k < n; k++ {
			from := e.hire + k*step
			to := from + step
			if k == n-1 {
				// The current title has no end date: NULL, where the
				// sample writes 9999-01-01, so the move carries NULLs.
				to = noDate
				if e.left != forever {
					to = e.left
				}
			}
			w.int(int64(e.no)).str(titleTracks[e.title][k]).date(from).date(to).end()
		}
	}
	return w.close()
}

func writeSalaries(dir string, emps []employee, total int, r *rand.Rand) error {
	counts, err := spread(r, len(emps), total, 1, 18, func(i int) int {
		// About one raise a year, as in the sample.
		return int(emps[i].end()-emps[i].hire)/365 + r.IntN(3)
	})
	if err != nil {
		return fmt.Errorf("salaries: %w", err)
	}
	w, err := create(dir, "salaries")
	if err != nil {
		return err
	}
	for i := range emps {
		e := &emps[i]
		n := int32(counts[i])
		step := (e.end() - e.hire) / n
		salary := int64(38_000 + r.IntN(50_000))
		for k := int32(0); k < n; k++ {
			from := e.hire + k*step
			to := from + step
			if k == n-1 {
				to = e.left
			}
			w.int(int64(e.no)).int(salary).date(from).date(to).end()
			salary += salary * int64(r.IntN(60)) / 1000 // 0 to 6% a year
		}
	}
	return w.close()
}
