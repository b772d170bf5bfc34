package server

// Charts for the managers' console, drawn on the server as inline SVG so the
// pages need no script, no chart library and no request beyond the page
// itself: the console must work on a closed network.
//
// Every chart is one <svg> with a viewBox and width="100%", so it scales to
// the column it sits in, from a desktop down to a tablet held in an aisle.
// Colours are presentation attributes (fill=, stroke=) with a class beside
// them: a stylesheet can restyle any chart-* class, since CSS rules beat
// presentation attributes, and there is no style="" attribute for a strict
// Content-Security-Policy to block. Every piece of text goes through
// chartEscape.

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"stocksync/ledger"
)

// backlogPoint is the review backlog at the end of one period: Open is how
// many reviews were open at At, Opened and Resolved how many were opened and
// resolved during the period that ends at At.
type backlogPoint struct {
	At       time.Time
	Open     int
	Opened   int
	Resolved int
}

// lagBar is one device's row in the sync lag chart. Lag is the age of its
// oldest unsent operation, or the time since it was last seen; Pending is
// how many operations it has not sent; Lagging marks it as past the
// tenant's threshold.
type lagBar struct {
	Device  string
	Lag     time.Duration
	Pending int
	Lagging bool
}

// Default colours, used as presentation attributes under the chart-* classes.
const (
	chartInk      = "#374151" // labels
	chartMuted    = "#6b7280" // axis labels, "no data yet"
	chartGridline = "#e5e7eb"
	chartBlue     = "#2563eb" // open backlog, lag bars
	chartAmber    = "#d97706" // opened per period
	chartGreen    = "#16a34a" // resolved per period
	chartRed      = "#dc2626" // lagging devices
	chartFont     = `font-family="system-ui, sans-serif" font-size="12"`
)

// backlogSeries turns a review flow (ledger.ReviewFlow, counted over
// periods of step from from) into the backlog at the end of each period:
// point i is at from+(i+1)·step, with the reviews open then and those
// opened and resolved in the period. Open at each point is the previous
// Open plus Opened minus Resolved, starting from the reviews open at from.
func backlogSeries(f ledger.ReviewFlow, from time.Time, step time.Duration) []backlogPoint {
	n := min(len(f.Opened), len(f.Resolved))
	if n == 0 || step <= 0 {
		return nil
	}
	points := make([]backlogPoint, n)
	open := f.Open
	for i := range n {
		open += f.Opened[i] - f.Resolved[i]
		points[i] = backlogPoint{At: from.Add(time.Duration(i+1) * step), Open: open, Opened: f.Opened[i], Resolved: f.Resolved[i]}
	}
	return points
}

// Geometry of the backlog chart, in viewBox units.
const (
	backlogW      = 720
	backlogH      = 260
	backlogLeft   = 48 // room for the count labels
	backlogRight  = 16
	backlogTop    = 32 // room for the legend
	backlogBottom = 28 // room for the date labels
)

