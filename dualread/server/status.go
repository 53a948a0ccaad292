package server

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"
)

// statusPage is self-contained: inline CSS, no script, no asset from the
// network; it refreshes itself with a meta refresh.
var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"at": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"lag": func(s float64) string {
		if s < 0 {
			return "—"
		}
		return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>transit — {{.Plan}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:20px;margin:0 0 .2em}
p.meta{color:#666;margin:0 0 1.2em}
table{border-collapse:collapse;min-width:60em}
th,td{border-bottom:1px solid #ddd;padding:.45em .8em;text-align:left}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.phase{display:inline-block;padding:.1em .6em;border-radius:.8em;color:#fff;font-weight:600}
.phase-old{background:#777}.phase-shadow{background:#7a5cc7}.phase-migrating{background:#d9822b}.phase-new{background:#2b8a3e}
.ok{color:#2b8a3e}.bad{color:#c92a2a}
p.err{color:#c92a2a;font-weight:600}
</style></head>
<body>
<h1>transit — plan {{.Plan}}</h1>
<p class="meta">As of {{at .Now}}; this page refreshes every {{.Refresh}} s.</p>
{{if .Err}}<p class="err">Status unavailable: {{.Err}}</p>{{end}}
<table id="entities">
<thead><tr><th>Entity</th><th>Phase</th><th>Since</th><th>Catch-up lag</th><th>Last run</th><th>Last verify</th>
<th>Shadow reads</th><th>Mismatches</th><th>Mismatch rate</th><th>Rejects</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-entity="{{.Entity}}">
<td class="entity">{{.Entity}}</td>
<td><span class="phase phase-{{.Phase}}" data-phase="{{.Phase}}">{{.Phase}}</span></td>
<td>{{at .ChangedAt}}</td>
<td class="num lag" data-lag="{{.LagSeconds}}">{{lag .LagSeconds}}</td>
<td>{{when .LastRun}}</td>
<td>{{when .LastVerify}}{{if .LastVerify}} {{if .LastVerifyClean}}<span class="ok">✓ clean</span>{{else}}<span class="bad">✗ differences</span>{{end}}{{end}}</td>
<td class="num">{{.ShadowReads}}</td>
<td class="num">{{.ShadowMismatches}}</td>
<td class="num">{{pct .MismatchRate}}</td>
<td class="num{{if .Rejects}} bad{{end}}">{{.Rejects}}</td>
</tr>
{{end}}</tbody></table>
</body></html>
`))

type statusData struct {
	Plan    string
	Now     time.Time
	Refresh int
	Rows    []EntityStatus
	Err     string
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	d := statusData{Plan: s.planName(), Now: time.Now(), Refresh: int(s.cfg.Refresh.Seconds())}
	if d.Refresh < 1 {
		d.Refresh = 1
	}
	if s.cfg.Status != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		rows, err := s.cfg.Status(ctx)
		if err != nil {
			s.cfg.Log.Warn("status failed", "err", err)
			d.Err = err.Error()
		}
		d.Rows = rows
	}
	if d.Rows == nil {
		for name, rd := range s.cfg.Readers {
			d.Rows = append(d.Rows, EntityStatus{Entity: name, Phase: rd.Phase(), LagSeconds: -1})
		}
		sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Entity < d.Rows[j].Entity })
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := statusPage.Execute(w, d); err != nil {
		s.cfg.Log.Warn("render status", "err", err)
	}
}

func (s *Server) planName() string {
	if s.cfg.PlanName != "" {
		return s.cfg.PlanName
	}
	return "?"
}
