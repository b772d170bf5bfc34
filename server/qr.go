package server

import (
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"
)

// qrMaxText bounds what qrSVG encodes. An enrollment code, or a URL that
// carries one, is a few dozen bytes; a few hundred already make a QR code
// too dense for a handheld's camera at arm's length on a tablet screen.
const qrMaxText = 512

// qrSVG draws text as a QR code (error correction level M, about 15% of the
// symbol recoverable) in an inline SVG, for a handheld to scan an enrollment
// code off the console. The modules are one <path> on a white square, with
// the four-module quiet zone that scanners need, in a viewBox of one unit
// per module, drawn with crispEdges so that no scaling blurs them.
//
// It returns an error for empty text and for text longer than qrMaxText
// bytes.
func qrSVG(text string) (template.HTML, error) {
	if text == "" {
		return "", errors.New("qr code: nothing to encode")
	}
	if len(text) > qrMaxText {
		return "", fmt.Errorf("qr code: %d bytes is more than the %d a scanner reads reliably", len(text), qrMaxText)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	// Bitmap includes the quiet zone (DisableBorder is false by default).
	bitmap := q.Bitmap()
	size := len(bitmap)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" width="100%%" shape-rendering="crispEdges" role="img" aria-label="%s"><title>%s</title>`,
		size, size, chartEscape("QR code: "+text), chartEscape("QR code: "+text))
	fmt.Fprintf(&b, `<rect class="qr-bg" width="%d" height="%d" fill="#fff"/>`, size, size)
	b.WriteString(`<path class="qr-modules" fill="#000" d="`)
	// One rectangle per horizontal run of dark modules keeps the path short.
	for y, row := range bitmap {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 0
			for x+run < len(row) && row[x+run] {
				run++
			}
			b.WriteString("M" + strconv.Itoa(x) + " " + strconv.Itoa(y) + "h" + strconv.Itoa(run) + "v1h-" + strconv.Itoa(run) + "z")
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}