// backlogChart draws the review backlog over time: the open reviews as a
// line over a shaded area, and under it the reviews opened and resolved
// in each period as a pair of thin bars. With fewer than two points there
// is no line to draw, and the chart says there is no data yet.
func backlogChart(points []backlogPoint) template.HTML {
	var b strings.Builder
	chartOpen(&b, "chart chart-backlog", backlogW, backlogH, "Review backlog over time")
	if len(points) < 2 {
		chartEmpty(&b, backlogW, backlogH, "No data yet")
		if len(points) == 1 {
			p := points[0]
			fmt.Fprintf(&b, `<text class="chart-empty" x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`,
				backlogW/2, backlogH/2+20, chartMuted,
				chartEscape(fmt.Sprintf("%d open at %s", p.Open, p.At.Format("2 Jan 2006 15:04"))))
		}
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}

	pts := append([]backlogPoint(nil), points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].At.Before(pts[j].At) })
	n := len(pts)

	maxY := 0
	for _, p := range pts {
		maxY = max(maxY, p.Open, p.Opened, p.Resolved)
	}
	tick := chartTickStep(maxY, 5)
	top := max(tick, (maxY+tick-1)/tick*tick)

	plotW := float64(backlogW - backlogLeft - backlogRight)
	plotH := float64(backlogH - backlogTop - backlogBottom)
	baseY := float64(backlogH - backlogBottom)
	// Each point owns a slot of the plot's width, so the bars at both ends
	// stay inside it; points sit in their slot by time, or by index when
	// they all share one time.
	slot := plotW / float64(n)
	t0, t1 := pts[0].At, pts[n-1].At
	xOf := func(i int) float64 {
		frac := float64(i) / float64(n-1)
		if span := t1.Sub(t0); span > 0 {
			frac = float64(pts[i].At.Sub(t0)) / float64(span)
		}
		return float64(backlogLeft) + slot/2 + frac*(plotW-slot)
	}
	yOf := func(v int) float64 { return baseY - float64(v)/float64(top)*plotH }

	// Grid and count labels.
	b.WriteString(`<g class="chart-axis">`)
	for v := 0; v <= top; v += tick {
		y := yOf(v)
		fmt.Fprintf(&b, `<line class="chart-grid" x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s"/>`,
			backlogLeft, chartNum(y), backlogW-backlogRight, chartNum(y), chartGridline)
		fmt.Fprintf(&b, `<text class="chart-label" x="%d" y="%s" text-anchor="end" dominant-baseline="middle" fill="%s">%d</text>`,
			backlogLeft-6, chartNum(y), chartMuted, v)
	}
	// Date labels, in the points' own time zone: about six, evenly picked,
	// and always the last.
	layout := chartDateLayout(t0, t1, n)
	every := max(1, (n+5)/6)
	for i := 0; i < n; i++ {
		last := i == n-1
		if !last && (i%every != 0 || (i != 0 && n-1-i < every)) {
			continue // not picked, or too close to the last label
		}
		fmt.Fprintf(&b, `<text class="chart-label" x="%s" y="%d" text-anchor="middle" fill="%s">%s</text>`,
			chartNum(xOf(i)), backlogH-8, chartMuted, chartEscape(pts[i].At.Format(layout)))
	}
	b.WriteString(`</g>`)

	// Opened and resolved per period: two thin bars side by side.
	barW := math.Min(8, slot/3)
	b.WriteString(`<g class="chart-flow">`)
	for i, p := range pts {
		x := xOf(i)
		tip := chartEscape(fmt.Sprintf("%s: %d open, %d opened, %d resolved",
			p.At.Format("2 Jan 2006 15:04"), p.Open, p.Opened, p.Resolved))
		fmt.Fprintf(&b, `<rect class="chart-opened" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
			chartNum(x-barW), chartNum(yOf(p.Opened)), chartNum(barW), chartNum(baseY-yOf(p.Opened)), chartAmber, tip)
		fmt.Fprintf(&b, `<rect class="chart-resolved" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
			chartNum(x), chartNum(yOf(p.Resolved)), chartNum(barW), chartNum(baseY-yOf(p.Resolved)), chartGreen, tip)
	}
	b.WriteString(`</g>`)

	// Open backlog: the shaded area, the line, and a dot per point.
	var line strings.Builder
	for i, p := range pts {
		if i > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(chartNum(xOf(i)) + "," + chartNum(yOf(p.Open)))
	}
	fmt.Fprintf(&b, `<polygon class="chart-area" points="%s,%s %s %s,%s" fill="%s" fill-opacity="0.12"/>`,
		chartNum(xOf(0)), chartNum(baseY), line.String(), chartNum(xOf(n-1)), chartNum(baseY), chartBlue)
	fmt.Fprintf(&b, `<polyline class="chart-line" points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`,
		line.String(), chartBlue)
	b.WriteString(`<g class="chart-points">`)
	for i, p := range pts {
		fmt.Fprintf(&b, `<circle class="chart-point" cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>`,
			chartNum(xOf(i)), chartNum(yOf(p.Open)), chartBlue,
			chartEscape(fmt.Sprintf("%s: %d open", p.At.Format("2 Jan 2006 15:04"), p.Open)))
	}
	b.WriteString(`</g>`)

	// Legend, top left.
	b.WriteString(`<g class="chart-legend">`)
	x := backlogLeft
	for _, e := range []struct{ class, colour, label string }{
		{"chart-line", chartBlue, "Open"},
		{"chart-opened", chartAmber, "Opened"},
		{"chart-resolved", chartGreen, "Resolved"},
	} {
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="10" width="10" height="10" fill="%s" stroke="none"/>`, e.class, x, e.colour)
		fmt.Fprintf(&b, `<text class="chart-label" x="%d" y="19" fill="%s">%s</text>`, x+14, chartInk, e.label)
		x += 24 + 8*len(e.label)
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// Geometry of the lag chart, in viewBox units. The height grows with the
// number of devices.
const (
	lagW       = 720
	lagRow     = 28
	lagTop     = 8
	lagBottom  = 28  // room for the duration axis
	lagLabelW  = 168 // device names
	lagValueW  = 200 // "3h 20m · 12 pending · lagging"
	lagNameMax = 24  // runes of a device name shown; the full name is in the tooltip
)

// lagChart draws one horizontal bar per device, in the order given, whose
// length is the device's sync lag; each row is labelled with the device
// name, the lag as a human duration and the pending count. Lagging devices'
// bars get the class chart-lagging (red) and say "lagging" in words too, so
// colour is not the only sign. A negative lag (a device clock ahead of the
// server's) is drawn as none.
func lagChart(bars []lagBar) template.HTML {
	var b strings.Builder
	if len(bars) == 0 {
		h := lagTop + 3*lagRow + lagBottom
		chartOpen(&b, "chart chart-lag", lagW, h, "Sync lag per device")
		chartEmpty(&b, lagW, h, "No devices yet")
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}

	h := lagTop + len(bars)*lagRow + lagBottom
	chartOpen(&b, "chart chart-lag", lagW, h, "Sync lag per device")

	var longest time.Duration
	for _, bar := range bars {
		longest = max(longest, bar.Lag)
	}
	tick := chartDurationStep(longest, 5)
	top := max(tick, (longest+tick-1)/tick*tick)
	x0 := float64(lagLabelW)
	plotW := float64(lagW - lagLabelW - lagValueW)
	xOf := func(d time.Duration) float64 { return x0 + float64(max(d, 0))/float64(top)*plotW }
	axisY := lagTop + len(bars)*lagRow

	b.WriteString(`<g class="chart-axis">`)
	for d := time.Duration(0); d <= top; d += tick {
		x := xOf(d)
		fmt.Fprintf(&b, `<line class="chart-grid" x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s"/>`,
			chartNum(x), lagTop, chartNum(x), axisY, chartGridline)
		fmt.Fprintf(&b, `<text class="chart-label" x="%s" y="%d" text-anchor="middle" fill="%s">%s</text>`,
			chartNum(x), axisY+18, chartMuted, chartEscape(humanDuration(d)))
	}
	b.WriteString(`</g>`)

	for i, bar := range bars {
		y := lagTop + i*lagRow
		class, colour := "chart-bar", chartBlue
		value := humanDuration(bar.Lag) + " · " + chartPending(bar.Pending)
		if bar.Lagging {
			class, colour = "chart-bar chart-lagging", chartRed
			value += " · lagging"
		}
		name := bar.Device
		if r := []rune(name); len(r) > lagNameMax {
			name = string(r[:lagNameMax-1]) + "…"
		}
		end := xOf(bar.Lag)
		fmt.Fprintf(&b, `<g class="chart-row"><title>%s</title>`, chartEscape(bar.Device+": "+value))
		fmt.Fprintf(&b, `<text class="chart-label" x="%d" y="%d" text-anchor="end" dominant-baseline="middle" fill="%s">%s</text>`,
			lagLabelW-8, y+lagRow/2, chartInk, chartEscape(name))
		fmt.Fprintf(&b, `<rect class="%s" x="%s" y="%d" width="%s" height="%d" rx="2" fill="%s"/>`,
			class, chartNum(x0), y+5, chartNum(end-x0), lagRow-10, colour)
		fmt.Fprintf(&b, `<text class="chart-value" x="%s" y="%d" dominant-baseline="middle" fill="%s">%s</text>`,
			chartNum(end+6), y+lagRow/2, chartInk, chartEscape(value))
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartOpen starts an <svg> of the given viewBox size, with its accessible
// title.
func chartOpen(b *strings.Builder, class string, w, h int, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="%s" %s><title>%s</title>`,
		class, w, h, chartEscape(title), chartFont, chartEscape(title))
}

// chartEmpty writes a centred message in place of a chart.
func chartEmpty(b *strings.Builder, w, h int, msg string) {
	fmt.Fprintf(b, `<text class="chart-empty" x="%d" y="%d" text-anchor="middle" font-size="16" fill="%s">%s</text>`,
		w/2, h/2, chartMuted, chartEscape(msg))
}

// chartEscape escapes s for XML text and attribute values, and replaces
// what XML cannot hold (control characters, invalid UTF-8) with U+FFFD, so
// a device named anything still makes a well-formed chart.
func chartEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// chartNum formats a coordinate with at most two decimals.
func chartNum(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// chartTickStep returns a step of 1, 2 or 5 times a power of ten that cuts
// 0..maxValue into at most about ticks intervals.
func chartTickStep(maxValue, ticks int) int {
	if maxValue <= ticks {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if s := m * p; maxValue <= s*ticks {
				return s
			}
		}
	}
}

// chartDurationSteps are the steps of a duration axis, in the units people
// read durations in.
var chartDurationSteps = []time.Duration{
	time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour,
}

// chartDurationStep returns the smallest of chartDurationSteps that cuts
// 0..longest into at most ticks intervals (a whole number of 30 days beyond
// them), and a minute for nothing at all.
func chartDurationStep(longest time.Duration, ticks int) time.Duration {
	if longest <= 0 {
		return time.Minute
	}
	for _, s := range chartDurationSteps {
		if longest <= s*time.Duration(ticks) {
			return s
		}
	}
	month := 30 * 24 * time.Hour
	months := (longest/time.Duration(ticks) + month - 1) / month
	return months * month
}

// chartPending says how many operations are waiting.
func chartPending(n int) string {
	if n == 1 {
		return "1 pending"
	}
	return strconv.Itoa(n) + " pending"
}

// chartDateLayout picks how to label times from t0 to t1 across n points:
// clock times within a day, day and time when points are hours apart over
// several days, days otherwise, and months over a long range.
func chartDateLayout(t0, t1 time.Time, n int) string {
	span := t1.Sub(t0)
	step := span / time.Duration(max(n-1, 1))
	switch {
	case span <= 24*time.Hour:
		return "15:04"
	case step < 24*time.Hour:
		return "2 Jan 15:04"
	case span > 400*24*time.Hour:
		return "Jan 2006"
	default:
		return "2 Jan"
	}
}
