package client

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// testServer speaks sync protocol v1 from memory, the way docs/protocol.md
// describes it, so the sync engine can be driven through every answer the
// real server gives. The network is the seam: the client under test uses
// its real SQLite database and real HTTP. The lead's end-to-end tests run
// the same client against the real server.
type testServer struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	ledgerID   string
	enrollCode string
	token      string
	deviceID   uuid.UUID
	prefix     string
	acked      int64
	results    map[uuid.UUID]syncproto.Result
	seqs       map[int64]uuid.UUID
	// maxOps answers a push with more operations 413 too_large.
	maxOps int
	// items, locations and balances are the server's view; changes is the
	// pull feed, one versioned row per change.
	items    map[string]syncproto.Item
	locs     map[string]bool
	balances map[stockKey]int64
	changes  []change
	// pushes and pulls record what the client sent.
	pushes []pushSeen
	pulls  int
	// intercept, when set, may answer a request itself (returning true)
	// before the protocol does: how tests inject errors.
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

type change struct {
	version int64
	item    *syncproto.Item
	loc     *syncproto.Location
	batch   *syncproto.Batch
	bal     *syncproto.Balance
	dec     *syncproto.Decision
}

type pushSeen struct {
	first, last int64
	n           int
	gzip        bool
	backlog     syncproto.Backlog
}

const (
	testCode   = "7KQ2M-X9D4T"
	testPrefix = "DEV1"
)

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{t: t, ledgerID: uuid.NewString(), enrollCode: testCode, maxOps: syncproto.MaxOpsPerPush,
		prefix: testPrefix, results: map[uuid.UUID]syncproto.Result{}, seqs: map[int64]uuid.UUID{},
		items: map[string]syncproto.Item{}, locs: map[string]bool{}, balances: map[stockKey]int64{}}
	s.seedCatalog()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// seedCatalog loads the catalog the tests share: BOLT is not
// batch-tracked, MILK is batch- and expiry-tracked, PAINT batch-tracked.
func (s *testServer) seedCatalog() {
	s.putItem(syncproto.Item{SKU: "BOLT", Name: "Bolt M8", Unit: "pc", Barcodes: []string{"4000001"}})
	s.putItem(syncproto.Item{SKU: "MILK", Name: "UHT milk 1 l", Unit: "carton", Barcodes: []string{"4000002"}, BatchTracked: true, ExpiryTracked: true})
	s.putItem(syncproto.Item{SKU: "PAINT", Name: "White paint 10 l", Unit: "can", Barcodes: []string{"4000003"}, BatchTracked: true})
	for _, l := range []string{"A1", "A2", "COLD"} {
		s.putLocation(l)
	}
	s.putBatch(syncproto.Batch{SKU: "MILK", Code: "M-1", Expiry: "2027-01-01"})
	s.putBatch(syncproto.Batch{SKU: "PAINT", Code: "L-1"})
	s.setBalance(stockKey{"A1", "BOLT", ""}, 10)
	s.setBalance(stockKey{"COLD", "MILK", "M-1"}, 5)
	s.setBalance(stockKey{"A2", "PAINT", "L-1"}, 4)
}

func (s *testServer) URL() string { return s.srv.URL }

func (s *testServer) add(c change) {
	c.version = int64(len(s.changes) + 1)
	s.changes = append(s.changes, c)
}

func (s *testServer) putItem(it syncproto.Item) {
	s.items[it.SKU] = it
	s.add(change{item: &it})
}

func (s *testServer) putLocation(code string) {
	s.locs[code] = true
	s.add(change{loc: &syncproto.Location{Code: code}})
}

func (s *testServer) putBatch(b syncproto.Batch) { s.add(change{batch: &b}) }

func (s *testServer) setBalance(k stockKey, onHand int64) {
	s.balances[k] = onHand
	s.add(change{bal: &syncproto.Balance{Location: k.location, SKU: k.sku, Batch: k.batch, OnHand: onHand}})
}

func (s *testServer) putDecision(d syncproto.Decision) { s.add(change{dec: &d}) }

// do runs fn under the server's lock, for tests that change its state.
func (s *testServer) do(fn func(s *testServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *testServer) snapshotPushes() []pushSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pushes)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// protoError is err as the *syncproto.Error that syncproto's decoders
// return.
func protoError(err error) *syncproto.Error {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return pe
	}
	return syncproto.Errorf(syncproto.CodeInternal, "%v", err)
}

func writeError(w http.ResponseWriter, status int, e *syncproto.Error) {
	writeJSON(w, status, syncproto.ErrorBody{Error: e})
}

