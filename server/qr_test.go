package server

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"
)

// qrRun is one run of dark modules as qrSVG writes it in the path.
var qrRun = regexp.MustCompile(`^M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// qrDrawn reads back the modules that the path of an SVG from qrSVG
// paints, as a size×size bitmap.
func qrDrawn(t *testing.T, d string, size int) [][]bool {
	t.Helper()
	drawn := make([][]bool, size)
	for i := range drawn {
		drawn[i] = make([]bool, size)
	}
	for rest := d; rest != ""; {
		m := qrRun.FindStringSubmatch(rest)
		if m == nil {
			t.Fatalf("path data not understood at %.40q", rest)
		}
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		if m[3] != m[4] {
			t.Fatalf("run %q does not close", m[0])
		}
		if y >= size || x+w > size || w == 0 {
			t.Fatalf("run %q outside the %d×%d symbol", m[0], size, size)
		}
		for i := x; i < x+w; i++ {
			if drawn[y][i] {
				t.Fatalf("module (%d,%d) drawn twice", i, y)
			}
			drawn[y][i] = true
		}
		rest = rest[len(m[0]):]
	}
	return drawn
}

func TestQRSVG(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"ABCDE-FGHIJ", "https://stock.example/enroll?code=ABCDE-FGHIJ", `<"&'>`} {
		t.Run(text, func(t *testing.T) {
			t.Parallel()
			out, err := qrSVG(text)
			if err != nil {
				t.Fatalf("qrSVG: %v", err)
			}
			elems := parseSVG(t, string(out))
			if !strings.Contains(elems[1].Text, text) {
				t.Errorf("title %q does not name %q", elems[1].Text, text)
			}
			root := elems[0]
			if root.Attrs["shape-rendering"] != "crispEdges" {
				t.Errorf("shape-rendering %q, want crispEdges", root.Attrs["shape-rendering"])
			}
			paths := withClass(elems, "qr-modules")
			if len(paths) != 1 || len(withClass(elems, "qr-bg")) != 1 {
				t.Fatalf("want one background and one path, got %d paths", len(paths))
			}
			if bg := withClass(elems, "qr-bg")[0]; bg.Attrs["fill"] != "#fff" {
				t.Errorf("background fill %q, want white", bg.Attrs["fill"])
			}

			q, err := qrcode.New(text, qrcode.Medium)
			if err != nil {
				t.Fatal(err)
			}
			want := q.Bitmap()
			size := len(want)
			if got := root.Attrs["viewBox"]; got != "0 0 "+strconv.Itoa(size)+" "+strconv.Itoa(size) {
				t.Errorf("viewBox %q for a %d-module symbol", got, size)
			}
			drawn := qrDrawn(t, paths[0].Attrs["d"], size)
			dark, drawnDark := 0, 0
			for y := range want {
				for x := range want[y] {
					if want[y][x] {
						dark++
					}
					if drawn[y][x] {
						drawnDark++
					}
					if want[y][x] != drawn[y][x] {
						t.Errorf("module (%d,%d): drawn %v, bitmap %v", x, y, drawn[y][x], want[y][x])
					}
				}
			}
			if dark != drawnDark || dark == 0 {
				t.Errorf("%d dark modules drawn, the bitmap has %d", drawnDark, dark)
			}
			// The quiet zone: four light modules on every side.
			for i := 0; i < size; i++ {
				for j := 0; j < 4; j++ {
					if drawn[j][i] || drawn[size-1-j][i] || drawn[i][j] || drawn[i][size-1-j] {
						t.Fatalf("dark module in the quiet zone near (%d,%d)", i, j)
					}
				}
			}
		})
	}
}

func TestQRSVGRejects(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"empty":    "",
		"too long": strings.Repeat("A", qrMaxText+1),
	} {
		if _, err := qrSVG(text); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := qrSVG(strings.Repeat("A", qrMaxText)); err != nil {
		t.Errorf("%d bytes: %v", qrMaxText, err)
	}
}
