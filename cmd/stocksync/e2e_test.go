package main

// End-to-end tests: the real binary's Main serving on a free port over a
// real database (a SQLite file, and PostgreSQL when the CI's URL is set),
// real device clients with their own SQLite files, and nothing in between
// but HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"stocksync/client"
	"stocksync/internal/syncbuf"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/syncproto"
)

// e2eDB is one database the end-to-end tests run on.
type e2eDB struct {
	name string
	url  func(t *testing.T) string
}

// e2eDBs are the databases every end-to-end test runs on: a fresh SQLite
// file, and a fresh PostgreSQL schema when STOCKSYNC_TEST_DATABASE_URL is
// set (the subtest skips otherwise, saying how to run it).
var e2eDBs = []e2eDB{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "server.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

// forEachDB runs fn as a parallel subtest on every database.
func forEachDB(t *testing.T, fn func(t *testing.T, db string)) {
	for _, d := range e2eDBs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d.url(t))
		})
	}
}

// runningServer is a 'stocksync serve' running in the test process.
type runningServer struct {
	URL    string
	stop   context.CancelFunc
	done   chan int
	stderr *syncbuf.Buffer
}

// startServer runs the real Main's serve on db and a free port, and returns
// once it listens. The server stops at the end of the test, or with Stop.
func startServer(t *testing.T, db string) *runningServer {
	t.Helper()
	return startServerAt(t, db, "127.0.0.1:0")
}

// startServerAt is startServer on a given address.
func startServerAt(t *testing.T, db, addr string) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{stop: cancel, done: make(chan int, 1), stderr: &syncbuf.Buffer{}}
	env := map[string]string{"STOCKSYNC_DEVICE_RATE": "-1", "STOCKSYNC_TENANT_RATE": "-1", "STOCKSYNC_SHUTDOWN_TIMEOUT": "10s"}
	m := &Main{Stdout: io.Discard, Stderr: s.stderr, Getenv: func(k string) string { return env[k] }}
	go func() { s.done <- m.Execute(ctx, []string{"serve", "--db", db, "--addr", addr}) }()
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	addrc := make(chan string, 1)
	go func() {
		addr, err := m.ListenAddr(waitCtx)
		if err == nil {
			addrc <- addr
		}
	}()
	select {
	case addr := <-addrc:
		s.URL = "http://" + addr
	case code := <-s.done:
		cancel()
		t.Fatalf("serve exited with %d before listening:\n%s", code, s.stderr.String())
	case <-waitCtx.Done():
		cancel()
		t.Fatalf("serve did not listen within 30s:\n%s", s.stderr.String())
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down gracefully and waits for Main to return.
func (s *runningServer) Stop(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve exited with %d:\n%s", code, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop within 30s")
	}
}

// e2eTenant is a tenant made through the binary's own commands and API.
type e2eTenant struct {
	db, url, key string
}

// newTenant creates a tenant with 'stocksync tenant create --json' and loads
// the catalog through POST /v1/catalog.
func newTenant(t *testing.T, db, url, slug string, catalog any) e2eTenant {
	t.Helper()
	r := run(t, nil, "tenant", "create", slug, "--json", "--db", db)
	if r.code != 0 {
		t.Fatalf("tenant create: exit %d: %s", r.code, r.stderr)
	}
	var created createdTenant
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || created.APIKey == "" || created.Slug != slug || created.TenantID == "" {
		t.Fatalf("tenant create --json printed %q (%v); want tenant_id, slug and api_key", r.stdout, err)
	}
	tn := e2eTenant{db: db, url: url, key: created.APIKey}
	tn.call(t, "POST", "/v1/catalog", catalog, http.StatusOK, nil)
	return tn
}

// call sends one management API request and decodes the answer into out,
// failing the test when the status is not want.
func (tn e2eTenant) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, tn.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tn.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

// enroll makes a device client with its own SQLite file and enrolls it with
// a fresh code from the management API.
func (tn e2eTenant) enroll(t *testing.T, name string, opts client.Options) *client.Client {
	t.Helper()
	var code struct {
		Code string `json:"code"`
	}
	tn.call(t, "POST", "/v1/devices/codes", map[string]string{"warehouse": "MAIN"}, http.StatusCreated, &code)
	dev := openDevice(t, filepath.Join(t.TempDir(), name+".db"), opts)
	if _, err := dev.Enroll(context.Background(), tn.url, code.Code, name); err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	return dev
}

