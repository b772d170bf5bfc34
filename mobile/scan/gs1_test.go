package scan

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseNow is the clock of the parser tests: the century rule is relative
// to it.
var parseNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

const gs = string(GS)

func TestParseGS1(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Scan // Raw is filled from in; Elements are checked by AI=value
		els  []string
	}{
		{
			name: "human readable with parentheses",
			in:   "(01)09506000134352(10)ABC(17)251231",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Batch: "ABC", Expiry: "2025-12-31", Code: "09506000134352"},
			els:  []string{"01=09506000134352", "10=ABC", "17=251231"},
		},
		{
			name: "GS1-128 with GS after the batch",
			in:   "]C1" + "0109506000134352" + "10ABC123" + gs + "17251231",
			want: Scan{Kind: KindGS1, Symbology: "GS1-128", GTIN: "09506000134352", Batch: "ABC123", Expiry: "2025-12-31", Code: "09506000134352"},
		},
		{
			name: "GS1 DataMatrix with FNC1 in first position",
			in:   "]d2" + gs + "0109506000134352" + "17270600" + "10L-7/2",
			want: Scan{Kind: KindGS1, Symbology: "GS1 DataMatrix", GTIN: "09506000134352", Batch: "L-7/2", Expiry: "2027-06-30", Code: "09506000134352"},
		},
		{
			name: "GS1 QR with serial and count",
			in:   "]Q3" + "0109506000134352" + "21SN0001" + gs + "3712",
			want: Scan{Kind: KindGS1, Symbology: "GS1 QR Code", GTIN: "09506000134352", Serial: "SN0001", Qty: 12, Code: "09506000134352"},
		},
		{
			// Best before (AI 15) stands in for a missing expiry (AI 17).
			name: "GS1 DataBar",
			in:   "]e0" + "0109506000134352" + "15260100",
			want: Scan{Kind: KindGS1, Symbology: "GS1 DataBar", GTIN: "09506000134352", Expiry: "2026-01-31", Code: "09506000134352"},
			els:  []string{"01=09506000134352", "15=260100"},
		},
		{
			name: "expiry wins over best before",
			in:   "(01)09506000134352(15)260100(17)270630",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Expiry: "2027-06-30", Code: "09506000134352"},
		},
		{
			// AIs the parser does not model: NHRN (710), first freeze
			// date (7006: fixed, but not predefined, so ended by GS), made-to-order
			// variant (242),
			// maximum temperature (4330), read by the AI table.
			name: "AIs outside the modelled table",
			in:   "]d2" + "0109506000134352" + "7101234567" + gs + "7006260115" + gs + "242V1" + gs + "4330-01250" + gs + "10L1",
			want: Scan{Kind: KindGS1, Symbology: "GS1 DataMatrix", GTIN: "09506000134352", Batch: "L1", Code: "09506000134352"},
			els:  []string{"01=09506000134352", "710=1234567", "7006=260115", "242=V1", "4330=-01250", "10=L1"},
		},
		{
			name: "unmodelled AIs in HRI",
			in:   "(01)09506000134352(710)1234567(235)ABC",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Code: "09506000134352"},
			els:  []string{"01=09506000134352", "710=1234567", "235=ABC"},
		},
		{
			name: "element string without symbology identifier",
			in:   "0109506000134352" + "10ABC",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Batch: "ABC", Code: "09506000134352"},
		},
		{
			name: "GS shown as its printable symbol",
			in:   "0109506000134352" + "10ABC\u241d" + "17251231",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Batch: "ABC", Expiry: "2025-12-31", Code: "09506000134352"},
		},
		{
			name: "SSCC and variable count",
			in:   "]C1" + "00106141411234567897" + "30150",
			want: Scan{Kind: KindGS1, Symbology: "GS1-128", SSCC: "106141411234567897", Qty: 150},
		},
		{
			name: "fixed-length AI that still needs a separator",
			in:   "]C1" + "422276" + gs + "0109506000134352",
			want: Scan{Kind: KindGS1, Symbology: "GS1-128", GTIN: "09506000134352", Code: "09506000134352"},
			els:  []string{"422=276", "01=09506000134352"},
		},
		{
			name: "net weight and production date",
			in:   "(01)09506000134352(3103)000150(11)260301",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Code: "09506000134352"},
			els:  []string{"01=09506000134352", "3103=000150", "11=260301"},
		},
		{
			name: "trailing carriage return from the scanner",
			in:   "(01)09506000134352\r\n",
			want: Scan{Kind: KindGS1, GTIN: "09506000134352", Code: "09506000134352"},
		},
		{name: "EAN-13", in: "4006381333931", want: Scan{Kind: KindGTIN, GTIN: "04006381333931", Code: "4006381333931"}},
		{name: "EAN-13 with symbology identifier", in: "]E04006381333931", want: Scan{Kind: KindGTIN, Symbology: "EAN-13/UPC-A", GTIN: "04006381333931", Code: "4006381333931"}},
		{name: "EAN-8", in: "96385074", want: Scan{Kind: KindGTIN, GTIN: "00000096385074", Code: "96385074"}},
		{name: "UPC-A", in: "036000291452", want: Scan{Kind: KindGTIN, GTIN: "00036000291452", Code: "036000291452"}},
		{name: "GTIN-14", in: "09506000134352", want: Scan{Kind: KindGTIN, GTIN: "09506000134352", Code: "09506000134352"}},
		{
			name: "EAN-13 with a wrong check digit is an internal code",
			in:   "4006381333932",
			want: Scan{Kind: KindInternal, Code: "4006381333932",
				Note: "4006381333932 has the length of an EAN/UPC but its check digit is wrong: taken as an internal code"},
		},
		{name: "bin label", in: "A1-01", want: Scan{Kind: KindInternal, Code: "A1-01"}},
		{name: "SKU label with spaces around", in: "  BOLT  ", want: Scan{Kind: KindInternal, Code: "BOLT"}},
		{name: "Code 128 that is not GS1", in: "]C0RET-7", want: Scan{Kind: KindInternal, Symbology: "Code 128", Code: "RET-7"}},
		{name: "digits that start like an AI but do not parse", in: "0112345", want: Scan{Kind: KindInternal, Code: "0112345"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAt(tt.in, parseNow)
			if err != nil {
				t.Fatalf("ParseAt(%q): %v", tt.in, err)
			}
			want := tt.want
			want.Raw = tt.in
			var els []string
			for _, e := range got.Elements {
				els = append(els, e.AI+"="+e.Value)
			}
			if tt.els != nil && !slices.Equal(els, tt.els) {
				t.Errorf("elements %q, want %q", els, tt.els)
			}
			got.Elements = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseAt(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
		})
	}
}

