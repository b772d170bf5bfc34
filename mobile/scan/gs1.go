package scan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What a scan turned out to be, in Scan.Kind.
const (
	// KindGS1 is a GS1 element string (GS1-128, GS1 DataMatrix, GS1 QR,
	// GS1 DataBar, or the human-readable form with parentheses): item,
	// batch, expiry and more in one scan.
	KindGS1 = "gs1"
	// KindGTIN is a plain EAN-13, EAN-8, UPC-A or GTIN-14 with a valid
	// check digit.
	KindGTIN = "gtin"
	// KindInternal is anything else: an SKU label, a bin label, a code
	// the warehouse printed itself.
	KindInternal = "internal"
)

// GS is the ASCII group separator (0x1D) that scanners transmit for FNC1
// between variable-length elements.
const GS = '\x1d'

// gsSymbol is U+241D, the printable picture of GS that some scanner
// configuration tools and keyboard wedges emit instead of the control
// character. It is not in the GS1 character set, so taking it as GS is
// never ambiguous.
const gsSymbol = '\u241d'

// maxScanLen bounds what Parse reads: the longest GS1 symbol (a DataMatrix)
// holds about 2,300 characters, far beyond any label a warehouse scans.
const maxScanLen = 2048

// Element is one GS1 application identifier and its data.
type Element struct {
	AI    string `json:"ai"`
	Title string `json:"title"`
	Value string `json:"value"`
	// Date is the value of a date AI (11, 12, 13, 15, 16, 17) as
	// YYYY-MM-DD, with the century and day 00 resolved.
	Date string `json:"date,omitempty"`
}

// Scan is what one scanned or typed code says.
type Scan struct {
	// Raw is the input as received, symbology identifier included.
	Raw string `json:"raw"`
	// Kind is KindGS1, KindGTIN or KindInternal.
	Kind string `json:"kind"`
	// Symbology names the symbology identifier the scanner sent (such as
	// "GS1-128" for ]C1), or is empty.
	Symbology string `json:"symbology,omitempty"`
	// Elements are the parsed AIs of a GS1 scan, in scan order.
	Elements []Element `json:"elements,omitempty"`
	// GTIN is the 14-digit trade item number of a GS1 scan with AI 01
	// (or 02) or of a plain GTIN scan, zero-padded.
	GTIN string `json:"gtin,omitempty"`
	// Batch (AI 10), Expiry (AI 17, YYYY-MM-DD), Serial (AI 21), SSCC
	// (AI 00) and Qty (AI 30 or 37; 0 when absent) of a GS1 scan.
	Batch  string `json:"batch,omitempty"`
	Expiry string `json:"expiry,omitempty"`
	Serial string `json:"serial,omitempty"`
	SSCC   string `json:"sscc,omitempty"`
	Qty    int64  `json:"qty,omitempty"`
	// Code is the code to look up: the digits of a plain GTIN as scanned,
	// or the text of an internal code.
	Code string `json:"code,omitempty"`
	// Note explains a doubtful reading, such as digits that look like an
	// EAN-13 but fail its check digit.
	Note string `json:"note,omitempty"`
}

// ParseError is a scan that looks like GS1 but does not parse. Pos is the
// byte offset in the element string (after the symbology identifier) where
// the problem is.
type ParseError struct {
	Pos int
	AI  string
	Msg string
}

func (e *ParseError) Error() string {
	if e.AI != "" {
		return fmt.Sprintf("GS1 barcode: AI (%s) %s: %s", e.AI, aiTitle(e.AI), e.Msg)
	}
	return "GS1 barcode: " + e.Msg
}

func parseErr(pos int, ai, format string, args ...any) *ParseError {
	return &ParseError{Pos: pos, AI: ai, Msg: fmt.Sprintf(format, args...)}
}

// symbologies maps the scanner's symbology identifier (ISO/IEC 15424, "]"
// plus two characters) to a name and whether the data is a GS1 element
// string.
var symbologies = map[string]struct {
	name string
	gs1  bool
}{
	"]C1": {"GS1-128", true},
	"]e0": {"GS1 DataBar", true},
	"]d2": {"GS1 DataMatrix", true},
	"]Q3": {"GS1 QR Code", true},
	"]J1": {"GS1 DotCode", true},
	"]E0": {"EAN-13/UPC-A", false},
	"]E4": {"EAN-8", false},
	"]C0": {"Code 128", false},
	"]d1": {"Data Matrix", false},
	"]Q1": {"QR Code", false},
	"]A0": {"Code 39", false},
	"]I0": {"ITF", false},
	"]I1": {"ITF", false},
}

