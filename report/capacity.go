package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/regstorm/regstorm/capacity"
)

// writeCapacity renders a capacity search: its one-sentence result, the
// rate asked and offered in each trial against its outcome and latency
// p99, the rate found marked, and a row per trial.
func writeCapacity(w io.Writer, raw json.RawMessage, title string) error {
	var c capacity.Result
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("capacity: %v", err)
	}
	asked := series{Name: "rate asked", Color: "#999"}
	offered := series{Name: "rate offered", Color: "#27c"}
	passed := series{Name: "passed", Color: "#2a7"}
	failed := series{Name: "failed", Color: "#c33"}
	p99 := series{Name: "registration latency p99", Color: "#e80"}
	found := series{Name: fmt.Sprintf("found: %s/s", capacityRate(c.RatePerS)), Color: "#75a"}
	var rows [][]string
	for _, t := range c.Trials {
		x := float64(t.N)
		asked.X, asked.Y = append(asked.X, x), append(asked.Y, t.Rate)
		off := math.NaN()
		if o := t.Generator.RateOfferedPerS; o != nil {
			off = *o
		}
		offered.X, offered.Y = append(offered.X, x), append(offered.Y, off)
		// Outcome as two series of points on the asked rate: each a gap
		// where the other has the point.
		pass, fail := math.NaN(), math.NaN()
		switch t.Outcome {
		case capacity.OutcomePass:
			pass = t.Rate
		case capacity.OutcomeFail:
			fail = t.Rate
		}
		passed.X, passed.Y = append(passed.X, x), append(passed.Y, pass)
		failed.X, failed.Y = append(failed.X, x), append(failed.Y, fail)
		lat := math.NaN()
		if t.LatencyMS != nil {
			lat = t.LatencyMS.P99
		}
		p99.X, p99.Y = append(p99.X, x), append(p99.Y, lat)
		found.X, found.Y = append(found.X, x), append(found.Y, c.RatePerS)
		rows = append(rows, []string{strconv.Itoa(t.N), string(t.Phase), capacityRate(t.Rate), strconv.FormatInt(t.Attempts, 10),
			string(t.Outcome), trialWhy(t), latencyCell(t.LatencyMS), strconv.FormatInt(t.Retransmissions, 10)})
	}
	data := map[string]any{
		"Title": title, "Sentence": c.Summary(), "Trials": rows,
		"Rates": chart{Title: "rate per trial", XLabel: "trial", YLabel: "registrations/s",
			Series: []series{asked, offered, found, dots(passed), dots(failed)}}.svg(),
		"Latency": chart{Title: "registration latency p99 per trial", XLabel: "trial", YLabel: "ms", Series: []series{p99}}.svg(),
	}
	return capacityPage.Execute(w, data)
}

// dots draws a series of isolated points: each point its own short
// stroke (a gap before and after).
func dots(s series) series {
	var out series
	out.Name, out.Color = s.Name, s.Color
	for i := range s.X {
		if math.IsNaN(s.Y[i]) {
			continue
		}
		out.X = append(out.X, s.X[i]-0.15, s.X[i]+0.15, s.X[i]+0.15)
		out.Y = append(out.Y, s.Y[i], s.Y[i], math.NaN())
	}
	return out
}

func capacityRate(r float64) string { return strconv.FormatFloat(math.Round(r), 'f', 0, 64) }

func trialWhy(t capacity.Trial) string {
	switch {
	case t.Outcome == capacity.OutcomeGenerator:
		return strings.Join(t.Generator.Reasons, "; ")
	case t.FirstFailure != nil:
		return fmt.Sprintf("%s at %.1f s", t.FirstFailure.Reason, t.FirstFailure.At.Seconds())
	}
	return ""
}

func latencyCell(l *capacity.Latency) string {
	if l == nil {
		return "no data"
	}
	return fmt.Sprintf("%.3f / %.3f ms", l.P50, l.P99)
}

var capacityPage = template.Must(template.New("capacity").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:800px}
h1{font-size:20px} h2{font-size:15px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 10px 3px 0} th{font-weight:normal;color:#555;text-align:right} td.v{text-align:right;font-variant-numeric:tabular-nums}
p.result{font-size:15px}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="result">{{.Sentence}}</p>
<h2>The search</h2>{{.Rates}}
<h2>Latency</h2>{{.Latency}}
<h2>Trials</h2>
<table class="trials">
<tr><th>trial</th><th>phase</th><th>rate/s</th><th>attempts</th><th>outcome</th><th>why</th><th>latency p50 / p99</th><th>retransmissions</th></tr>
{{range .Trials}}<tr>{{range .}}<td class="v">{{.}}</td>{{end}}</tr>
{{end}}</table>
<p style="font-size:11px;color:#777">regstorm report of a capacity search (RFC 7502). A generator-limited trial is no verdict on the registrar.</p>
</body></html>
`))