func TestParseGS1Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     string // in the message
	}{
		{"empty", "   ", "nothing was scanned"},
		{"symbology identifier alone", "]C1", "GS1-128) and no data"},
		{"GTIN check digit", "(01)09506000134353", "wrong check digit (expected 2)"},
		{"GTIN too short", "]C1" + "01950600013435", "needs 14 characters, got 12"},
		{"GTIN not digits", "(01)0950600013435X", "must be digits"},
		{"month 13", "(17)251301", "month 13 is not 01 to 12"},
		{"31 April", "(17)260431", "day 31 is past the end of 2026-04"},
		{"29 February in a common year", "(17)270229", "day 29 is past the end of 2027-02"},
		{"batch too long: separator missing", "]C1" + "10ABCDEFGHIJKLMNOPQRSTU" + "17251231", "at most 20 are allowed (a missing GS/FNC1 separator after it?)"},
		{"batch with a character GS1 cannot carry", "(10)AB#C", `holds '#'`},
		{"batch with a space", "(10)AB C", `holds ' '`},
		{"unknown AI prefix", "(55)123", "unknown application identifier (55)"},
		{"AI of the wrong length for its prefix", "(2350)123", "unknown application identifier (2350)"},
		{"not an AI in parentheses", "(ABC)123", "(ABC) is not an application identifier"},
		{"unclosed parenthesis", "(01", "unclosed parenthesis"},
		{"same AI twice with other data", "(10)A(10)B", "appears twice"},
		{"empty batch", "]C1" + "10" + gs + "17251231", "has no data"},
		{"GS inside a fixed-length field", "]C1" + "17" + "2512" + gs + "10A", "got 4 before a separator"},
		{"garbage after GS", "0109506000134352" + gs + "xx", "expected an application identifier"},
		{"SSCC check digit", "]C1" + "00106141411234567890", "wrong check digit (expected 7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAt(tt.in, parseNow)
			if err == nil {
				t.Fatalf("ParseAt(%q) = %+v, want an error containing %q", tt.in, got, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseAt(%q) error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestGS1Dates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		now  time.Time
		in   string
		want string
	}{
		{"plain date", parseNow, "251231", "2025-12-31"},
		{"day 00 is the last day of the month", parseNow, "250200", "2025-02-28"},
		{"day 00 in a leap year", parseNow, "280200", "2028-02-29"},
		{"day 00 of a 30-day month", parseNow, "260900", "2026-09-30"},
		{"49 years ahead stays in this century", parseNow, "751231", "2075-12-31"},
		{"50 years ahead stays in this century", parseNow, "760101", "2076-01-01"},
		{"51 years ahead is last century", parseNow, "770101", "1977-01-01"},
		{"99 years ahead is last century", parseNow, "990101", "1999-01-01"},
		{"49 years back stays in this century", time.Date(2080, 1, 1, 0, 0, 0, 0, time.UTC), "310101", "2031-01-01"},
		{"50 years back is next century", time.Date(2080, 1, 1, 0, 0, 0, 0, time.UTC), "300101", "2130-01-01"},
		{"the century turns", time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC), "010101", "2101-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, ai := range []string{"11", "13", "15", "17"} {
				sc, err := ParseAt("("+ai+")"+tt.in, tt.now)
				if err != nil {
					t.Fatalf("AI %s: %v", ai, err)
				}
				if got := sc.Elements[0].Date; got != tt.want {
					t.Errorf("AI %s %s as of %s: %s, want %s", ai, tt.in, tt.now.Format(time.DateOnly), got, tt.want)
				}
			}
		})
	}
}

func TestBarcodeCandidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string
	}{
		{"GTIN-14 of an EAN-13", "04006381333931", []string{"04006381333931", "4006381333931"}},
		{"EAN-13 as scanned first, then its GTIN-14", "4006381333931", []string{"4006381333931", "04006381333931"}},
		{"GTIN-14 of a UPC-A", "00036000291452", []string{"00036000291452", "0036000291452", "036000291452"}},
		{"GTIN-14 of an EAN-8", "00000096385074", []string{"00000096385074", "0000096385074", "000096385074", "96385074"}},
		{"a real GTIN-14 has no shorter form", "19506000134359", []string{"19506000134359"}},
		{"internal code", "BOLT", []string{"BOLT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := BarcodeCandidates(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("BarcodeCandidates(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestFormatRoundTrip: what FormatElementString and FormatHRI write parses
// back to the same elements.
func TestFormatRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"(01)09506000134352(10)ABC(17)251231",
		"(10)ABC(01)09506000134352(21)S/N-1(37)5",
		"(00)106141411234567897(422)276(3103)000150(90)X",
	} {
		sc, err := ParseAt(in, parseNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatHRI(sc.Elements); got != in {
			t.Errorf("FormatHRI = %q, want %q", got, in)
		}
		es := FormatElementString(sc.Elements)
		back, err := ParseElementString(es, parseNow)
		if err != nil {
			t.Fatalf("ParseElementString(%q): %v", es, err)
		}
		if !slices.Equal(back, sc.Elements) {
			t.Errorf("element string %q parsed to %+v, want %+v", es, back, sc.Elements)
		}
	}
	// Predefined-length elements need no separator; others do.
	els, _ := ParseHRI("(01)09506000134352(17)251231(10)A(21)B", parseNow)
	if got, want := FormatElementString(els), "0109506000134352"+"17251231"+"10A"+gs+"21B"; got != want {
		t.Errorf("FormatElementString = %q, want %q", got, want)
	}
}
