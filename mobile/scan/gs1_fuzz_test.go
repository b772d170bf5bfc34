package scan

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseGS1 feeds the parser what a scanner, a keyboard wedge or a
// person at the page could send. It must never panic, and what it accepts
// must be consistent: a GS1 scan formats back to an element string (and,
// when no value holds a parenthesis, to the human-readable form) that
// parses to the same elements; a GTIN has a valid check digit and 14
// digits.
func FuzzParseGS1(f *testing.F) {
	for _, s := range []string{
		"(01)09506000134352(10)ABC(17)251231",
		"]C10109506000134352" + "10ABC" + gs + "17251231",
		"]d2" + gs + "010950600013435217270600" + "10L1",
		"]Q3" + "0109506000134352" + "21SN" + gs + "3712",
		"]e00109506000134352",
		"]C100106141411234567897" + "30150",
		"(3103)000150(422)276(90)X",
		"4006381333931", "96385074", "036000291452", "09506000134352",
		"A1-01", "]C0RET", "(", "((01)", "]", "0101", "(10)(10)",
		"0109506000134352\u241d10A",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := ParseAt(in, parseNow)
		if err != nil {
			return
		}
		switch sc.Kind {
		case KindGS1:
			if len(sc.Elements) == 0 {
				t.Fatalf("GS1 scan %q without elements", in)
			}
			es := FormatElementString(sc.Elements)
			back, err := ParseElementString(es, parseNow)
			if err != nil {
				t.Fatalf("%q parsed to %+v, whose element string %q does not parse: %v", in, sc.Elements, es, err)
			}
			if !slices.Equal(back, sc.Elements) {
				t.Fatalf("%q: element string %q parsed to %+v, want %+v", in, es, back, sc.Elements)
			}
			hriSafe := true
			for _, e := range sc.Elements {
				hriSafe = hriSafe && !strings.ContainsRune(e.Value, '(')
			}
			if hriSafe {
				hri := FormatHRI(sc.Elements)
				back, err := ParseHRI(hri, parseNow)
				if err != nil || !slices.Equal(back, sc.Elements) {
					t.Fatalf("%q: HRI %q parsed to %+v, %v; want %+v", in, hri, back, err, sc.Elements)
				}
			}
			if sc.GTIN != "" && (len(sc.GTIN) != 14 || !ValidCheckDigit(sc.GTIN)) {
				t.Fatalf("%q: GTIN %q is not a valid GTIN-14", in, sc.GTIN)
			}
		case KindGTIN:
			if len(sc.GTIN) != 14 || !ValidCheckDigit(sc.GTIN) || !strings.HasSuffix(sc.GTIN, sc.Code) {
				t.Fatalf("%q: GTIN %q from code %q", in, sc.GTIN, sc.Code)
			}
			if c := BarcodeCandidates(sc.Code); c[0] != sc.Code || !slices.Contains(c, sc.GTIN) {
				t.Fatalf("%q: candidates %q lack the code or the GTIN-14", in, c)
			}
		case KindInternal:
			if sc.Code == "" || sc.Code != strings.TrimSpace(sc.Code) {
				t.Fatalf("%q: internal code %q", in, sc.Code)
			}
		default:
			t.Fatalf("%q: kind %q", in, sc.Kind)
		}
	})
}
