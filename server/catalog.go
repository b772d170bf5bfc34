package server

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// catalogRequest is the JSON body of POST /v1/catalog. It mirrors
// ledger.Catalog field by field; it is its own type so the API's shape is
// written down here, where the route is.
type catalogRequest struct {
	Warehouses []struct {
		Code string `json:"code"`
		Name string `json:"name"`
	} `json:"warehouses"`
	Locations []struct {
		Warehouse string `json:"warehouse"`
		Code      string `json:"code"`
	} `json:"locations"`
	Items []struct {
		SKU           string   `json:"sku"`
		Name          string   `json:"name"`
		Unit          string   `json:"unit"`
		Barcodes      []string `json:"barcodes"`
		BatchTracked  bool     `json:"batch_tracked"`
		ExpiryTracked bool     `json:"expiry_tracked"`
	} `json:"items"`
	Batches []struct {
		SKU    string `json:"sku"`
		Code   string `json:"code"`
		Expiry string `json:"expiry"`
	} `json:"batches"`
}

func (r catalogRequest) toLedger() ledger.Catalog {
	var c ledger.Catalog
	for _, w := range r.Warehouses {
		c.Warehouses = append(c.Warehouses, ledger.WarehouseInput{Code: w.Code, Name: w.Name})
	}
	for _, l := range r.Locations {
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: l.Warehouse, Code: l.Code})
	}
	for _, it := range r.Items {
		c.Items = append(c.Items, ledger.ItemInput{SKU: it.SKU, Name: it.Name, Unit: it.Unit, Barcodes: it.Barcodes,
			BatchTracked: it.BatchTracked, ExpiryTracked: it.ExpiryTracked})
	}
	for _, b := range r.Batches {
		c.Batches = append(c.Batches, ledger.BatchInput{SKU: b.SKU, Code: b.Code, Expiry: b.Expiry})
	}
	return c
}

// postCatalog is POST /v1/catalog: a bulk upsert of catalog rows, as JSON
// (all sections at once) or as CSV (one section, named by ?section=).
// Either everything is written or nothing, and every invalid row is named
// in the error's rows: by index for JSON, by line number for CSV.
func (s *Server) postCatalog(c *gin.Context) {
	limit := max(s.cfg.MaxBodyBytes, catalogMaxBytes)
	mt := ""
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, _ = mime.ParseMediaType(ct)
	}
	var (
		cat   ledger.Catalog
		lines []int // for CSV, the line of each data row
		err   error
	)
	switch mt {
	case "text/csv":
		q := newQuery(c, "section")
		section := q.oneOf("section", csvSectionNames()...)
		if q.err == nil && section == "" {
			q.fail("query parameter \"section\" is required with CSV: one of %s", strings.Join(csvSectionNames(), ", "))
		}
		if q.err != nil {
			s.fail(c, q.err)
			return
		}
		cat, lines, err = s.readCatalogCSV(c, limit, section)
	case "", "application/json":
		if q := newQuery(c); q.err != nil {
			s.fail(c, q.err)
			return
		}
		var req catalogRequest
		err = decodeJSON(c, limit, &req)
		cat = req.toLedger()
	default:
		err = syncproto.Errorf(syncproto.CodeInvalid, "Content-Type %q is not supported; send application/json, or text/csv with ?section=", c.GetHeader("Content-Type"))
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.ledger.UpsertCatalog(c.Request.Context(), tenantID(c), cat)
	if err != nil {
		var ce *ledger.CatalogError
		if lines != nil && errors.As(err, &ce) {
			// The ledger counts rows of the section from 0; a person
			// looking at the file wants its line numbers.
			rows := slices.Clone(ce.Rows)
			for i := range rows {
				if rows[i].Row >= 0 && rows[i].Row < len(lines) {
					rows[i].Row = lines[rows[i].Row]
				}
			}
			err = &ledger.CatalogError{Rows: rows}
		}
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, res)
}

// csvSection describes the columns of one section's CSV: the header row
// names them, in any order.
type csvSection struct {
	required, optional []string
	add                func(c *ledger.Catalog, col func(string) string, bad func(field, msg string))
}

