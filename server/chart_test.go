package server

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"stocksync/ledger"
)

// svgElement is an element of a parsed SVG: its name, its attributes and
// the text directly inside it.
type svgElement struct {
	Name  string
	Attrs map[string]string
	Text  string
}

// parseSVG checks that s is one well-formed XML document whose root is an
// <svg> with a viewBox, role="img", width="100%" and a <title>, and returns
// its elements in document order.
func parseSVG(t *testing.T, s string) []svgElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var (
		elems []svgElement
		stack []int
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElement{Name: tok.Name.Local, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.Attrs[a.Name.Local] = a.Value
			}
			elems = append(elems, e)
			stack = append(stack, len(elems)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				elems[stack[len(stack)-1]].Text += string(tok)
			}
		}
	}
	if len(elems) == 0 || elems[0].Name != "svg" {
		t.Fatalf("root is not <svg>:\n%s", s)
	}
	root := elems[0]
	if root.Attrs["viewBox"] == "" || root.Attrs["role"] != "img" || root.Attrs["width"] != "100%" {
		t.Errorf("root lacks viewBox, role=img or width=100%%: %v", root.Attrs)
	}
	if len(elems) < 2 || elems[1].Name != "title" || elems[1].Text == "" {
		t.Errorf("<svg> does not start with a <title>")
	}
	return elems
}

