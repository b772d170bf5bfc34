package server

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzCatalogCSV feeds the CSV catalog parser arbitrary files: it must
// never panic, and what it accepts must have one line number per row, in
// file order, after the header.
func FuzzCatalogCSV(f *testing.F) {
	f.Add([]byte("sku,name,unit,barcodes,batch_tracked,expiry_tracked\nA,a,pcs,1|2,yes,no\n"), uint8(2))
	f.Add([]byte("\xef\xbb\xbfcode,name\nW1,Main\n\nW2,\"Annex, east\"\n"), uint8(0))
	f.Add([]byte("warehouse,code\nW1\n\"bad"), uint8(1))
	f.Add([]byte("sku,code,expiry\nA,L1,2027-01-01\n"), uint8(3))
	sections := csvSectionNames()
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		section := sections[int(which)%len(sections)]
		cat, lines, err := parseCatalogCSV(data, section)
		if err != nil {
			return
		}
		rows := len(cat.Warehouses) + len(cat.Locations) + len(cat.Items) + len(cat.Batches)
		if rows != len(lines) {
			t.Fatalf("%d rows, %d line numbers", rows, len(lines))
		}
		for i, l := range lines {
			if l < 2 || (i > 0 && l <= lines[i-1]) {
				t.Fatalf("line numbers %v", lines)
			}
		}
	})
}

// FuzzCapReader checks the body cap: everything up to the limit is read,
// nothing past it, and tooLarge says exactly whether there was more.
func FuzzCapReader(f *testing.F) {
	f.Add([]byte("hello"), uint16(5))
	f.Add([]byte("hello"), uint16(4))
	f.Add([]byte(""), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data)), iotest.HalfReader(bytes.NewReader(data))} {
			cr := &capReader{r: r, n: int64(limit)}
			got, err := io.ReadAll(cr)
			over := len(data) > int(limit)
			if cr.tooLarge != over || (err != nil) != over {
				t.Fatalf("len %d limit %d: tooLarge %v err %v", len(data), limit, cr.tooLarge, err)
			}
			want := data[:min(len(data), int(limit))]
			if !bytes.Equal(got, want) || cr.read != int64(len(want)) {
				t.Fatalf("len %d limit %d: read %d bytes (counted %d)", len(data), limit, len(got), cr.read)
			}
		}
	})
}