func openDevice(t *testing.T, path string, opts client.Options) *client.Client {
	t.Helper()
	if opts.AppVersion == "" {
		opts.AppVersion = "e2e-1.0"
	}
	if opts.Sleep == nil {
		// Backoff is the client's own business, tested there; here it
		// would only slow the test down.
		opts.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	dev, err := client.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("open device %s: %v", path, err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	return dev
}

// record records one operation on a device, failing the test on error.
func record(t *testing.T, dev *client.Client, in client.OpInput) client.Recorded {
	t.Helper()
	rec, err := dev.Record(context.Background(), in)
	if err != nil {
		t.Fatalf("record %+v: %v", in, err)
	}
	return rec
}

func syncOK(t *testing.T, dev *client.Client) client.SyncReport {
	t.Helper()
	rep, err := dev.Sync(context.Background(), client.SyncOptions{})
	if err != nil {
		t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	if rep.Pending != 0 {
		t.Fatalf("sync left %d operations pending", rep.Pending)
	}
	return rep
}

// e2eCatalog is a small site: bolts by the piece, paint by lot.
var e2eCatalog = map[string]any{
	"warehouses": []map[string]any{{"code": "MAIN", "name": "Main"}},
	"locations": []map[string]any{{"warehouse": "MAIN", "code": "A-01"}, {"warehouse": "MAIN", "code": "A-02"},
		{"warehouse": "MAIN", "code": "RETURNS"}},
	"items": []map[string]any{
		{"sku": "BOLT", "name": "Bolt M8", "unit": "pcs", "barcodes": []string{"4006381333931"}},
		{"sku": "PAINT", "name": "Paint 10 l", "unit": "pail", "barcodes": []string{"4012345000030"}, "batch_tracked": true},
	},
	"batches": []map[string]any{{"sku": "PAINT", "code": "L1"}, {"sku": "PAINT", "code": "L2"}},
}

// ledgerPicture is what the management API shows of a tenant's ledger, in a
// form that does not depend on which device's operation came first.
type ledgerPicture struct {
	Stock   []string
	Reviews []string
}

func (tn e2eTenant) picture(t *testing.T) ledgerPicture {
	t.Helper()
	var stock struct {
		Balances []struct {
			Location, SKU, Batch string
			OnHand               int64 `json:"on_hand"`
		} `json:"balances"`
	}
	tn.call(t, "GET", "/v1/stock?warehouse=MAIN", nil, http.StatusOK, &stock)
	var p ledgerPicture
	for _, b := range stock.Balances {
		p.Stock = append(p.Stock, fmt.Sprintf("%s/%s/%s=%d", b.Location, b.SKU, b.Batch, b.OnHand))
	}
	var reviews struct {
		Reviews []struct {
			Kind, Status, Location, SKU, Batch, Order string
		} `json:"reviews"`
	}
	tn.call(t, "GET", "/v1/reviews", nil, http.StatusOK, &reviews)
	for _, r := range reviews.Reviews {
		p.Reviews = append(p.Reviews, fmt.Sprintf("%s %s %s/%s/%s %s", r.Kind, r.Status, r.Location, r.SKU, r.Batch, r.Order))
	}
	slices.Sort(p.Stock)
	slices.Sort(p.Reviews)
	return p
}

// shift is the offline shift of TestTwoDevicesOfflineShift: after a synced
// morning, two handhelds lose the signal; both pick the last bolts, and one
// returns paint of a lot the order never shipped.
func shift(t *testing.T, tn e2eTenant, bFirst bool) (ledgerPicture, *client.Client, *client.Client, client.Recorded) {
	t0 := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	a := tn.enroll(t, "handheld-a", client.Options{})
	b := tn.enroll(t, "handheld-b", client.Options{})

	// Morning, online: goods in, one order shipped from lot L1.
	record(t, a, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 5, Location: "A-01", OccurredAt: at(0)})
	record(t, a, client.OpInput{Kind: "receive", SKU: "PAINT", Batch: "L1", Qty: 3, Location: "A-02", OccurredAt: at(1)})
	record(t, a, client.OpInput{Kind: "pick", SKU: "PAINT", Batch: "L1", Qty: 2, Location: "A-02", Order: "SO-1", OccurredAt: at(2)})
	syncOK(t, a)
	syncOK(t, b)
	if rows, err := b.Stock(context.Background(), client.StockFilter{}); err != nil || len(rows) == 0 {
		t.Fatalf("handheld-b pulled no stock after the morning: %v %v", rows, err)
	}

	// Afternoon, offline: both take the last bolts; b scans a paint return
	// on SO-1 with lot L2, which SO-1 never shipped.
	record(t, a, client.OpInput{Kind: "pick", Barcode: "4006381333931", Qty: 5, Location: "A-01", Order: "SO-2", OccurredAt: at(60)})
	record(t, b, client.OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A-01", Order: "SO-3", OccurredAt: at(61)})
	ret := record(t, b, client.OpInput{Kind: "return", SKU: "PAINT", Batch: "L2", Qty: 1, Location: "RETURNS", Order: "SO-1", OccurredAt: at(62)})

	first, second := a, b
	if bFirst {
		first, second = b, a
	}
	syncOK(t, first)
	syncOK(t, second)
	// A second round brings each device the other's movements and the
	// reviews of its own operations.
	syncOK(t, first)
	return tn.picture(t), a, b, ret
}

// TestTwoDevicesOfflineShift: two devices record a shift offline and sync in
// either order; the ledger and its reviews end the same, each device learns
// the outcome of its own operations, and a manager's decision reaches the
// device that recorded the operation.
func TestTwoDevicesOfflineShift(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		aFirst := newTenant(t, db, srv.URL, "first-a", e2eCatalog)
		bFirst := newTenant(t, db, srv.URL, "first-b", e2eCatalog)

		pa, a1, b1, ret := shift(t, aFirst, false)
		pb, _, _, _ := shift(t, bFirst, true)
		if !slices.Equal(pa.Stock, pb.Stock) || !slices.Equal(pa.Reviews, pb.Reviews) {
			t.Fatalf("the arrival order changed the ledger:\na first: %+v\nb first: %+v", pa, pb)
		}
		for _, want := range []string{"A-01/BOLT/=-1", "A-02/PAINT/L1=1", "RETURNS/PAINT/L2=1"} {
			if !slices.Contains(pa.Stock, want) {
				t.Errorf("stock %v lacks %s", pa.Stock, want)
			}
		}
		for _, kind := range []string{"negative_stock open A-01/BOLT/", "wrong_batch_return open RETURNS/PAINT/L2 SO-1"} {
			if !slices.ContainsFunc(pa.Reviews, func(r string) bool { return strings.HasPrefix(r, kind) }) {
				t.Errorf("reviews %v lack %q", pa.Reviews, kind)
			}
		}

		// Each device knows what became of its own operations.
		ops, err := b1.Ops(context.Background(), client.OpsFilter{Problems: true})
		if err != nil {
			t.Fatal(err)
		}
		var retView *client.OpView
		for i := range ops {
			if ops[i].Op.OpID == ret.Op.OpID {
				retView = &ops[i]
			}
		}
		if retView == nil || retView.Status != syncproto.StatusFlagged || retView.Code != syncproto.CodeWrongBatchReturn || len(retView.ReviewIDs) == 0 {
			t.Fatalf("handheld-b's problem list %+v lacks its flagged wrong-batch return", ops)
		}
		// In arrival order a then b, b's pick of the last bolt is the one
		// that went negative.
		if !slices.ContainsFunc(ops, func(v client.OpView) bool { return v.Code == syncproto.CodeNegativeStock }) {
			t.Errorf("handheld-b does not know its pick went negative: %+v", ops)
		}
		if aOps, _ := a1.Ops(context.Background(), client.OpsFilter{Problems: true}); len(aOps) != 0 {
			t.Errorf("handheld-a has problems it did not cause: %+v", aOps)
		}

		// A manager reassigns the return to the lot SO-1 shipped; b learns
		// the decision on its next pull.
		reviewID := retView.ReviewIDs[0]
		aFirst.call(t, "POST", "/v1/reviews/"+reviewID.String()+"/resolve",
			map[string]any{"action": "reassign_batch", "batch": "L1", "note": "label misread"}, http.StatusOK, nil)
		aFirst.call(t, "POST", "/v1/reviews/"+reviewID.String()+"/resolve",
			map[string]any{"action": "accept"}, http.StatusConflict, nil)
		syncOK(t, b1)
		ops, _ = b1.Ops(context.Background(), client.OpsFilter{Problems: true})
		var decided bool
		for _, v := range ops {
			for _, d := range v.Decisions {
				if v.Op.OpID == ret.Op.OpID && d.ReviewID == reviewID && d.Status == syncproto.ReviewResolved && d.Action == "reassign_batch" && d.Note == "label misread" {
					decided = true
				}
			}
		}
		if !decided {
			t.Fatalf("handheld-b did not learn the reassign_batch decision: %+v", ops)
		}
		p := aFirst.picture(t)
		if !slices.Contains(p.Stock, "RETURNS/PAINT/L1=1") || !slices.Contains(p.Stock, "RETURNS/PAINT/L2=0") {
			t.Errorf("after reassigning, stock is %v; want the return on L1 and L2 back to 0", p.Stock)
		}
		stock, err := b1.Stock(context.Background(), client.StockFilter{SKU: "PAINT"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(stock, func(r client.StockRow) bool { return r.Location == "RETURNS" && r.Batch == "L1" && r.Stock == 1 }) {
			t.Errorf("handheld-b's stock %+v does not show the reassigned return on L1", stock)
		}
		checkDB(t, db)
	})
}

// checkDB runs 'stocksync check' on db and fails the test on any
// discrepancy.
func checkDB(t *testing.T, db string) {
	t.Helper()
	if r := run(t, nil, "check", "--db", db); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// loseFirstPushAnswer is a transport that delivers the first push to the
// server and then pretends the connection dropped before the answer came.
type loseFirstPushAnswer struct {
	mu   sync.Mutex
	lost int
}

func (l *loseFirstPushAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/v1/sync/push") {
		return resp, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost > 0 {
		return resp, nil
	}
	l.lost++
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errors.New("connection reset by peer (injected after the server answered)")
}

// opLog is the op log as GET /v1/ops shows it.
type opLog struct {
	Ops []struct {
		Seq    int64  `json:"seq"`
		Status string `json:"status"`
		Kind   string `json:"kind"`
	} `json:"ops"`
}

// TestLostAnswerThenRetry: the server commits a push but the answer is
// lost; the client's retry gets the stored results back as replays, and
// nothing is posted twice.
func TestLostAnswerThenRetry(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "lossy", e2eCatalog)
		lossy := &loseFirstPushAnswer{}
		dev := tn.enroll(t, "handheld", client.Options{HTTPClient: &http.Client{Transport: lossy, Timeout: 30 * time.Second}})
		for i := range 5 {
			record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: int64(i + 1), Location: "A-01"})
		}
		rep := syncOK(t, dev)
		if lossy.lost != 1 || rep.Replayed != 5 || rep.Applied != 5 {
			t.Fatalf("lost %d answers, report %+v; want 1 lost and all 5 results replayed as applied", lossy.lost, rep)
		}
		var log opLog
		tn.call(t, "GET", "/v1/ops", nil, http.StatusOK, &log)
		if len(log.Ops) != 5 {
			t.Fatalf("op log has %d entries, want 5: %+v", len(log.Ops), log)
		}
		if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=15"}) {
			t.Fatalf("stock %v, want 15 bolts (1+2+3+4+5) posted once", p.Stock)
		}
		checkDB(t, db)
	})
}