// Parse reads one scan as of now. See ParseAt.
func Parse(raw string) (Scan, error) { return ParseAt(raw, time.Now()) }

// ParseAt reads one scan: a GS1 element string (with or without a
// symbology identifier, FNC1 transmitted as GS, or the human-readable form
// "(01)09506000134352(10)ABC(17)251231"), a plain GTIN, or an internal
// code. now decides the century of two-digit years (the GS1 rule: a year
// more than 49 years ahead is last century, one more than 50 years back is
// next century).
//
// It returns a *ParseError when the input is meant as GS1 (a GS1
// symbology identifier, a GS, a leading parenthesis) but is not valid, and
// an error for empty or over-long input. Anything else is a Scan.
func ParseAt(raw string, now time.Time) (Scan, error) {
	sc := Scan{Raw: raw}
	s := strings.TrimSpace(raw)
	s = strings.ReplaceAll(s, string(gsSymbol), string(GS))
	if s == "" {
		return sc, &ParseError{Msg: "nothing was scanned"}
	}
	if len(s) > maxScanLen {
		return sc, &ParseError{Msg: fmt.Sprintf("the scan is %d characters long, more than the %d a barcode holds", len(s), maxScanLen)}
	}
	forceGS1 := false
	if len(s) >= 3 && s[0] == ']' {
		if sym, ok := symbologies[s[:3]]; ok {
			sc.Symbology = sym.name
			forceGS1 = sym.gs1
			s = strings.TrimSpace(s[3:])
			if s == "" {
				return sc, &ParseError{Msg: "the scanner sent a symbology identifier (" + sym.name + ") and no data"}
			}
		}
	}
	var (
		els []Element
		err error
	)
	switch {
	case forceGS1, strings.HasPrefix(s, string(GS)):
		els, err = ParseElementString(s, now)
	case strings.HasPrefix(s, "("):
		els, err = ParseHRI(s, now)
	case strings.ContainsRune(s, GS):
		els, err = ParseElementString(s, now)
	default:
		if looksLikeGTIN(s) {
			return plainGTIN(sc, s), nil
		}
		// Unmarked element strings (a scanner that strips the symbology
		// identifier) start with an SSCC or a GTIN; anything that does
		// not parse as one is a code of the warehouse's own.
		if len(s) >= 16 && (strings.HasPrefix(s, "00") || strings.HasPrefix(s, "01") || strings.HasPrefix(s, "02")) {
			if e, perr := ParseElementString(s, now); perr == nil {
				els = e
				break
			}
		}
		sc.Kind, sc.Code = KindInternal, s
		if isDigits(s) && slices.Contains([]int{8, 12, 13, 14}, len(s)) {
			sc.Note = fmt.Sprintf("%s has the length of an EAN/UPC but its check digit is wrong: taken as an internal code", s)
		}
		return sc, nil
	}
	if err != nil {
		return sc, err
	}
	if len(els) == 0 {
		return sc, &ParseError{Msg: "the element string holds no data"}
	}
	sc.Kind, sc.Elements = KindGS1, els
	bestBefore := ""
	for _, e := range els {
		switch e.AI {
		case "01", "02":
			if sc.GTIN == "" {
				sc.GTIN = e.Value
			}
		case "10":
			sc.Batch = e.Value
		case "17":
			sc.Expiry = e.Date
		case "15":
			bestBefore = e.Date
		case "21":
			sc.Serial = e.Value
		case "00":
			sc.SSCC = e.Value
		case "30", "37":
			n, _ := strconv.ParseInt(e.Value, 10, 64) // validated: at most 8 digits
			sc.Qty = n
		}
	}
	if sc.Expiry == "" {
		// A label with a best-before date (AI 15) but no expiry (AI 17),
		// as on most food: the best-before date is the batch's expiry.
		sc.Expiry = bestBefore
	}
	if g := sc.GTIN; g != "" {
		sc.Code = g
	}
	return sc, nil
}

