package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

type catalogSection struct {
	Name    string
	Columns string
	Example string
}

// catalogSections describe the upload form's files, in the order the
// ledger applies them (a location needs its warehouse, a batch its item).
var catalogSections = []catalogSection{
	{"warehouses", "code, name", "code,name\nW1,Main warehouse"},
	{"locations", "warehouse, code", "warehouse,code\nW1,A-01-01"},
	{"items", "sku, name, unit, barcodes (separated by |), batch_tracked, expiry_tracked", "sku,name,unit,barcodes,batch_tracked,expiry_tracked\nMILK,Milk 1l,carton,4012345000047,true,true"},
	{"batches", "sku, code, expiry (YYYY-MM-DD)", "sku,code,expiry\nMILK,M-0425,2027-04-30"},
}

type catalogUploaded struct {
	Section string
	Count   int
	Codes   []string
	More    int
}

type catalogData struct {
	Sections []catalogSection
	// Problems are file-level errors (a bad header, an empty file).
	Problems []string
	RowErrs  []syncproto.RowError
	Files    []string
	Done     []catalogUploaded
	Result   *ledger.CatalogResult
}

// catalogPage is GET /catalog: the upload form.
func (cn *console) catalogPage(c *gin.Context) {
	cn.render(c, http.StatusOK, "catalog", "Catalog", "catalog", catalogData{Sections: catalogSections})
}

// uploadCatalog is POST /catalog: CSV files, one per section, written in
// one transaction. The files are parsed by the same code as the API's CSV
// upload; when any row of any file is bad, nothing is written and every
// bad row is listed by its file and line.
func (cn *console) uploadCatalog(c *gin.Context) {
	d := catalogData{Sections: catalogSections}
	var cat ledger.Catalog
	lines := map[string][]int{}
	mf := c.Request.MultipartForm
	for _, sec := range csvSectionNames() {
		if mf == nil || len(mf.File[sec]) == 0 || (mf.File[sec][0].Size == 0 && mf.File[sec][0].Filename == "") {
			continue
		}
		fh := mf.File[sec][0]
		d.Files = append(d.Files, fmt.Sprintf("%s (%s)", fh.Filename, sec))
		f, err := fh.Open()
		var data []byte
		if err == nil {
			data, err = io.ReadAll(f)
			_ = f.Close()
		}
		if err != nil {
			d.Problems = append(d.Problems, fmt.Sprintf("%s: the file could not be read: %v", sec, err))
			continue
		}
		part, ln, err := parseCatalogCSV(data, sec)
		if err != nil {
			var we *syncproto.Error
			if errors.As(err, &we) && len(we.RowErrors) > 0 {
				d.RowErrs = append(d.RowErrs, we.RowErrors...)
			} else {
				d.Problems = append(d.Problems, fmt.Sprintf("%s (%s): %s", fh.Filename, sec, failMessage(err)))
			}
			continue
		}
		lines[sec] = ln
		cat.Warehouses = append(cat.Warehouses, part.Warehouses...)
		cat.Locations = append(cat.Locations, part.Locations...)
		cat.Items = append(cat.Items, part.Items...)
		cat.Batches = append(cat.Batches, part.Batches...)
	}
	if len(d.Files) == 0 {
		d.Problems = append(d.Problems, "Choose at least one CSV file to upload.")
	}
	if len(d.Problems) > 0 || len(d.RowErrs) > 0 {
		cn.render(c, http.StatusBadRequest, "catalog", "Catalog", "catalog", d)
		return
	}
	res, err := cn.s.ledger.UpsertCatalog(c.Request.Context(), tenantID(c), cat)
	if err != nil {
		var ce *ledger.CatalogError
		if !errors.As(err, &ce) {
			if ledger.ErrorCode(err) == ledger.CodeInternal {
				cn.fail(c, err)
				return
			}
			d.Problems = append(d.Problems, failMessage(err))
			cn.render(c, failStatus(err), "catalog", "Catalog", "catalog", d)
			return
		}
		// The ledger counts a section's rows from 0; a person looks at the
		// file's lines.
		for _, r := range ce.Rows {
			if ln := lines[r.Section]; r.Row >= 0 && r.Row < len(ln) {
				r.Row = ln[r.Row]
			}
			d.RowErrs = append(d.RowErrs, syncproto.RowError{Section: r.Section, Row: r.Row, Field: r.Field, Message: r.Message})
		}
		cn.render(c, http.StatusBadRequest, "catalog", "Catalog", "catalog", d)
		return
	}
	d.Result = &res
	add := func(section string, codes []string) {
		if len(codes) == 0 {
			return
		}
		u := catalogUploaded{Section: section, Count: len(codes)}
		const show = 50
		if len(codes) > show {
			u.More, codes = len(codes)-show, codes[:show]
		}
		u.Codes = codes
		d.Done = append(d.Done, u)
	}
	var codes []string
	for _, w := range cat.Warehouses {
		codes = append(codes, w.Code)
	}
	add("warehouses", codes)
	codes = nil
	for _, l := range cat.Locations {
		codes = append(codes, l.Warehouse+" / "+l.Code)
	}
	add("locations", codes)
	codes = nil
	for _, it := range cat.Items {
		s := it.SKU
		if len(it.Barcodes) > 0 {
			s += " (" + strings.Join(it.Barcodes, ", ") + ")"
		}
		codes = append(codes, s)
	}
	add("items", codes)
	codes = nil
	for _, b := range cat.Batches {
		codes = append(codes, b.SKU+" / "+b.Code)
	}
	add("batches", codes)
	notice(c, "ok", fmt.Sprintf("The catalog was updated: %d warehouse(s), %d location(s), %d item(s), %d batch(es) created or updated.",
		res.Warehouses, res.Locations, res.Items, res.Batches))
	cn.render(c, http.StatusOK, "catalog", "Catalog", "catalog", d)
}