// TestServerRestartMidShift: the server goes away while devices keep
// recording; when it is back, everything syncs exactly once.
func TestServerRestartMidShift(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "restart", e2eCatalog)
		dev := tn.enroll(t, "handheld", client.Options{MaxAttempts: 2})
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 10, Location: "A-01"})
		syncOK(t, dev)

		srv.Stop(t)
		for range 3 {
			record(t, dev, client.OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A-01"})
		}
		rep, err := dev.Sync(context.Background(), client.SyncOptions{})
		if err == nil || rep.Pending != 3 {
			t.Fatalf("sync with the server down: err %v, report %+v; want an error and 3 operations kept", err, rep)
		}
		st, _ := dev.Status(context.Background())
		if st.Pending != 3 || st.LastError == "" {
			t.Fatalf("status after the failed sync: %+v; want 3 pending and the error", st)
		}

		// The server comes back at the same address.
		startServerAt(t, db, strings.TrimPrefix(srv.URL, "http://"))
		rep = syncOK(t, dev)
		if rep.Applied != 3 {
			t.Fatalf("after the restart: %+v; want the 3 picks applied", rep)
		}
		if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=7"}) {
			t.Fatalf("stock %v, want 7", p.Stock)
		}
		checkDB(t, db)
	})
}

// TestDeviceRestoredFromBackup: a handheld restored from an old backup
// renumbers its new operations after the server's acked_seq, and nothing
// is rejected or lost.
func TestDeviceRestoredFromBackup(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "restore", e2eCatalog)
		dev := tn.enroll(t, "handheld", client.Options{})
		path := dev.Path()
		for range 3 {
			record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 1, Location: "A-01"})
		}
		syncOK(t, dev)
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
		backup := copyFile(t, path)

		dev = openDevice(t, path, client.Options{})
		for range 2 {
			record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 10, Location: "A-01"})
		}
		syncOK(t, dev) // the server now holds seqs 1-5
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}

		// The handheld is restored: it forgets seqs 4 and 5, and its next
		// operations take those numbers locally.
		restoreFile(t, backup, path)
		dev = openDevice(t, path, client.Options{})
		for range 2 {
			record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 100, Location: "A-01"})
		}
		rep := syncOK(t, dev)
		if rep.Renumbered != 2 || rep.Applied != 2 || rep.Rejected != 0 {
			t.Fatalf("after the restore: %+v; want 2 renumbered and applied, none rejected", rep)
		}
		var log opLog
		tn.call(t, "GET", "/v1/ops", nil, http.StatusOK, &log)
		for _, e := range log.Ops {
			if e.Status != "applied" {
				t.Errorf("op log entry %+v is not applied", e)
			}
		}
		if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=223"}) {
			t.Fatalf("stock %v, want 3 + 20 + 200", p.Stock)
		}
		checkDB(t, db)
	})
}