// plainGTIN fills sc for a valid EAN-8, UPC-A, EAN-13 or GTIN-14.
func plainGTIN(sc Scan, s string) Scan {
	sc.Kind, sc.Code = KindGTIN, s
	sc.GTIN = strings.Repeat("0", 14-len(s)) + s
	return sc
}

// looksLikeGTIN reports whether s is 8, 12, 13 or 14 digits with a valid
// check digit.
func looksLikeGTIN(s string) bool {
	switch len(s) {
	case 8, 12, 13, 14:
		return ValidCheckDigit(s)
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidCheckDigit reports whether the last digit of digits is the GS1
// mod-10 check digit of the others (GTIN-8/12/13/14, SSCC, GLN).
func ValidCheckDigit(digits string) bool {
	if len(digits) < 2 || !isDigits(digits) {
		return false
	}
	return checkDigit(digits[:len(digits)-1]) == digits[len(digits)-1]
}

// checkDigit computes the GS1 check digit of body: weights 3 and 1
// alternating from the rightmost digit.
func checkDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// BarcodeCandidates lists the forms under which a catalog may store the
// barcode code, most literal first: the code as scanned, then for a GTIN
// its 14-digit form and the shorter forms its leading zeros allow (EAN-13,
// UPC-A, EAN-8). A catalog that keeps EAN-13s thus matches a GTIN-14
// scanned from a GS1-128 label.
func BarcodeCandidates(code string) []string {
	out := []string{code}
	if !isDigits(code) || !slices.Contains([]int{8, 12, 13, 14}, len(code)) {
		return out
	}
	g := strings.Repeat("0", 14-len(code)) + code
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(g)
	for _, n := range []int{13, 12, 8} {
		if strings.Trim(g[:14-n], "0") == "" {
			add(g[14-n:])
		}
	}
	return out
}

// aiSpec is how one application identifier's data is written.
type aiSpec struct {
	title string
	// fixed is the exact data length; 0 means variable up to max.
	fixed, max int
	numeric    bool
	// check: the last digit is a GS1 check digit.
	check bool
	// date: YYMMDD, day 00 meaning the last day of the month.
	date bool
}

// aiLengths gives the length of the AI itself by its first two digits
// (GS1 General Specifications, the AI table: every AI starting with the
// same two digits has the same length).
var aiLengths = map[string]int{}

func init() {
	for _, p := range []string{"00", "01", "02", "03", "04", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
		"20", "21", "22", "30", "37", "90", "91", "92", "93", "94", "95", "96", "97", "98", "99"} {
		aiLengths[p] = 2
	}
	for _, p := range []string{"23", "24", "25", "40", "41", "42", "71"} {
		aiLengths[p] = 3
	}
	for _, p := range []string{"31", "32", "33", "34", "35", "36", "39", "43", "70", "72", "80", "81", "82"} {
		aiLengths[p] = 4
	}
}

// predefinedLength is the data length of the AIs whose length the
// standard predefines, by their first two digits: what an AI this parser
// does not model is read with.
var predefinedLength = map[string]int{"00": 18, "01": 14, "02": 14, "03": 14, "04": 16,
	"11": 6, "12": 6, "13": 6, "14": 6, "15": 6, "16": 6, "17": 6, "18": 6, "19": 6, "20": 2,
	"31": 6, "32": 6, "33": 6, "34": 6, "35": 6, "36": 6, "41": 13}

// maxAIData bounds the data of an AI this parser does not model: no GS1
// element carries more.
const maxAIData = 90

// specFor returns the spec of ai: the modelled one, with its checks, or
// for another AI of a known length its predefined length, else variable
// up to a GS (its value is kept, not checked).
func specFor(ai string) aiSpec {
	if s, ok := lookupAI(ai); ok {
		return s
	}
	if n, ok := predefinedLength[ai[:2]]; ok {
		return aiSpec{title: "AI " + ai, fixed: n}
	}
	return aiSpec{title: "AI " + ai, max: maxAIData}
}

// predefined are the AI prefixes whose element length is fixed by the
// standard (GS1 General Specifications, "predefined length" table): no FNC1
// follows them. Every other element, fixed-length or not, is ended by a GS
// unless it is last.
var predefined = map[string]bool{"00": true, "01": true, "02": true, "03": true, "04": true,
	"11": true, "12": true, "13": true, "14": true, "15": true, "16": true, "17": true, "18": true, "19": true, "20": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "41": true}

// specs are the AIs this parser knows; 31nn-36nn and 39nn are matched by
// lookupAI.
var specs = map[string]aiSpec{
	"00":   {title: "SSCC", fixed: 18, numeric: true, check: true},
	"01":   {title: "GTIN", fixed: 14, numeric: true, check: true},
	"02":   {title: "CONTENT", fixed: 14, numeric: true, check: true},
	"10":   {title: "BATCH/LOT", max: 20},
	"11":   {title: "PROD DATE", fixed: 6, numeric: true, date: true},
	"12":   {title: "DUE DATE", fixed: 6, numeric: true, date: true},
	"13":   {title: "PACK DATE", fixed: 6, numeric: true, date: true},
	"15":   {title: "BEST BEFORE", fixed: 6, numeric: true, date: true},
	"16":   {title: "SELL BY", fixed: 6, numeric: true, date: true},
	"17":   {title: "USE BY/EXPIRY", fixed: 6, numeric: true, date: true},
	"20":   {title: "VARIANT", fixed: 2, numeric: true},
	"21":   {title: "SERIAL", max: 20},
	"22":   {title: "CPV", max: 20},
	"30":   {title: "VAR. COUNT", max: 8, numeric: true},
	"37":   {title: "COUNT", max: 8, numeric: true},
	"240":  {title: "ADDITIONAL ID", max: 30},
	"241":  {title: "CUST. PART No.", max: 30},
	"250":  {title: "SECONDARY SERIAL", max: 30},
	"251":  {title: "REF. TO SOURCE", max: 30},
	"400":  {title: "ORDER NUMBER", max: 30},
	"401":  {title: "GINC", max: 30},
	"402":  {title: "GSIN", fixed: 17, numeric: true, check: true},
	"403":  {title: "ROUTE", max: 30},
	"410":  {title: "SHIP TO LOC", fixed: 13, numeric: true, check: true},
	"411":  {title: "BILL TO", fixed: 13, numeric: true, check: true},
	"412":  {title: "PURCHASE FROM", fixed: 13, numeric: true, check: true},
	"413":  {title: "SHIP FOR LOC", fixed: 13, numeric: true, check: true},
	"414":  {title: "LOC No.", fixed: 13, numeric: true, check: true},
	"415":  {title: "PAY TO", fixed: 13, numeric: true, check: true},
	"416":  {title: "PROD/SERV LOC", fixed: 13, numeric: true, check: true},
	"417":  {title: "PARTY", fixed: 13, numeric: true, check: true},
	"420":  {title: "SHIP TO POST", max: 20},
	"422":  {title: "ORIGIN", fixed: 3, numeric: true},
	"7003": {title: "EXPIRY TIME", fixed: 10, numeric: true},
	"8005": {title: "PRICE PER UNIT", fixed: 6, numeric: true},
	"8020": {title: "REF No.", max: 25},
	"90":   {title: "INTERNAL", max: 30},
}

// lookupAI returns the spec of ai, if known.
func lookupAI(ai string) (aiSpec, bool) {
	if s, ok := specs[ai]; ok {
		return s, true
	}
	if len(ai) == 2 && ai >= "91" && ai <= "99" {
		return aiSpec{title: "INTERNAL", max: 90}, true
	}
	if len(ai) == 4 && ai[0] == '3' {
		switch {
		case ai[1] >= '1' && ai[1] <= '6':
			// Trade measures: weight, length, area, volume; the fourth
			// digit is the position of the decimal point.
			return aiSpec{title: "MEASURE", fixed: 6, numeric: true}, true
		case ai[1] == '9' && (ai[2] == '0' || ai[2] == '2'):
			return aiSpec{title: "AMOUNT", max: 15, numeric: true}, true
		case ai[1] == '9' && (ai[2] == '1' || ai[2] == '3'):
			// An ISO 4217 currency code, then the amount.
			return aiSpec{title: "AMOUNT (ISO)", max: 18, numeric: true}, true
		}
	}
	return aiSpec{}, false
}

func aiTitle(ai string) string {
	if s, ok := lookupAI(ai); ok {
		return s.title
	}
	return "unknown"
}

// gs1Chars is GS1 AI encodable character set 82, what alphanumeric AI data
// may hold.
const gs1Chars = `!"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz`

var gs1CharSet = func() (set [256]bool) {
	for i := 0; i < len(gs1Chars); i++ {
		set[gs1Chars[i]] = true
	}
	return set
}()

// readAI reads the AI at s[pos:], returning it and its spec.
func readAI(s string, pos int) (string, aiSpec, error) {
	if pos+2 > len(s) || !isDigits(s[pos:pos+2]) {
		end := min(pos+4, len(s))
		return "", aiSpec{}, parseErr(pos, "", "expected an application identifier (digits) at %q", s[pos:end])
	}
	n, ok := aiLengths[s[pos:pos+2]]
	if !ok {
		return "", aiSpec{}, parseErr(pos, "", "unknown application identifier starting %q", s[pos:pos+2])
	}
	if pos+n > len(s) || !isDigits(s[pos:pos+n]) {
		return "", aiSpec{}, parseErr(pos, "", "application identifier %q is cut short", s[pos:])
	}
	ai := s[pos : pos+n]
	return ai, specFor(ai), nil
}

// ParseElementString parses a GS1 element string as scanners transmit it
// (symbology identifier removed): AIs and their data, with a GS (FNC1)
// after every variable-length element but the last. A leading GS (FNC1 in
// first position) is allowed.
func ParseElementString(s string, now time.Time) ([]Element, error) {
	pos := 0
	if strings.HasPrefix(s, string(GS)) {
		pos = 1
	}
	var els []Element
	for pos < len(s) {
		if s[pos] == GS {
			// An empty element: two separators, or one at the end.
			pos++
			continue
		}
		ai, spec, err := readAI(s, pos)
		if err != nil {
			return nil, err
		}
		start := pos + len(ai)
		var value string
		if spec.fixed > 0 {
			end := start + spec.fixed
			if end > len(s) {
				return nil, parseErr(start, ai, "needs %d characters, got %d", spec.fixed, len(s)-start)
			}
			value = s[start:end]
			if i := strings.IndexByte(value, GS); i >= 0 {
				return nil, parseErr(start+i, ai, "needs %d characters, got %d before a separator", spec.fixed, i)
			}
			pos = end
			if pos < len(s) && s[pos] == GS {
				pos++
			}
		} else {
			end := strings.IndexByte(s[start:], GS)
			if end < 0 {
				end = len(s)
			} else {
				end += start
			}
			value = s[start:end]
			if len(value) > spec.max {
				return nil, parseErr(start, ai, "is %d characters long, at most %d are allowed (a missing GS/FNC1 separator after it?)", len(value), spec.max)
			}
			pos = end
			if pos < len(s) {
				pos++ // the GS
			}
		}
		e, err := element(ai, spec, value, start, now)
		if err != nil {
			return nil, err
		}
		if els, err = appendElement(els, e, start); err != nil {
			return nil, err
		}
	}
	return els, nil
}

// ParseHRI parses the human-readable form of an element string, each AI in
// parentheses: "(01)09506000134352(10)ABC(17)251231". A value runs to the
// next "(" that starts a parenthesized AI, or to the end.
func ParseHRI(s string, now time.Time) ([]Element, error) {
	var els []Element
	pos := 0
	for pos < len(s) {
		if s[pos] != '(' {
			return nil, parseErr(pos, "", "expected \"(\" before an application identifier at %q", s[pos:min(pos+6, len(s))])
		}
		closeAt := strings.IndexByte(s[pos:], ')')
		if closeAt < 0 {
			return nil, parseErr(pos, "", "unclosed parenthesis at %q", s[pos:min(pos+6, len(s))])
		}
		ai := s[pos+1 : pos+closeAt]
		if len(ai) < 2 || len(ai) > 4 || !isDigits(ai) {
			return nil, parseErr(pos, "", "(%s) is not an application identifier", ai)
		}
		if n, ok := aiLengths[ai[:2]]; !ok || n != len(ai) {
			return nil, parseErr(pos, "", "unknown application identifier (%s)", ai)
		}
		spec := specFor(ai)
		start := pos + closeAt + 1
		end := nextHRIAI(s, start)
		value := s[start:end]
		if spec.fixed > 0 && len(value) != spec.fixed {
			return nil, parseErr(start, ai, "needs %d characters, got %d", spec.fixed, len(value))
		}
		if spec.fixed == 0 && len(value) > spec.max {
			return nil, parseErr(start, ai, "is %d characters long, at most %d are allowed", len(value), spec.max)
		}
		e, err := element(ai, spec, value, start, now)
		if err != nil {
			return nil, err
		}
		if els, err = appendElement(els, e, start); err != nil {
			return nil, err
		}
		pos = end
	}
	return els, nil
}

// nextHRIAI returns the index of the next "(NN)" to "(NNNN)" at or after
// from, or len(s).
func nextHRIAI(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] != '(' {
			continue
		}
		j := i + 1
		for j < len(s) && j-i-1 < 4 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if n := j - i - 1; n >= 2 && j < len(s) && s[j] == ')' {
			return i
		}
	}
	return len(s)
}