// withClass returns the elements whose class list holds class.
func withClass(elems []svgElement, class string) []svgElement {
	var out []svgElement
	for _, e := range elems {
		for _, c := range strings.Fields(e.Attrs["class"]) {
			if c == class {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// allText joins the text of every element.
func allText(elems []svgElement) string {
	var b strings.Builder
	for _, e := range elems {
		b.WriteString(e.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestBacklogChart(t *testing.T) {
	t.Parallel()
	day0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var points []backlogPoint
	for i := range 7 {
		points = append(points, backlogPoint{At: day0.AddDate(0, 0, i+1), Open: 10 + 3*i, Opened: 5 + i, Resolved: 2})
	}
	out := string(backlogChart(points))
	elems := parseSVG(t, out)

	if n := len(withClass(elems, "chart-point")); n != len(points) {
		t.Errorf("%d points, want %d", n, len(points))
	}
	// The legend has one swatch of each class, the rest are bars.
	if n := len(withClass(elems, "chart-opened")) - 1; n != len(points) {
		t.Errorf("%d opened bars, want %d", n, len(points))
	}
	if n := len(withClass(elems, "chart-resolved")) - 1; n != len(points) {
		t.Errorf("%d resolved bars, want %d", n, len(points))
	}
	if n := len(withClass(elems, "chart-area")); n != 1 {
		t.Errorf("%d areas, want 1", n)
	}
	lines := withClass(elems, "chart-line")
	if len(lines) != 2 { // the polyline and its legend swatch
		t.Fatalf("%d chart-line elements, want 2", len(lines))
	}
	if got := len(strings.Fields(lines[0].Attrs["points"])); got != len(points) {
		t.Errorf("line has %d vertices, want %d", got, len(points))
	}

	text := allText(elems)
	for _, want := range []string{"2 Mar", "8 Mar", "Open", "Resolved"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the chart's text", want)
		}
	}
	// Largest value 28 with a step of 10 tops the axis at 30.
	var labels []string
	for _, e := range withClass(elems, "chart-label") {
		labels = append(labels, e.Text)
	}
	if got := strings.Join(labels, " "); !strings.HasPrefix(got, "0 10 20 30 ") {
		t.Errorf("count axis labels %q, want 0 10 20 30 first", got)
	}
}

func TestBacklogChartEmpty(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	for name, points := range map[string][]backlogPoint{
		"none": nil,
		"one":  {{At: at, Open: 4}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			elems := parseSVG(t, string(backlogChart(points)))
			if !strings.Contains(allText(elems), "No data yet") {
				t.Errorf("no 'No data yet' message")
			}
			if n := len(withClass(elems, "chart-point")); n != 0 {
				t.Errorf("%d points drawn, want none", n)
			}
			if len(points) == 1 && !strings.Contains(allText(elems), "4 open at 1 Mar 2025 09:30") {
				t.Errorf("the single point is not mentioned:\n%s", allText(elems))
			}
		})
	}
}

func TestBacklogChartSameTime(t *testing.T) {
	t.Parallel()
	// Points that share a time must not divide by zero (NaN coordinates).
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	out := string(backlogChart([]backlogPoint{{At: at, Open: 1}, {At: at, Open: 2}}))
	parseSVG(t, out)
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("non-finite coordinates:\n%s", out)
	}
}

func TestLagChart(t *testing.T) {
	t.Parallel()
	bars := []lagBar{
		{Device: "aisle-3", Lag: 3*time.Hour + 20*time.Minute, Pending: 12, Lagging: true},
		{Device: "<script>alert(1)</script>", Lag: 5 * time.Minute, Pending: 1},
		{Device: "cold room & yard \"B\"", Lag: 0},
		{Device: "bad\x01name\xff", Lag: -time.Minute, Pending: 2},
	}
	out := string(lagChart(bars))
	if strings.Contains(out, "<script>") {
		t.Fatalf("device name not escaped:\n%s", out)
	}
	elems := parseSVG(t, out)

	drawn := withClass(elems, "chart-bar")
	if len(drawn) != len(bars) {
		t.Fatalf("%d bars, want %d", len(drawn), len(bars))
	}
	lagging := withClass(elems, "chart-lagging")
	if len(lagging) != 1 || lagging[0].Attrs["fill"] != chartRed {
		t.Errorf("lagging bars %v, want the first one, red", lagging)
	}
	width := func(e svgElement) float64 {
		w, err := strconv.ParseFloat(e.Attrs["width"], 64)
		if err != nil {
			t.Fatalf("bar width: %v", err)
		}
		return w
	}
	if width(drawn[0]) <= width(drawn[1]) || width(drawn[1]) <= 0 {
		t.Errorf("3h20m bar %v wide, 5m bar %v wide", width(drawn[0]), width(drawn[1]))
	}
	if w := drawn[3].Attrs["width"]; w != "0" {
		t.Errorf("negative lag drawn %s wide, want 0", w)
	}

	text := allText(elems)
	for _, want := range []string{
		"aisle-3", "3h 20m · 12 pending · lagging",
		"<script>alert(1)</script>", "5m · 1 pending",
		`cold room & yard "B"`, "0s · 0 pending",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the chart's text:\n%s", want, text)
		}
	}
}

func TestLagChartHeightGrows(t *testing.T) {
	t.Parallel()
	height := func(n int) string {
		bars := make([]lagBar, n)
		for i := range bars {
			bars[i] = lagBar{Device: strings.Repeat("d", i+1), Lag: time.Duration(i) * time.Minute}
		}
		return parseSVG(t, string(lagChart(bars)))[0].Attrs["viewBox"]
	}
	if a, b := height(3), height(40); a == b {
		t.Errorf("viewBox %q for 3 devices and %q for 40", a, b)
	}
	if got, want := height(40), "0 0 720 1156"; got != want {
		t.Errorf("viewBox for 40 devices %q, want %q", got, want)
	}
}

func TestLagChartEmpty(t *testing.T) {
	t.Parallel()
	elems := parseSVG(t, string(lagChart(nil)))
	if !strings.Contains(allText(elems), "No devices yet") {
		t.Errorf("no 'No devices yet' message")
	}
	if n := len(withClass(elems, "chart-bar")); n != 0 {
		t.Errorf("%d bars, want none", n)
	}
}

func TestLagChartLongName(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("handheld-", 10)
	elems := parseSVG(t, string(lagChart([]lagBar{{Device: name, Lag: time.Hour}})))
	text := allText(elems)
	if !strings.Contains(text, "handheld-handheld-handh…") {
		t.Errorf("long name not shortened:\n%s", text)
	}
	if !strings.Contains(text, name+": 1h") {
		t.Errorf("tooltip lacks the full name:\n%s", text)
	}
}

// TestChartBacklogSeries: the points follow from the flow the ledger
// counted (its periods and edges are tested against both stores in
// ledgertest's ReviewFlow).
func TestChartBacklogSeries(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	got := backlogSeries(ledger.ReviewFlow{Open: 3, Opened: []int{2, 0, 5}, Resolved: []int{1, 2, 3}}, from, day)
	want := []backlogPoint{
		{At: from.Add(day), Open: 4, Opened: 2, Resolved: 1},
		{At: from.Add(2 * day), Open: 2, Opened: 0, Resolved: 2},
		{At: from.Add(3 * day), Open: 4, Opened: 5, Resolved: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i] != want[i] {
			t.Errorf("point %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := backlogSeries(ledger.ReviewFlow{Open: 2, Opened: make([]int, 3), Resolved: make([]int, 3)}, from, day); len(got) != 3 || got[2].Open != 2 {
		t.Errorf("a quiet span: %v", got)
	}
	if got := backlogSeries(ledger.ReviewFlow{Open: 2}, from, day); got != nil {
		t.Errorf("no periods: %v, want nil", got)
	}
	if got := backlogSeries(ledger.ReviewFlow{Opened: []int{1}, Resolved: []int{1}}, from, 0); got != nil {
		t.Errorf("zero step: %v, want nil", got)
	}
}

func TestChartTickStep(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ max, want int }{
		{0, 1}, {5, 1}, {6, 2}, {10, 2}, {11, 5}, {25, 5}, {28, 10}, {50, 10}, {51, 20}, {999, 200}, {1001, 500},
	} {
		if got := chartTickStep(c.max, 5); got != c.want {
			t.Errorf("chartTickStep(%d) = %d, want %d", c.max, got, c.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Hour, "0s"},
		{0, "0s"},
		{45 * time.Second, "45s"},
		{12*time.Minute + 30*time.Second, "12m"},
		{3 * time.Hour, "3h"},
		{3*time.Hour + 20*time.Minute, "3h 20m"},
		{50 * time.Hour, "2d 2h"},
		{72 * time.Hour, "3d"},
	} {
		if got := humanDuration(c.d); got != c.want {
			t.Errorf("humanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