func copyFile(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "backup.db")
	restoreFile(t, path, dst)
	return dst
}

// restoreFile copies src over dst, dropping dst's WAL files the way a
// restore of the database file alone would.
func restoreFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(dst + suffix)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRevokedDeviceRefused: a revoked handheld's sync is refused with
// unauthorized, and its operations stay on the device.
func TestRevokedDeviceRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "revoke", e2eCatalog)
		dev := tn.enroll(t, "handheld", client.Options{})
		syncOK(t, dev)
		st, _ := dev.Status(context.Background())
		tn.call(t, "POST", "/v1/devices/"+st.DeviceID+"/revoke", nil, http.StatusOK, nil)
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 1, Location: "A-01"})
		rep, err := dev.Sync(context.Background(), client.SyncOptions{})
		if client.ErrorCode(err) != syncproto.CodeUnauthorized || rep.Pending != 1 {
			t.Fatalf("sync of a revoked device: %v, %+v; want unauthorized with the operation kept", err, rep)
		}
		var log opLog
		tn.call(t, "GET", "/v1/ops", nil, http.StatusOK, &log)
		if len(log.Ops) != 0 {
			t.Fatalf("a revoked device's push reached the op log: %+v", log)
		}
	})
}

// TestBadRequestsApplyNothing: malformed, oversized and unknown-field pushes
// get clear errors and leave the ledger untouched.
func TestBadRequestsApplyNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "bad", e2eCatalog)
		var code struct {
			Code string `json:"code"`
		}
		tn.call(t, "POST", "/v1/devices/codes", map[string]string{"warehouse": "MAIN"}, http.StatusCreated, &code)
		enrolled := rawEnroll(t, srv.URL, code.Code)
		token, deviceID := enrolled.Token, enrolled.DeviceID.String()
		op := `{"op_id":"019a2b00-0000-7000-8000-000000000001","seq":1,"kind":"receive","occurred_at":"2026-01-02T10:00:00Z","sku":"BOLT","qty":1,"location":"A-01"}`
		push := func(body string) string {
			return `{"device_id":"` + deviceID + `","device_time":"` + time.Now().UTC().Format(time.RFC3339) + `","ops":[` + body + `]}`
		}
		big := push(strings.Repeat(op+",", syncproto.MaxBodyBytes/len(op)+1) + op)
		for _, tc := range []struct {
			name, body string
			status     int
			code       syncproto.Code
		}{
			{"malformed", `{"device_id": `, http.StatusBadRequest, syncproto.CodeInvalid},
			{"unknown field", strings.Replace(push(op), `"ops"`, `"tenant_id":"x","ops"`, 1), http.StatusBadRequest, syncproto.CodeInvalid},
			{"server-owned field", push(strings.Replace(op, `"kind"`, `"position":7,"kind"`, 1)), http.StatusBadRequest, syncproto.CodeInvalid},
			{"oversized", big, http.StatusRequestEntityTooLarge, syncproto.CodeTooLarge},
		} {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/v1/sync/push", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set(syncproto.HeaderProtocol, "1")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body syncproto.ErrorBody
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || body.Error == nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("%s: %d %+v; want %d %s with a message", tc.name, resp.StatusCode, body.Error, tc.status, tc.code)
			}
		}
		var log opLog
		tn.call(t, "GET", "/v1/ops", nil, http.StatusOK, &log)
		if len(log.Ops) != 0 {
			t.Fatalf("bad requests reached the op log: %+v", log)
		}
		if p := tn.picture(t); len(p.Stock) != 0 {
			t.Fatalf("bad requests moved stock: %v", p.Stock)
		}
	})
}