// appendElement adds e, refusing an AI that appeared before with other
// data: a label cannot carry two batches.
func appendElement(els []Element, e Element, pos int) ([]Element, error) {
	for _, o := range els {
		if o.AI == e.AI {
			if o.Value != e.Value {
				return nil, parseErr(pos, e.AI, "appears twice, as %q and %q", o.Value, e.Value)
			}
			return els, nil
		}
	}
	return append(els, e), nil
}

// element checks value against spec and builds the Element.
func element(ai string, spec aiSpec, value string, pos int, now time.Time) (Element, error) {
	e := Element{AI: ai, Title: spec.title, Value: value}
	if value == "" {
		return e, parseErr(pos, ai, "has no data")
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if spec.numeric && (c < '0' || c > '9') {
			return e, parseErr(pos+i, ai, "must be digits, found %q", rune(c))
		}
		if !gs1CharSet[c] {
			return e, parseErr(pos+i, ai, "holds %q, which GS1 barcodes cannot carry", rune(c))
		}
	}
	if spec.check && !ValidCheckDigit(value) {
		return e, parseErr(pos, ai, "%s has a wrong check digit (expected %c)", value, checkDigit(value[:len(value)-1]))
	}
	if spec.date {
		d, err := gs1Date(value, now)
		if err != nil {
			return e, parseErr(pos, ai, "%s", err)
		}
		e.Date = d.Format(time.DateOnly)
	}
	return e, nil
}