func (s *testServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	intercept := s.intercept
	s.mu.Unlock()
	if intercept != nil && intercept(w, r) {
		return
	}
	if _, err := syncproto.ParseVersion(r.Header.Get(syncproto.HeaderProtocol)); err != nil {
		e := protoError(err)
		e.Versions = syncproto.Versions
		writeError(w, http.StatusUpgradeRequired, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/devices/enroll":
		s.enroll(w, r)
		return
	case r.Header.Get("Authorization") != "Bearer "+s.token || s.token == "":
		writeError(w, http.StatusUnauthorized, syncproto.Errorf(syncproto.CodeUnauthorized, "unknown or revoked device token"))
		return
	case r.Method == http.MethodPost && r.URL.Path == "/v1/sync/push":
		s.push(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/sync/pull":
		s.pull(w, r)
	default:
		writeError(w, http.StatusNotFound, syncproto.Errorf(syncproto.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	}
}

func (s *testServer) enroll(w http.ResponseWriter, r *http.Request) {
	var req syncproto.EnrollRequest
	if err := syncproto.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, protoError(err))
		return
	}
	if req.Code != s.enrollCode || s.token != "" {
		writeError(w, http.StatusUnauthorized, syncproto.Errorf(syncproto.CodeUnauthorized, "enrollment code unknown or already used"))
		return
	}
	s.deviceID = uuid.New()
	s.token = "ssd_" + uuid.NewString()
	writeJSON(w, http.StatusOK, syncproto.EnrollResponse{DeviceID: s.deviceID, Token: s.token, Warehouse: "MAIN",
		BatchPrefix: s.prefix, LedgerID: s.ledgerID})
}

func (s *testServer) push(w http.ResponseWriter, r *http.Request) {
	body := io.Reader(r.Body)
	gz := r.Header.Get("Content-Encoding") == "gzip"
	if gz {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, syncproto.Errorf(syncproto.CodeInvalid, "gzip: %v", err))
			return
		}
		body = zr
	}
	req, err := syncproto.DecodePush(io.LimitReader(body, syncproto.MaxBodyBytes+1))
	backlog, berr := syncproto.ParseBacklog(r.Header.Get)
	if berr != nil {
		s.t.Errorf("push: backlog headers: %v", berr)
	}
	seen := pushSeen{n: len(req.Ops), gzip: gz, backlog: backlog}
	if len(req.Ops) > 0 {
		seen.first, seen.last = req.Ops[0].Seq, req.Ops[len(req.Ops)-1].Seq
	}
	s.pushes = append(s.pushes, seen)
	if err != nil {
		pe := protoError(err)
		if pe.Code == syncproto.CodeTooLarge {
			writeError(w, http.StatusRequestEntityTooLarge, pe)
			return
		}
		s.t.Errorf("push: the client sent an invalid push: %v", err)
		writeError(w, http.StatusBadRequest, pe)
		return
	}
	if req.DeviceID != s.deviceID {
		writeError(w, http.StatusForbidden, syncproto.Errorf(syncproto.CodeForbidden, "device_id is not this token's device"))
		return
	}
	if len(req.Ops) > s.maxOps {
		writeError(w, http.StatusRequestEntityTooLarge, syncproto.Errorf(syncproto.CodeTooLarge, "at most %d operations", s.maxOps))
		return
	}
	acked := s.acked
	// A restored device: it knows a lower acked seq, and sends another
	// operation under a seq this server acked after that.
	if backlog.AckedSeq >= 0 && backlog.AckedSeq < s.acked {
		for _, op := range req.Ops {
			if held, ok := s.seqs[op.Seq]; ok && op.Seq > backlog.AckedSeq && held != op.OpID {
				writeError(w, http.StatusConflict, &syncproto.Error{Code: syncproto.CodeSeqBehind, AckedSeq: &acked,
					Message: fmt.Sprintf("seq %d holds another operation; acked_seq is %d", op.Seq, s.acked)})
				return
			}
		}
	}
	if len(req.Ops) > 0 && req.Ops[0].Seq > s.acked+1 {
		writeError(w, http.StatusConflict, &syncproto.Error{Code: syncproto.CodeSeqGap, AckedSeq: &acked,
			Message: fmt.Sprintf("first seq %d is beyond acked_seq %d + 1", req.Ops[0].Seq, s.acked)})
		return
	}
	resp := syncproto.PushResponse{ServerTime: time.Now().UTC()}
	for _, op := range req.Ops {
		if res, ok := s.results[op.OpID]; ok {
			res.Seq, res.Replayed = op.Seq, true
			s.acked = max(s.acked, op.Seq)
			resp.Results = append(resp.Results, res)
			continue
		}
		if op.Seq <= s.acked {
			resp.Results = append(resp.Results, syncproto.Result{OpID: op.OpID, Seq: op.Seq, Status: syncproto.StatusRejected,
				Code: syncproto.CodeOpConflict, Message: "seq already used by another operation"})
			continue
		}
		res := s.merge(op)
		s.results[op.OpID], s.seqs[op.Seq] = res, op.OpID
		s.acked = op.Seq
		resp.Results = append(resp.Results, res)
	}
	resp.AckedSeq = s.acked
	writeJSON(w, http.StatusOK, resp)
}

