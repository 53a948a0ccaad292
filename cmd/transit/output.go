package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/transitdb/transit/port"
)

// termWidth is the width of the terminal w writes to, or 120.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if wd, _, err := term.GetSize(int(f.Fd())); err == nil && wd > 0 {
			return wd
		}
	}
	return 120
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a bar per entity on a terminal, and otherwise writes one
// JSON object per line at a bounded rate.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	every  time.Duration
	last   time.Time
	start  time.Time
	lines  int
	closed bool
	// lastRead and movedAt remember when each entity last moved, so the
	// rate of a finished entity stays its own average instead of decaying.
	lastRead map[string]int64
	movedAt  map[string]float64
}

func newProgress(stderr, stdout io.Writer, jsonOut bool) *progress {
	p := &progress{w: stderr, tty: isTTY(stderr) && !jsonOut, every: 2 * time.Second, start: time.Now(),
		lastRead: map[string]int64{}, movedAt: map[string]float64{}}
	if jsonOut {
		p.w, p.every = stdout, time.Second
	}
	if p.tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

func (p *progress) update(ents []port.EntityProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	for _, e := range ents {
		if e.Read != p.lastRead[e.Entity] {
			p.lastRead[e.Entity], p.movedAt[e.Entity] = e.Read, el
		}
	}
	rateOf := func(e port.EntityProgress) float64 { return float64(e.Read) / max(p.movedAt[e.Entity], 0.001) }
	if !p.tty {
		for _, e := range ents {
			if e.Read == 0 && e.Planned == 0 {
				continue
			}
			obj := map[string]any{
				"event": "progress", "entity": e.Entity, "mode": e.Mode, "rows_planned": e.Planned,
				"rows_read": e.Read, "rows_written": e.Written, "rows_rejected": e.Rejected,
				"rows_per_s": int64(rateOf(e)),
			}
			if e.Throttled {
				obj["throttled"] = true
			}
			line, _ := json.Marshal(obj)
			fmt.Fprintf(p.w, "%s\n", line)
		}
		return
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	width := 0
	for _, e := range ents {
		width = max(width, len(e.Entity))
	}
	for _, e := range ents {
		rate := rateOf(e)
		frac, eta := 0.0, "—"
		if e.Planned > 0 {
			frac = min(float64(e.Read)/float64(e.Planned), 1)
			if rate > 0 && e.Read < e.Planned {
				eta = (time.Duration(float64(e.Planned-e.Read)/rate) * time.Second).Round(time.Second).String()
			} else if e.Read >= e.Planned {
				eta = "done"
			}
		}
		const barW = 24
		fill := int(frac * barW)
		throttled := ""
		if e.Throttled {
			throttled = "  throttled"
		}
		fmt.Fprintf(&b, "\x1b[2K%-*s [%s%s] %3.0f%% %10d rows %9.0f rows/s  ETA %s%s\n", width, e.Entity,
			strings.Repeat("█", fill), strings.Repeat("·", barW-fill), frac*100, e.Read, rate, eta, throttled)
	}
	p.lines = len(ents)
	io.WriteString(p.w, b.String())
}

func (p *progress) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func writeRunSummary(w io.Writer, res *port.Result, jsonOut bool) {
	rate := float64(res.LocalRead) / max(res.Elapsed.Seconds(), 0.001)
	if jsonOut {
		ents := make([]map[string]any, 0, len(res.Entities))
		for _, e := range res.Entities {
			m := map[string]any{"entity": e.Name, "target": e.Target, "mode": e.Mode, "rows_planned": e.Planned, "rows_read": e.Read,
				"rows_written": e.Written, "rows_rejected": e.Rejected, "max_rejects": e.MaxRejects}
			if len(e.Rejects) > 0 {
				var rj []map[string]any
				for _, r := range e.Rejects {
					rj = append(rj, map[string]any{"id": r.Key, "reason": r.Reason})
				}
				m["first_rejects"] = rj
			}
			ents = append(ents, m)
		}
		line, _ := json.Marshal(map[string]any{
			"event": "summary", "run": res.RunID, "joined": res.Joined, "done": res.Done, "interrupted": res.Interrupted,
			"over_rejects": res.OverRejects, "elapsed_s": res.Elapsed.Seconds(), "rows_read": res.LocalRead,
			"rows_written": res.LocalWrite, "rows_per_s": int64(rate), "batches": res.Latency.Count,
			"batch_p50_ms": ms(res.Latency.P50), "batch_p99_ms": ms(res.Latency.P99), "batch_max_ms": ms(res.Latency.Max),
			"entities": ents,
		})
		fmt.Fprintf(w, "%s\n", line)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "entity\ttarget\tmode\tread\twritten\trejected")
	var tr, tw2, trj int64
	for _, e := range res.Entities {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", e.Name, e.Target, e.Mode, e.Read, e.Written, e.Rejected)
		tr += e.Read
		tw2 += e.Written
		trj += e.Rejected
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%d\n", tr, tw2, trj)
	tw.Flush()
	state := "done"
	switch {
	case res.OverRejects:
		state = "stopped: rejects over the limit"
	case res.Interrupted:
		state = "interrupted (resumable)"
	case !res.Done:
		state = "not finished"
	}
	fmt.Fprintf(w, "\nrun %d %s in %s: %d rows read, %d written by this process, %.0f rows/s\n",
		res.RunID, state, res.Elapsed.Round(time.Millisecond), res.LocalRead, res.LocalWrite, rate)
	if res.Latency.Count > 0 {
		fmt.Fprintf(w, "batch latency (%d batches): p50 %s  p99 %s  max %s\n", res.Latency.Count,
			res.Latency.P50.Round(10*time.Microsecond), res.Latency.P99.Round(10*time.Microsecond), res.Latency.Max.Round(10*time.Microsecond))
	}
	for _, e := range res.Entities {
		if e.Rejected == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d rejected (max_rejects %d); first ones:\n", e.Name, e.Rejected, e.MaxRejects)
		for _, r := range e.Rejects {
			fmt.Fprintf(w, "  id %v: %s\n", r.Key, r.Reason)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
