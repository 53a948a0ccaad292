package audit

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
)

// WriteHTML writes rep as one self-contained HTML page: inline CSS and
// inline SVG charts, no scripts, no external assets, no network.
func WriteHTML(w io.Writer, rep *Report) error {
	return htmlTmpl().Execute(w, rep)
}

// htmlTmpl is parsed on first use, not at program start.
var htmlTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("audit").Funcs(template.FuncMap{
		"pct":      func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"opt":      opt,
		"nullBars": nullBars,
		"histSVG":  histSVG,
		"ids": func(ids []string, n int64) string {
			s := strings.Join(ids, ", ")
			if int64(len(ids)) < n {
				s += ", …"
			}
			return s
		},
		"clip":   func(s string) string { return clip(s, 40) },
		"failed": func(e EntityReport) bool { return e.Failed() },
	}).Parse(htmlPage))
})

const htmlPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>transit audit{{if .Plan}} — {{.Plan}}{{end}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:2px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef}.pass{background:#d9f2d9;color:#135c13}.fail{background:#f8d3d3;color:#8a1010}.warn{background:#fff0c2;color:#6b5200}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:bold}.num{text-align:right}
.hist{display:inline-block;margin:4px 12px 4px 0}.small{font-size:12px;color:#555}
</style></head><body>
<h1>transit audit{{if .Plan}} — {{.Plan}}{{end}}</h1>
<p class="small">{{.Created.Format "2006-01-02 15:04:05 UTC"}} ·
{{if .Failed}}<span class="badge fail">FAILED</span>{{else}}<span class="badge pass">PASSED</span>{{end}}</p>
<table><tr><th>entity</th><th>rows</th><th>rules</th><th>fit problems</th><th>result</th></tr>
{{range .Entities}}<tr><td><a href="#e-{{.Name}}">{{.Name}}</a></td><td class="num">{{.Rows}}{{if .Sampled}} (sampled {{.SampleRows}}){{end}}</td>
<td class="num">{{len .Rules}}</td><td class="num">{{len .Fit}}</td>
<td>{{if failed .}}<span class="badge fail">✗ fail</span>{{else}}<span class="badge pass">✓ pass</span>{{end}}</td></tr>
{{end}}</table>
{{range .Entities}}
<h2 id="e-{{.Name}}">{{.Name}} <span class="small">table {{.Table}} · {{.Rows}} rows{{if .Sampled}} · sampled: first {{.SampleRows}} rows profiled{{end}}</span></h2>
{{if .Rules}}<h3>Rules</h3>
<table class="rules"><tr><th></th><th>rule</th><th>severity</th><th>violations</th><th>sample IDs</th><th>detail</th></tr>
{{range .Rules}}<tr class="rule {{if .Passed}}pass{{else if eq .Severity "warn"}}warn{{else}}fail{{end}}">
<td>{{if .Passed}}✓{{else}}✗{{end}}</td><td>{{.Name}}</td><td>{{.Severity}}</td><td class="num">{{.Count}}</td>
<td>{{ids .SampleIDs .Count}}</td><td>{{.Detail}}{{if .Err}} error: {{.Err}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Fit}}<h3>Fit to target (predicted rejects)</h3>
<table class="fit"><tr><th>column</th><th>target type</th><th>problem</th><th>rows</th><th>sample IDs</th></tr>
{{range .Fit}}<tr class="fail"><td>{{.Column}}</td><td>{{.TargetType}}</td><td>{{.Problem}}</td><td class="num">{{.Count}}</td><td>{{ids .SampleIDs .Count}}</td></tr>
{{end}}</table>{{end}}
<h3>Null fraction per column</h3>
{{nullBars .}}
<h3>Columns</h3>
<table><tr><th>column</th><th>type</th><th>nulls</th><th>empty</th><th>distinct</th><th>min</th><th>max</th><th>semantic</th><th>top values</th></tr>
{{range .Columns}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td class="num">{{.Nulls}} ({{pct .NullFraction}})</td><td class="num">{{.Empty}}</td>
<td class="num">{{if .DistinctEstimated}}~{{end}}{{.Distinct}}</td><td>{{clip (opt .Min)}}</td><td>{{clip (opt .Max)}}</td>
<td>{{with .Semantic}}{{.Type}} {{.Format}}{{end}}</td>
<td class="small">{{range $i, $t := .Top}}{{if lt $i 5}}{{clip $t.Value}} ({{$t.Count}}){{if lt $i 4}}; {{end}}{{end}}{{end}}</td></tr>
{{end}}</table>
{{range .Columns}}{{if .Histogram}}<div class="hist"><div class="small">{{.Name}}</div>{{histSVG .Histogram}}</div>{{end}}{{end}}
{{end}}
</body></html>
`

// nullBars is an inline SVG bar chart of the null fraction of each column.
func nullBars(e EntityReport) template.HTML {
	const rowH, labelW, barW = 18, 180, 400
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="null fractions">`, labelW+barW+80, rowH*len(e.Columns)+4)
	for i, c := range e.Columns {
		y := i*rowH + 2
		w := int(c.NullFraction*barW + 0.5)
		color := "#4a90d9"
		if c.NullFraction > 0.5 {
			color = "#d9534f"
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12">%s</text>`, y+13, template.HTMLEscapeString(clip(c.Name, 24)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#eee"/>`, labelW, y, barW, rowH-4)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, labelW, y, w, rowH-4, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">%.1f%%</text>`, labelW+barW+6, y+13, c.NullFraction*100)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// histSVG is an inline SVG histogram.
func histSVG(h *Histogram) template.HTML {
	const width, height = 300, 100
	var max int64
	for _, bin := range h.Bins {
		if bin.Count > max {
			max = bin.Count
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">`, width, height+16)
	n := len(h.Bins)
	if n == 0 || max == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	bw := float64(width) / float64(n)
	for i, bin := range h.Bins {
		bh := float64(bin.Count) / float64(max) * height
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#5b9bd5"><title>%s – %s: %d</title></rect>`,
			float64(i)*bw+1, height-bh, bw-2, bh, template.HTMLEscapeString(bin.Lo), template.HTMLEscapeString(bin.Hi), bin.Count)
	}
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="10">%s</text>`, height+12, template.HTMLEscapeString(h.Bins[0].Lo))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>`, width, height+12, template.HTMLEscapeString(h.Bins[n-1].Hi))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