// gs1Date reads YYMMDD: the century by the GS1 rule relative to now, and
// day 00 as the last day of the month.
func gs1Date(v string, now time.Time) (time.Time, error) {
	yy, _ := strconv.Atoi(v[0:2])
	mm, _ := strconv.Atoi(v[2:4])
	dd, _ := strconv.Atoi(v[4:6])
	if mm < 1 || mm > 12 {
		return time.Time{}, fmt.Errorf("%s: month %02d is not 01 to 12", v, mm)
	}
	year := gs1Year(yy, now.Year())
	last := time.Date(year, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch {
	case dd == 0:
		dd = last
	case dd > last:
		return time.Time{}, fmt.Errorf("%s: day %02d is past the end of %04d-%02d", v, dd, year, mm)
	}
	return time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, time.UTC), nil
}

// gs1Year resolves a two-digit year (GS1 General Specifications 7.12): a
// year 51 to 99 ahead of the current one is in the previous century, one
// 50 to 99 behind it in the next, any other in the current one.
func gs1Year(yy, current int) int {
	century := current - current%100
	switch diff := yy - current%100; {
	case diff >= 51:
		return century - 100 + yy
	case diff <= -50:
		return century + 100 + yy
	}
	return century + yy
}

// FormatElementString writes elements as a scanner transmits them: AI and
// data, a GS after every element whose length the standard does not
// predefine, except the last. ParseElementString reads it back.
func FormatElementString(els []Element) string {
	var b strings.Builder
	for i, e := range els {
		b.WriteString(e.AI)
		b.WriteString(e.Value)
		if i < len(els)-1 && !predefined[e.AI[:2]] {
			b.WriteByte(GS)
		}
	}
	return b.String()
}

// FormatHRI writes elements in the human-readable form with parentheses.
func FormatHRI(els []Element) string {
	var b strings.Builder
	for _, e := range els {
		b.WriteString("(" + e.AI + ")" + e.Value)
	}
	return b.String()
}
