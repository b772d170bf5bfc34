package scan_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/mobile/scan"
	"stocksync/syncproto"
)

// Answers of the app's API, as the page reads them.
type (
	statusResp struct {
		Enrolled          bool   `json:"enrolled"`
		Connection        string `json:"connection"`
		Online            bool   `json:"online"`
		ConnectionMessage string `json:"connection_message"`
		Pending           int    `json:"pending"`
		OldestUnsent      int64  `json:"oldest_unsent_seconds"`
		Problems          int    `json:"problems"`
		Items             int    `json:"items"`
		CanUndo           bool   `json:"can_undo"`
	}
	errorResp struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	scanResp struct {
		Kind, Target, Value, SKU, Barcode, Batch, Expiry, Tone, Message string
		Known                                                           bool
		Item                                                            *client.Item
	}
	recordResp struct {
		Recorded client.Recorded `json:"recorded"`
		Tone     string          `json:"tone"`
		Message  string          `json:"message"`
	}
	undoResp struct {
		Recorded []client.Recorded `json:"recorded"`
		Message  string            `json:"message"`
	}
	syncResp struct {
		Report client.SyncReport `json:"report"`
		Error  *struct{ Code, Message string }
		Tone   string `json:"tone"`
		Status *statusResp
	}
	opRowResp struct {
		Op         syncproto.Op `json:"op"`
		State      string       `json:"state"`
		Code       string       `json:"code"`
		Title      string       `json:"title"`
		ReversalOf string       `json:"reversal_of"`
		ReversedBy string       `json:"reversed_by"`
		Decision   string       `json:"decision"`
	}
	opsResp struct {
		Ops []opRowResp `json:"ops"`
	}
	orderResp struct {
		Order   string `json:"order"`
		Known   bool   `json:"known"`
		Source  string `json:"source"`
		Message string `json:"message"`
		Shipped []struct {
			SKU, Batch string
			Qty        int64
			Pending    int64
		}
		Returned []struct {
			SKU, Batch string
			Qty        int64
		}
	}
)