// merge applies a small part of the ledger's rules: unknown references
// are held, a note "reject" is rejected, a decrement below zero is flagged.
func (s *testServer) merge(op syncproto.Op) syncproto.Result {
	res := syncproto.Result{OpID: op.OpID, Seq: op.Seq, Status: syncproto.StatusApplied}
	review := func(code syncproto.Code, status syncproto.Status) {
		id := uuid.New()
		res.Status, res.Code, res.ReviewID, res.ReviewIDs = status, code, &id, []uuid.UUID{id}
		s.putDecision(syncproto.Decision{ReviewID: id, Kind: string(code), Status: syncproto.ReviewOpen, OpIDs: []uuid.UUID{op.OpID}})
	}
	if op.Note == "reject" {
		res.Status, res.Code, res.Message = syncproto.StatusRejected, syncproto.CodeInvalidQty, "rejected on request"
		return res
	}
	it, ok := s.items[op.SKU]
	if op.SKU == "" {
		for _, cand := range s.items {
			if slices.Contains(cand.Barcodes, op.Barcode) {
				it, ok = cand, true
			}
		}
	}
	if !ok || !s.locs[op.Location] || (op.ToLocation != "" && !s.locs[op.ToLocation]) {
		review(syncproto.CodeUnknownReference, syncproto.StatusHeld)
		return res
	}
	batch := op.Batch
	if it.BatchTracked && batch == "" && op.Kind == syncproto.KindReceive {
		batch = syncproto.GeneratedBatchCode(s.prefix, op.OpID, op.OccurredAt)
		res.Batch = batch
		s.putBatch(syncproto.Batch{SKU: it.SKU, Code: batch, Expiry: op.Expiry})
	}
	k := stockKey{op.Location, it.SKU, batch}
	switch op.Kind {
	case syncproto.KindReceive, syncproto.KindReturn, syncproto.KindAdjust:
		s.setBalance(k, s.balances[k]+op.Qty)
	case syncproto.KindPick:
		s.setBalance(k, s.balances[k]-op.Qty)
	case syncproto.KindTransfer:
		s.setBalance(k, s.balances[k]-op.Qty)
		to := stockKey{op.ToLocation, it.SKU, batch}
		s.setBalance(to, s.balances[to]+op.Qty)
	case syncproto.KindCount:
		s.setBalance(k, op.Qty)
	}
	if s.balances[k] < 0 {
		review(syncproto.CodeNegativeStock, syncproto.StatusFlagged)
	}
	return res
}

// pull pages through the change feed; the cursor is "<ledger>:<version>".
func (s *testServer) pull(w http.ResponseWriter, r *http.Request) {
	s.pulls++
	limit := syncproto.DefaultPullLimit
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, syncproto.Errorf(syncproto.CodeInvalid, "bad limit %q", l))
			return
		}
		limit = n
	}
	var from int64
	reset := true
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		ledger, v, ok := strings.Cut(cur, ":")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			writeError(w, http.StatusBadRequest, syncproto.Errorf(syncproto.CodeInvalid, "malformed cursor"))
			return
		}
		if ledger == s.ledgerID && n <= int64(len(s.changes)) {
			from, reset = n, false
		}
	}
	page := syncproto.PullResponse{LedgerID: s.ledgerID, Reset: reset, AckedSeq: s.acked, ServerTime: time.Now().UTC(),
		Warehouse: syncproto.Warehouse{Code: "MAIN", Name: "Main warehouse"},
		Items:     []syncproto.Item{}, Locations: []syncproto.Location{}, Batches: []syncproto.Batch{},
		Balances: []syncproto.Balance{}, Decisions: []syncproto.Decision{}}
	rest := s.changes[from:]
	if len(rest) > limit {
		rest, page.More = rest[:limit], true
	}
	last := from
	for _, c := range rest {
		switch {
		case c.item != nil:
			page.Items = append(page.Items, *c.item)
		case c.loc != nil:
			page.Locations = append(page.Locations, *c.loc)
		case c.batch != nil:
			page.Batches = append(page.Batches, *c.batch)
		case c.bal != nil:
			page.Balances = append(page.Balances, *c.bal)
		case c.dec != nil:
			page.Decisions = append(page.Decisions, *c.dec)
		}
		last = c.version
	}
	page.Cursor = s.ledgerID + ":" + strconv.FormatInt(last, 10)
	writeJSON(w, http.StatusOK, page)
}

// replaceLedger makes the server look like a database restored from a
// backup taken before this device's first push: a new ledger, the seed
// catalog, and none of the device's operations; the token survives.
func (s *testServer) replaceLedger() {
	s.ledgerID = uuid.NewString()
	s.acked = 0
	s.results, s.seqs = map[uuid.UUID]syncproto.Result{}, map[int64]uuid.UUID{}
	s.items, s.locs, s.balances, s.changes = map[string]syncproto.Item{}, map[string]bool{}, map[stockKey]int64{}, nil
	s.seedCatalog()
}