// rawEnroll enrolls a device with a plain HTTP request, for tests of the
// raw protocol.
func rawEnroll(t *testing.T, url, code string) syncproto.EnrollResponse {
	t.Helper()
	body, _ := json.Marshal(syncproto.EnrollRequest{Code: code, Name: "raw", AppVersion: "curl"})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/v1/devices/enroll", bytes.NewReader(body))
	req.Header.Set(syncproto.HeaderProtocol, "1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out syncproto.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" {
		t.Fatalf("enroll: %d %+v %v", resp.StatusCode, out, err)
	}
	return out
}

// TestServerRestoredThenNewLedger: the server's database is restored from a
// backup that lacks the last operations, and the operator gives the tenants
// new ledger IDs (tenant new-ledger --all), as docs/operations.md says. The
// handheld downloads its scope again and pushes the operations the restore
// lost from its own history; nothing is lost or posted twice.
func TestServerRestoredThenNewLedger(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "server.db")
	srv := startServer(t, db)
	addr := strings.TrimPrefix(srv.URL, "http://")
	tn := newTenant(t, db, srv.URL, "restored", e2eCatalog)
	dev := tn.enroll(t, "handheld", client.Options{})
	for range 3 {
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 1, Location: "A-01"})
	}
	syncOK(t, dev)
	srv.Stop(t)
	backup := filepath.Join(t.TempDir(), "server.db")
	copyServerDB(t, db, backup)

	srv = startServerAt(t, db, addr)
	for range 2 {
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 10, Location: "A-01"})
	}
	syncOK(t, dev)
	srv.Stop(t)

	copyServerDB(t, backup, db)
	if r := run(t, nil, "tenant", "new-ledger", "--all", "--db", db); r.code != 0 || !strings.Contains(r.stdout, `tenant "restored": ledger`) {
		t.Fatalf("tenant new-ledger --all: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	startServerAt(t, db, addr)
	rep := syncOK(t, dev)
	if !rep.LedgerChanged || rep.Applied != 2 {
		t.Fatalf("sync after the restore: %+v; want a new ledger and the 2 lost receipts applied again", rep)
	}
	if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=23"}) {
		t.Fatalf("stock %v, want 3 + 20", p.Stock)
	}
	stock, err := dev.Stock(context.Background(), client.StockFilter{})
	if err != nil || len(stock) != 1 || stock[0].Stock != 23 || stock[0].Pending != 0 {
		t.Fatalf("the handheld's stock after the restore: %+v, %v; want 23 as pulled", stock, err)
	}
	checkDB(t, db)
}