var csvSections = map[string]csvSection{
	"warehouses": {
		required: []string{"code"}, optional: []string{"name"},
		add: func(c *ledger.Catalog, col func(string) string, _ func(string, string)) {
			c.Warehouses = append(c.Warehouses, ledger.WarehouseInput{Code: col("code"), Name: col("name")})
		},
	},
	"locations": {
		required: []string{"warehouse", "code"},
		add: func(c *ledger.Catalog, col func(string) string, _ func(string, string)) {
			c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: col("warehouse"), Code: col("code")})
		},
	},
	"items": {
		required: []string{"sku", "name", "unit"}, optional: []string{"barcodes", "batch_tracked", "expiry_tracked"},
		add: func(c *ledger.Catalog, col func(string) string, bad func(string, string)) {
			it := ledger.ItemInput{SKU: col("sku"), Name: col("name"), Unit: col("unit")}
			for b := range strings.SplitSeq(col("barcodes"), "|") {
				if b = strings.TrimSpace(b); b != "" {
					it.Barcodes = append(it.Barcodes, b)
				}
			}
			var ok bool
			if it.BatchTracked, ok = csvBool(col("batch_tracked")); !ok {
				bad("batch_tracked", fmt.Sprintf("must be true or false, got %q", col("batch_tracked")))
			}
			if it.ExpiryTracked, ok = csvBool(col("expiry_tracked")); !ok {
				bad("expiry_tracked", fmt.Sprintf("must be true or false, got %q", col("expiry_tracked")))
			}
			c.Items = append(c.Items, it)
		},
	},
	"batches": {
		required: []string{"sku", "code"}, optional: []string{"expiry"},
		add: func(c *ledger.Catalog, col func(string) string, _ func(string, string)) {
			c.Batches = append(c.Batches, ledger.BatchInput{SKU: col("sku"), Code: col("code"), Expiry: col("expiry")})
		},
	},
}

func csvSectionNames() []string {
	return []string{"warehouses", "locations", "items", "batches"}
}

// csvBool reads a spreadsheet's idea of a boolean; empty is false.
func csvBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "f", "no", "n", "0":
		return false, true
	case "true", "t", "yes", "y", "1":
		return true, true
	}
	return false, false
}

// readCatalogCSV reads one section of the catalog from a CSV body.
func (s *Server) readCatalogCSV(c *gin.Context, limit int64, section string) (ledger.Catalog, []int, error) {
	b, err := openBody(c, limit)
	if err != nil {
		return ledger.Catalog{}, nil, err
	}
	defer b.close()
	data, err := io.ReadAll(b)
	if err != nil {
		return ledger.Catalog{}, nil, b.decodeErr(syncproto.Errorf(syncproto.CodeInvalid, "read body: %v", err), limit)
	}
	return parseCatalogCSV(data, section)
}

// parseCatalogCSV parses one section of the catalog. It returns the rows
// and the line number of each, or an error naming every row it could not
// read. It only parses: whether the rows make sense is the ledger's call.
func parseCatalogCSV(data []byte, section string) (ledger.Catalog, []int, error) {
	var cat ledger.Catalog
	spec, ok := csvSections[section]
	if !ok {
		return cat, nil, syncproto.Errorf(syncproto.CodeInvalid, "unknown catalog section %q", section)
	}
	// Spreadsheets like to start a UTF-8 file with a byte-order mark.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // checked per row, to name the line
	r.TrimLeadingSpace = true

	header, err := r.Read()
	if err == io.EOF {
		return cat, nil, syncproto.Errorf(syncproto.CodeInvalid, "the CSV is empty; its first line names the columns: %s", strings.Join(append(spec.required, spec.optional...), ","))
	}
	if err != nil {
		return cat, nil, csvError(section, err)
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(spec.required, h) && !slices.Contains(spec.optional, h) {
			return cat, nil, syncproto.Errorf(syncproto.CodeInvalid, "CSV column %q is not one of the %s columns: %s", h, section, strings.Join(append(spec.required, spec.optional...), ", "))
		}
		if _, dup := cols[h]; dup {
			return cat, nil, syncproto.Errorf(syncproto.CodeInvalid, "CSV column %q appears twice in the header", h)
		}
		cols[h] = i
	}
	for _, h := range spec.required {
		if _, ok := cols[h]; !ok {
			return cat, nil, syncproto.Errorf(syncproto.CodeInvalid, "the CSV header lacks the column %q; %s need: %s", h, section, strings.Join(spec.required, ", "))
		}
	}

	var lines []int
	var rowErrs []syncproto.RowError
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cat, nil, csvError(section, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(header) {
			rowErrs = append(rowErrs, syncproto.RowError{Section: section, Row: line,
				Message: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))})
			continue
		}
		col := func(name string) string {
			if i, ok := cols[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		bad := func(field, msg string) {
			rowErrs = append(rowErrs, syncproto.RowError{Section: section, Row: line, Field: field, Message: msg})
		}
		spec.add(&cat, col, bad)
		lines = append(lines, line)
	}
	if len(rowErrs) > 0 {
		we := syncproto.Errorf(syncproto.CodeInvalid, "%d CSV row(s) are invalid; nothing was written", len(rowErrs))
		we.RowErrors = rowErrs
		return cat, nil, we
	}
	return cat, lines, nil
}

// csvError reports a CSV syntax error with its line.
func csvError(section string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		we := syncproto.Errorf(syncproto.CodeInvalid, "the CSV is malformed at line %d: %v", pe.Line, pe.Err)
		we.RowErrors = []syncproto.RowError{{Section: section, Row: pe.Line, Message: pe.Err.Error()}}
		return we
	}
	return syncproto.Errorf(syncproto.CodeInvalid, "read CSV: %v", err)
}