// TestScanAppAPI drives the app's JSON API the way the page does, against
// a real server: enroll, scans of every kind, recording, undo, offline and
// back, a flagged return and the manager's decision.
func TestScanAppAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.otherDevice(shipL1...)
	c := openClient(t, "app")
	base := startApp(t, c, scan.Config{SyncInterval: -1})
	api := appClient{t: t, base: base, hc: &http.Client{Timeout: 30 * time.Second}}

	// The page and its files, under a CSP that allows only the app itself.
	status, header, page := api.get("/")
	if status != http.StatusOK || !strings.Contains(string(page), `<script src="app.js" defer></script>`) {
		t.Fatalf("GET /: %d %.200s", status, page)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, f := range []string{"/app.js", "/app.css"} {
		if status, _, _ := api.get(f); status != http.StatusOK {
			t.Errorf("GET %s: %d", f, status)
		}
	}

	var st statusResp
	api.call("GET", "/api/status", nil, &st)
	if st.Enrolled || st.Connection != scan.ConnNotEnrolled {
		t.Fatalf("before enrolling: %+v", st)
	}

	// Enrollment: a wrong code is refused with the server's reason.
	var er errorResp
	if s := api.call("POST", "/api/enroll", map[string]string{"server": e.url, "code": "NOPE-NOPE", "name": "h1"}, &er); s != 422 || er.Error.Code != "unauthorized" {
		t.Fatalf("enroll with a wrong code: %d %+v", s, er)
	}
	var enr struct {
		Tone string
		Sync struct{ Report client.SyncReport }
	}
	if s := api.call("POST", "/api/enroll", map[string]string{"server": e.url, "code": e.code(), "name": "h1"}, &enr); s != 200 || enr.Tone != "success" {
		t.Fatalf("enroll: %d %+v", s, enr)
	}
	api.call("GET", "/api/status", nil, &st)
	if !st.Enrolled || !st.Online || st.Items != 2 {
		t.Fatalf("after enrolling: %+v; want online with the 2 items pulled", st)
	}
	var ur errorResp
	if s := api.call("POST", "/api/undo", struct{}{}, &ur); s != 409 || ur.Error.Code != "nothing_to_undo" {
		t.Errorf("undo with nothing recorded: %d %+v", s, ur)
	}

	// Scans.
	scanTests := []struct {
		name, code, slot string
		want             scanResp
	}{
		{"bin label in the location slot", "A1", "location", scanResp{Kind: "internal", Target: "location", Value: "A1", Tone: "success"}},
		{"GS1 human-readable", "(01)" + boltGTIN + "(10)L1(17)271231", "item",
			scanResp{Kind: "gs1", Target: "item", SKU: "BOLT", Barcode: boltEAN, Batch: "L1", Expiry: "2027-12-31", Known: true, Tone: "success"}},
		{"GS1-128 with GS", "]C101" + boltGTIN + "10L2\x1d17280600", "item",
			scanResp{Kind: "gs1", Target: "item", SKU: "BOLT", Barcode: boltEAN, Batch: "L2", Expiry: "2028-06-30", Known: true, Tone: "success"}},
		{"GS1 label in the location slot is still an item", "(01)" + boltGTIN + "(10)L1", "location",
			scanResp{Kind: "gs1", Target: "item", SKU: "BOLT", Barcode: boltEAN, Batch: "L1", Known: true, Tone: "success"}},
		{"plain EAN-13", widgetEAN, "item", scanResp{Kind: "gtin", Target: "item", SKU: "WIDGET", Barcode: widgetEAN, Known: true, Tone: "success"}},
		{"SKU typed", "WIDGET", "item", scanResp{Kind: "internal", Target: "item", SKU: "WIDGET", Known: true, Tone: "success"}},
		{"unknown EAN", "5901234123457", "item", scanResp{Kind: "gtin", Target: "item", Barcode: "5901234123457", Tone: "warning"}},
		{"untracked item with a batch", "(01)0" + widgetEAN + "(10)X9", "item",
			scanResp{Kind: "gs1", Target: "item", SKU: "WIDGET", Barcode: widgetEAN, Known: true, Tone: "warning"}},
		{"order", "SO-1", "order", scanResp{Kind: "internal", Target: "order", Value: "SO-1", Tone: "success"}},
		{"GS1 order number", "(400)PO-77", "order", scanResp{Kind: "gs1", Target: "order", Value: "PO-77", Tone: "success"}},
		{"product in the order slot is an item", widgetEAN, "order", scanResp{Kind: "gtin", Target: "item", SKU: "WIDGET", Barcode: widgetEAN, Known: true, Tone: "success"}},
		{"bin with stock while an item is expected", "A1", "item", scanResp{Kind: "internal", Target: "location", Value: "A1", Tone: "success"}},
	}
	for _, tt := range scanTests {
		var got scanResp
		if s := api.call("POST", "/api/scan", map[string]string{"code": tt.code, "slot": tt.slot}, &got); s != 200 {
			t.Errorf("%s: status %d", tt.name, s)
			continue
		}
		if got.Message == "" {
			t.Errorf("%s: no message", tt.name)
		}
		got.Item, got.Message = nil, ""
		if got != tt.want {
			t.Errorf("%s: scan %q\n got %+v\nwant %+v", tt.name, tt.code, got, tt.want)
		}
	}
	if s := api.call("POST", "/api/scan", map[string]string{"code": "(01)" + boltGTIN[:13] + "9", "slot": "item"}, &er); s != 422 || er.Error.Code != "invalid_barcode" ||
		!strings.Contains(er.Error.Message, "check digit") {
		t.Errorf("bad GS1 check digit: %d %+v", s, er)
	}

	record := func(in client.OpInput) recordResp {
		t.Helper()
		var r recordResp
		if s := api.call("POST", "/api/record", in, &r); s != 200 {
			t.Fatalf("record %+v: %d", in, s)
		}
		return r
	}
	undo := func() undoResp {
		t.Helper()
		var r undoResp
		if s := api.call("POST", "/api/undo", struct{}{}, &r); s != 200 {
			t.Fatalf("undo: %d", s)
		}
		return r
	}

	// Receive, and undo it: an adjustment, not a deletion.
	rec := record(client.OpInput{Kind: "receive", SKU: "BOLT", Barcode: boltEAN, Batch: "L2", Expiry: "2028-06-30", Qty: 4, Location: "A1"})
	if rec.Tone != "success" || !strings.Contains(rec.Message, "receive #1: 4 × BOLT (batch L2) at A1") {
		t.Errorf("receive: %+v", rec)
	}
	u := undo()
	if len(u.Recorded) != 1 {
		t.Fatalf("undo recorded %d operations", len(u.Recorded))
	}
	if op := u.Recorded[0].Op; op.Kind != "adjust" || op.Qty != -4 || op.Batch != "L2" || op.Location != "A1" || op.Reason != "undo" ||
		!strings.HasPrefix(op.Note, "undo of "+rec.Recorded.Op.OpID.String()) {
		t.Errorf("reversal of the receive: %+v", op)
	}
	var ops opsResp
	api.call("GET", "/api/ops?limit=5", nil, &ops)
	if len(ops.Ops) != 2 || ops.Ops[0].ReversalOf != rec.Recorded.Op.OpID.String() || ops.Ops[1].ReversedBy != u.Recorded[0].Op.OpID.String() {
		t.Errorf("recent ops do not link the reversal: %+v", ops.Ops)
	}

	// A refused operation says why, with the server's code.
	if s := api.call("POST", "/api/record", client.OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1"}, &er); s != 422 || er.Error.Code != string(syncproto.CodeBatchRequired) {
		t.Errorf("pick without a batch: %d %+v", s, er)
	}

	// Pick on an order, undone by a return on the order; a transfer,
	// undone by a transfer back; a count cannot be undone.
	record(client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L1", Qty: 3, Location: "A1"})
	record(client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L1", Qty: 1, Location: "A1", Order: "SO-1"})
	if op := undo().Recorded[0].Op; op.Kind != "return" || op.Order != "SO-1" || op.Batch != "L1" || op.Qty != 1 || op.Location != "A1" {
		t.Errorf("reversal of the pick: %+v", op)
	}
	record(client.OpInput{Kind: "receive", Barcode: widgetEAN, Qty: 2, Location: "A1"})
	record(client.OpInput{Kind: "transfer", Barcode: widgetEAN, Qty: 2, Location: "A1", ToLocation: "A2"})
	if op := undo().Recorded[0].Op; op.Kind != "transfer" || op.Location != "A2" || op.ToLocation != "A1" || op.Qty != 2 {
		t.Errorf("reversal of the transfer: %+v", op)
	}
	// At RET, where nothing moved lately: a count close to movements on its
	// key would be flagged count_ambiguous.
	record(client.OpInput{Kind: "count", Barcode: widgetEAN, Qty: 0, Location: "RET"})
	if s := api.call("POST", "/api/undo", struct{}{}, &er); s != 409 || er.Error.Code != "cannot_undo" || !strings.Contains(er.Error.Message, "count again") {
		t.Errorf("undo of a count: %d %+v", s, er)
	}

	var ord orderResp
	api.call("GET", "/api/orders/SO-1", nil, &ord)
	// The server knows the other device's 2 boxes of L1; this device's
	// pick of 1 is not acknowledged yet and is added as pending.
	if !ord.Known || ord.Source != "server" || len(ord.Shipped) != 1 || ord.Shipped[0].Batch != "L1" ||
		ord.Shipped[0].Qty != 3 || ord.Shipped[0].Pending != 1 || len(ord.Returned) != 1 {
		t.Errorf("order SO-1: %+v", ord)
	}
	api.call("GET", "/api/orders/SO-9", nil, &ord)
	if ord.Known || !strings.Contains(ord.Message, "cannot show what the order shipped") {
		t.Errorf("order SO-9: %+v", ord)
	}

	// Offline: the sync fails, says so, and keeps everything.
	e.stop()
	var sr syncResp
	api.call("POST", "/api/sync", struct{}{}, &sr)
	if sr.Error == nil || sr.Error.Code != "network" || sr.Status == nil || sr.Status.Connection != scan.ConnOffline || sr.Status.Pending != 9 {
		t.Fatalf("sync with the server down: %+v", sr)
	}
	record(client.OpInput{Kind: "return", SKU: "BOLT", Batch: "L2", Qty: 1, Location: "RET", Order: "SO-1"})
	api.call("GET", "/api/status", nil, &st)
	if st.Online || st.Pending != 10 {
		t.Errorf("offline status: %+v", st)
	}

	// Back online: everything goes, the wrong-batch return is flagged.
	e.start()
	sr = syncResp{}
	api.call("POST", "/api/sync", struct{}{}, &sr)
	if sr.Error != nil || sr.Report.Pushed != 10 || sr.Report.Flagged != 1 || sr.Status.Pending != 0 || !sr.Status.Online {
		api.call("GET", "/api/ops?problems=1", nil, nil)
		t.Fatalf("sync after the server came back: %+v", sr)
	}
	var probs opsResp
	api.call("GET", "/api/ops?problems=1", nil, &probs)
	if len(probs.Ops) != 1 || probs.Ops[0].Code != "wrong_batch_return" || !strings.Contains(probs.Ops[0].Decision, "open") {
		t.Fatalf("problems: %+v", probs.Ops)
	}

	// The manager reassigns the batch; the next sync brings the decision.
	ctx := context.Background()
	reviews, err := e.l.Reviews(ctx, e.tenant.ID, ledger.ReviewFilter{Kind: ledger.ReviewWrongBatchReturn, Status: ledger.ReviewOpen})
	if err != nil || len(reviews) != 1 {
		t.Fatalf("reviews: %v %+v", err, reviews)
	}
	if _, err := e.l.ResolveReview(ctx, e.tenant.ID, reviews[0].ID, ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L1",
		By: "maria", Note: "label misread, it is L1"}); err != nil {
		t.Fatal(err)
	}
	sr = syncResp{}
	api.call("POST", "/api/sync", struct{}{}, &sr)
	if sr.Error != nil {
		t.Fatalf("sync: %+v", sr.Error)
	}
	probs = opsResp{}
	api.call("GET", "/api/ops?problems=1", nil, &probs)
	if len(probs.Ops) != 1 || !strings.Contains(probs.Ops[0].Decision, "reassign batch by maria") || !strings.Contains(probs.Ops[0].Decision, "label misread") {
		t.Errorf("decision not shown: %+v", probs.Ops)
	}

	// Nothing counted twice, nothing lost: the ledger holds each of the
	// app's operations once, and its balances add up.
	log, err := e.l.OpLog(ctx, e.tenant.ID, ledger.OpLogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2+10 {
		t.Errorf("op log has %d entries, want 12", len(log))
	}
	if d, err := e.l.Check(ctx, e.tenant.ID); err != nil || len(d) > 0 {
		t.Errorf("check: %v %+v", err, d)
	}
}

// TestScanAppRefusesOtherSites: the app has no sign-in, so it answers
// only to its own page on loopback.
func TestScanAppRefusesOtherSites(t *testing.T) {
	t.Parallel()
	c := openClient(t, "app")
	base := startApp(t, c, scan.Config{SyncInterval: -1})
	hc := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"status from the page", "GET", nil, 200},
		{"another host name (DNS rebinding)", "GET", map[string]string{"Host": "evil.example:8090"}, http.StatusMisdirectedRequest},
		{"a form post from anywhere", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"JSON from another origin", "POST", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"JSON marked cross-site", "POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"JSON from the page", "POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}, 200},
	}
	for _, tt := range tests {
		path, body := "/api/status", io.Reader(nil)
		if tt.method == "POST" {
			path, body = "/api/scan", strings.NewReader(`{"code":"A1","slot":"location"}`)
		}
		req, err := http.NewRequestWithContext(context.Background(), tt.method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.headers {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		if tt.headers["Origin"] == "" && tt.method == "POST" && tt.want == 200 {
			req.Header.Set("Origin", base)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb errorResp
		_ = json.NewDecoder(res.Body).Decode(&eb)
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d %+v, want %d", tt.name, res.StatusCode, eb, tt.want)
		}
	}
}
