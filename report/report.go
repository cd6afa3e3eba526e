// Package report renders a run's summary as one self-contained HTML page:
// the headline figures, latency by percentile (HdrHistogram's log-scale
// percentile axis), latency per second, failures, timeouts and
// retransmissions per second, registered NAPs and REGISTER/s over time,
// and responses by code. Charts are inline SVG built here: the page fetches
// nothing and runs no script.
package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/regstorm/regstorm/metrics"
)

const (
	width, height            = 760, 300
	left, right, top, bottom = 70, 20, 20, 45
)

// series is one line of a chart.
type series struct {
	Name, Color string
	X, Y        []float64
}

// chart is an SVG line chart with linear y and a given x axis.
type chart struct {
	Title, XLabel, YLabel string
	Series                []series
	XTicks                []tick // nil: linear ticks
	XMax                  float64
	Marks                 []tick // events marked on the x axis (a reboot), as vertical lines
	Bounds                []tick // stage boundaries on the x axis, as vertical lines of another colour, labelled at the foot
}

type tick struct {
	At    float64
	Label string
}

func (c chart) svg() template.HTML {
	var ymax, xmax float64 = 0, c.XMax
	for _, s := range c.Series {
		for i := range s.X {
			xmax = math.Max(xmax, s.X[i])
			if !math.IsNaN(s.Y[i]) {
				ymax = math.Max(ymax, s.Y[i])
			}
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	ymax *= 1.1
	if xmax <= 0 {
		xmax = 1
	}
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	px := func(x float64) float64 { return float64(left) + x/xmax*pw }
	py := func(y float64) float64 { return float64(top) + ph - y/ymax*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, width, height, width, height, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="#fff" stroke="#999"/>`, left, top, pw, ph)
	for i := 0; i <= 4; i++ { // y grid
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`,
			left, px(xmax), py(y), py(y), left-6, py(y)+4, num(y))
	}
	ticks := c.XTicks
	if ticks == nil {
		for i := 0; i <= 5; i++ {
			x := xmax * float64(i) / 5
			ticks = append(ticks, tick{x, num(x)})
		}
	}
	for _, t := range ticks {
		if t.At > xmax {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`,
			px(t.At), px(t.At), top, py(0), px(t.At), py(0)+16, template.HTMLEscapeString(t.Label))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>`, px(xmax/2), height-6, template.HTMLEscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.1f" font-size="12" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`, py(ymax/2), py(ymax/2), template.HTMLEscapeString(c.YLabel))
	for _, m := range c.Bounds {
		if m.At > xmax {
			continue
		}
		fmt.Fprintf(&b, `<line class="stage" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#75a" stroke-dasharray="2 3"/><text x="%.1f" y="%.1f" font-size="11" fill="#75a">%s</text>`,
			px(m.At), px(m.At), top, py(0), px(m.At)+3, py(0)-5, template.HTMLEscapeString(m.Label))
	}
	for _, m := range c.Marks {
		if m.At > xmax {
			continue
		}
		fmt.Fprintf(&b, `<line class="event" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#c22" stroke-dasharray="4 3"/><text x="%.1f" y="%d" font-size="11" fill="#c22">%s</text>`,
			px(m.At), px(m.At), top, py(0), px(m.At)+3, top+12, template.HTMLEscapeString(m.Label))
	}
	for i, s := range c.Series {
		if len(s.X) == 0 {
			continue
		}
		var d strings.Builder
		cmd := "M"
		for k := range s.X {
			if math.IsNaN(s.Y[k]) { // no data in that second: a gap, never a 0
				cmd = "M"
				continue
			}
			fmt.Fprintf(&d, "%s%.1f,%.1f ", cmd, px(s.X[k]), py(s.Y[k]))
			cmd = "L"
		}
		fmt.Fprintf(&b, `<path class="series" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="2"/>`, template.HTMLEscapeString(s.Name), strings.TrimSpace(d.String()), s.Color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="%s">%s</text>`, left+10, top+16+16*i, s.Color, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped labels only
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// percentileX maps a percentile to HdrHistogram's axis: log10(1/(1-p)).
func percentileX(p float64) float64 {
	if p >= 100 {
		p = 99.9999
	}
	return math.Log10(1 / (1 - p/100))
}

func distribution(name, color string, pts []metrics.PercentilePoint) series {
	s := series{Name: name, Color: color}
	for _, p := range pts {
		s.X = append(s.X, percentileX(p.Percentile))
		s.Y = append(s.Y, p.MS)
	}
	return s
}

// bars is a bar chart of responses by code.
func bars(resp map[string]int64) template.HTML {
	codes := make([]string, 0, len(resp))
	var maxv int64 = 1
	for c, v := range resp {
		codes = append(codes, c)
		maxv = max(maxv, v)
	}
	sort.Strings(codes)
	h := 40 + 26*len(codes)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="responses by code">`, width, h)
	for i, c := range codes {
		w := float64(resp[c]) / float64(maxv) * float64(width-200)
		color := "#2a7"
		if n, _ := strconv.Atoi(c); n >= 300 && n != 401 && n != 407 {
			color = "#c33"
		}
		y := 20 + 26*i
		fmt.Fprintf(&b, `<text x="60" y="%d" font-size="13" text-anchor="end">%s</text><rect class="bar" data-code="%s" x="70" y="%d" width="%.1f" height="18" fill="%s"/><text x="%.1f" y="%d" font-size="12">%d</text>`,
			y+14, template.HTMLEscapeString(c), template.HTMLEscapeString(c), y, w, color, 76+w, y+14, resp[c])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:800px}
h1{font-size:20px} h2{font-size:15px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 12px 3px 0} th{font-weight:normal;color:#555;text-align:right} td.v{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#c33;font-weight:bold}
</style></head><body>
<h1>{{.Title}}</h1>
<table>
{{range .Rows}}<tr><td>{{.K}}</td><td class="v">{{.V}}</td></tr>
{{end}}</table>
{{if .Failed}}<p class="fail">--fail-on crossed: {{.Failed}}</p>{{end}}
{{if .Stages}}<h2>Stages</h2>
<table class="stages">
<tr><th>stage</th><th>at</th><th>NAPs</th><th>for</th><th>requests</th><th>retransmissions</th><th>timeouts</th><th>latency p50 / p90 / p99 / max</th><th>count</th></tr>
{{range .Stages}}<tr>{{range .}}<td class="v">{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<h2>Latency per second (p50, p99)</h2>{{.LatencyOverTime}}
<h2>Failures, timeouts and retransmissions per second</h2>{{.Problems}}
<h2>Registered NAPs</h2>{{.Registered}}
<h2>REGISTER/s</h2>{{.Rate}}
<h2>Latency by percentile</h2>{{.Latency}}
<h2>Responses by code</h2>{{.Responses}}
<p style="font-size:11px;color:#777">regstorm report. Latency: first transmission to final response per transaction; registration: first REGISTER to 2xx, auth included; HdrHistogram, 3 significant digits.</p>
</body></html>
`))

type row struct{ K, V string }

// drainLeftText is the bindings the drain left, by why, or "none".
func drainLeftText(d *metrics.DrainSummary) string {
	if d.Left() == 0 {
		return "none"
	}
	whys := make([]string, 0, len(d.UnregisterFailed))
	for why, n := range d.UnregisterFailed {
		whys = append(whys, fmt.Sprintf("%s ×%d", why, n))
	}
	sort.Strings(whys)
	return fmt.Sprintf("%d (%s)", d.Left(), strings.Join(whys, ", "))
}

// WriteHTML renders s as one HTML page.
func WriteHTML(w io.Writer, s *metrics.Summary, title string) error {
	if len(s.Capacity) > 0 {
		return writeCapacity(w, s.Capacity, title)
	}
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) + " ms" }
	// pct: the percentiles of p, or "no data" (never a measured-looking 0).
	pct := func(p metrics.Percentiles, vs ...float64) string {
		if p.Count == 0 {
			return "no data"
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = ms(v)
		}
		return strings.Join(out, " / ")
	}
	rows := []row{
		{"NAPs", strconv.Itoa(s.NAPs)}, {"transport", s.Transport},
		{"registered at the end of the load", strconv.FormatInt(s.Registered, 10)},
		{"un-registered in the drain", strconv.FormatInt(s.Unregistered, 10)},
		{"load phase", strconv.FormatFloat(s.DurationS, 'f', 1, 64) + " s"},
		{"REGISTER transactions (the whole run)", strconv.FormatInt(s.Requests, 10)},
		{"REGISTER/s (the load phase's average)", strconv.FormatFloat(s.RegisterRatePerS, 'f', 0, 64)},
		{"retransmissions", strconv.FormatInt(s.Retransmissions, 10)},
		{"timeouts", strconv.FormatInt(s.Timeouts, 10)},
		{"auth challenges", strconv.FormatInt(s.AuthChallenges, 10)},
		{"latency p50 / p99 / p99.9 / max", pct(s.LatencyMS, s.LatencyMS.P50, s.LatencyMS.P99, s.LatencyMS.P999, s.LatencyMS.Max)},
		{"registration p50 / p99", pct(s.RegistrationMS, s.RegistrationMS.P50, s.RegistrationMS.P99)},
		{"corrected latency p99 (from due time)", pct(s.CorrectedMS, s.CorrectedMS.P99)},
		{"refresh timing error p99", pct(s.RefreshErrorMS, s.RefreshErrorMS.P99)},
	}
	if d := s.Drain; d != nil {
		rows = append(rows, row{"stop: un-REGISTER transactions, rate", fmt.Sprintf("%d at %.0f/s over %.1f s", d.Requests, d.RatePerS, d.DurationS)},
			row{"stop: un-REGISTER latency p50 / p99 / max", pct(d.LatencyMS, d.LatencyMS.P50, d.LatencyMS.P99, d.LatencyMS.Max)},
			row{"stop: bindings left at the registrar", drainLeftText(d)})
	}
	if s.TimeToAllRegisterS != nil {
		rows = append(rows, row{"all NAPs registered after", strconv.FormatFloat(*s.TimeToAllRegisterS, 'f', 2, 64) + " s"})
	}
	reg := series{Name: "registered", Color: "#27c", X: []float64{0}, Y: []float64{0}} // from t = 0
	rate := series{Name: "REGISTER/s", Color: "#e80"}
	p50 := series{Name: "p50", Color: "#27c"}
	p99 := series{Name: "p99", Color: "#c33"}
	fails := series{Name: "failures", Color: "#c33"}
	timeouts := series{Name: "timeouts", Color: "#75a"}
	retrans := series{Name: "retransmissions", Color: "#e80"}
	orNaN := func(v *float64) float64 {
		if v == nil {
			return math.NaN()
		}
		return *v
	}
	for _, p := range s.Timeline {
		reg.X, reg.Y = append(reg.X, p.T), append(reg.Y, float64(p.Registered))
		rate.X, rate.Y = append(rate.X, p.T), append(rate.Y, p.Rate)
		p50.X, p50.Y = append(p50.X, p.T), append(p50.Y, orNaN(p.P50MS))
		p99.X, p99.Y = append(p99.X, p.T), append(p99.Y, orNaN(p.P99MS))
		fails.X, fails.Y = append(fails.X, p.T), append(fails.Y, float64(p.Failures))
		timeouts.X, timeouts.Y = append(timeouts.X, p.T), append(timeouts.Y, float64(p.Timeouts))
		retrans.X, retrans.Y = append(retrans.X, p.T), append(retrans.Y, float64(p.Retransmissions))
	}
	var marks []tick // the storms made on purpose, and how long they took
	for _, ev := range s.Events {
		label := fmt.Sprintf("%s %d", ev.Kind, ev.NAPs)
		if ev.To100S != nil {
			label += fmt.Sprintf(", all back in %.1f s", *ev.To100S)
		}
		marks = append(marks, tick{ev.AtS, label})
		rows = append(rows, row{fmt.Sprintf("%s at %.1f s (%d NAPs)", ev.Kind, ev.AtS, ev.NAPs), eventFigures(ev)})
	}
	var bounds []tick // the stages' boundaries, and each one's NAPs
	var stages [][]string
	for _, st := range s.Stages {
		bounds = append(bounds, tick{st.AtS, fmt.Sprintf("stage %d: %d", st.Stage, st.NAPs)})
		l := st.LatencyMS
		lat := "–"
		if l.Count > 0 {
			lat = fmt.Sprintf("%.3f / %.3f / %.3f / %.3f ms", l.P50, l.P90, l.P99, l.Max)
		}
		stages = append(stages, []string{strconv.Itoa(st.Stage), strconv.FormatFloat(st.AtS, 'f', 1, 64) + " s", strconv.Itoa(st.NAPs),
			strconv.FormatFloat(st.DurationS, 'f', 1, 64) + " s", strconv.FormatInt(st.Requests, 10), strconv.FormatInt(st.Retransmissions, 10),
			strconv.FormatInt(st.Timeouts, 10), lat, strconv.FormatInt(l.Count, 10)})
	}
	pticks := []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "99.9999%"}}
	data := map[string]any{
		"Title": title, "Rows": rows, "Failed": strings.Join(s.ThresholdsFailed, ", "),
		"Latency": chart{Title: "latency by percentile", XLabel: "percentile", YLabel: "ms", XTicks: pticks, XMax: 3,
			Series: []series{distribution("transaction", "#27c", s.LatencyDistribution), distribution("registration", "#e80", s.RegistrationDistribution)}}.svg(),
		"LatencyOverTime": chart{Title: "latency per second", XLabel: "s", YLabel: "ms", Series: []series{p50, p99}, Marks: marks, Bounds: bounds}.svg(),
		"Problems": chart{Title: "failures, timeouts and retransmissions per second", XLabel: "s", YLabel: "per second",
			Series: []series{fails, timeouts, retrans}, Marks: marks, Bounds: bounds}.svg(),
		"Registered": chart{Title: "registered NAPs over time", XLabel: "s", YLabel: "NAPs", Series: []series{reg}, Marks: marks, Bounds: bounds}.svg(),
		"Rate":       chart{Title: "REGISTER/s over time", XLabel: "s", YLabel: "REGISTER/s", Series: []series{rate}, Marks: marks, Bounds: bounds}.svg(),
		"Stages":     stages,
		"Responses":  bars(s.Responses),
	}
	return page.Execute(w, data)
}

// eventFigures is a storm's row: how the registrar recovered.
func eventFigures(ev *metrics.Event) string {
	s := fmt.Sprintf("%d registered again", ev.Back)
	if ev.To99S != nil {
		s += fmt.Sprintf("; 99 %% in %.2f s", *ev.To99S)
	}
	if ev.To100S != nil {
		s += fmt.Sprintf("; 100 %% in %.2f s", *ev.To100S)
	}
	s += fmt.Sprintf("; peak %.0f REGISTER/s; %d retransmissions, %d timeouts, %d 503s", ev.PeakRatePerS, ev.Retransmissions, ev.Timeouts, ev.Refused503)
	if l := ev.LatencyMS; l.Count > 0 {
		s += fmt.Sprintf("; latency p50 / p90 / p99 / max %.3f / %.3f / %.3f / %.3f ms", l.P50, l.P90, l.P99, l.Max)
	}
	return s
}
