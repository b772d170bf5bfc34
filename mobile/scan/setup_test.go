package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stocksync/client"
	"stocksync/internal/syncbuf"
	"stocksync/ledger"
	"stocksync/ledger/sqlite"
	"stocksync/mobile/scan"
	"stocksync/server"
)

// Barcodes of the test catalog; both have valid check digits.
const (
	boltEAN   = "4006381333931"
	widgetEAN = "4000001000012"
	// boltGTIN is BOLT's barcode as the GTIN-14 of a GS1 label.
	boltGTIN = "0" + boltEAN
)

// testCatalog is one warehouse with three bins, a batch- and expiry-tracked
// item with a known batch, and an untracked item.
var testCatalog = ledger.Catalog{
	Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}},
	Locations:  []ledger.LocationInput{{Warehouse: "W1", Code: "A1"}, {Warehouse: "W1", Code: "A2"}, {Warehouse: "W1", Code: "RET"}},
	Items: []ledger.ItemInput{
		{SKU: "BOLT", Name: "Bolt M8, box of 100", Unit: "box", Barcodes: []string{boltEAN}, BatchTracked: true, ExpiryTracked: true},
		{SKU: "WIDGET", Name: "Widget", Unit: "pcs", Barcodes: []string{widgetEAN}},
	},
	Batches: []ledger.BatchInput{{SKU: "BOLT", Code: "L1", Expiry: "2027-12-31"}},
}

// env is a real server over a SQLite ledger, on a port that stays the same
// across stop and start, so a device can lose and regain it.
type env struct {
	t      *testing.T
	l      *ledger.Ledger
	tenant ledger.Tenant
	addr   string
	url    string

	mu      sync.Mutex
	running func() // stops the running server; nil when stopped
	logs    *syncbuf.Buffer
}

// setup opens a ledger on a temporary SQLite file, creates a tenant with
// testCatalog and starts the server.
func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	l := ledger.New(store, ledger.Options{Logger: slog.New(slog.DiscardHandler)})
	tn, err := l.CreateTenant(ctx, "scan", "Scan Ltd", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpsertCatalog(ctx, tn.ID, testCatalog); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, tenant: tn, logs: &syncbuf.Buffer{}}
	// Pick a free port once; start and stop reuse it.
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.url = "http://" + e.addr
	e.serve(ln)
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// serve runs a new server over the ledger on ln.
func (e *env) serve(ln net.Listener) {
	e.t.Helper()
	srv, err := server.New(server.Config{
		Ledger:          e.l,
		Logger:          slog.New(slog.NewTextHandler(e.logs, nil)),
		Registry:        prometheus.NewRegistry(),
		ShutdownTimeout: 5 * time.Second,
		DeviceRate:      -1, TenantRate: -1, EnrollRate: -1,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	e.mu.Lock()
	e.running = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("server: %v", err)
		}
	}
	e.mu.Unlock()
}

// stop stops the server: the port refuses connections until start.
func (e *env) stop() {
	e.mu.Lock()
	stop := e.running
	e.running = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// start starts a new server on the same port, over the same ledger.
func (e *env) start() {
	e.t.Helper()
	var ln net.Listener
	var err error
	// The port was just closed; the kernel may take a moment to let go.
	for range 50 {
		if ln, err = new(net.ListenConfig).Listen(context.Background(), "tcp", e.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("listen again on %s: %v", e.addr, err)
	}
	e.serve(ln)
}

// code creates an enrollment code for W1.
func (e *env) code() string {
	e.t.Helper()
	_, code, err := e.l.CreateEnrollmentCode(context.Background(), e.tenant.ID, "W1", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// clientOptions make a device give up on an unreachable server quickly.
var clientOptions = client.Options{MaxAttempts: 2, BaseDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond,
	HTTPClient: &http.Client{Timeout: 10 * time.Second}}

// openClient opens a fresh device database.
func openClient(t *testing.T, name string) *client.Client {
	t.Helper()
	c, err := client.Open(context.Background(), filepath.Join(t.TempDir(), name, "device.db"), clientOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// otherDevice enrolls a second handheld and has it record ops, synced.
func (e *env) otherDevice(ops ...client.OpInput) *client.Client {
	e.t.Helper()
	ctx := context.Background()
	c := openClient(e.t, "other")
	if _, err := c.Enroll(ctx, e.url, e.code(), "other handheld"); err != nil {
		e.t.Fatal(err)
	}
	for _, op := range ops {
		if _, err := c.Record(ctx, op); err != nil {
			e.t.Fatalf("record %+v: %v", op, err)
		}
	}
	rep, err := c.Sync(ctx, client.SyncOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if rep.Applied != len(ops) {
		e.t.Fatalf("other device: %+v, want %d applied", rep, len(ops))
	}
	return c
}

// shipL1 is what the other device does: receive batch L1 of BOLT and ship
// two boxes of it on order SO-1.
var shipL1 = []client.OpInput{
	{Kind: "receive", SKU: "BOLT", Batch: "L1", Qty: 5, Location: "A1"},
	{Kind: "pick", SKU: "BOLT", Batch: "L1", Qty: 2, Location: "A1", Order: "SO-1"},
}

// startApp serves the scanning app over c on a free loopback port and
// returns its base URL.
func startApp(t *testing.T, c *client.Client, cfg scan.Config) string {
	t.Helper()
	cfg.Client = c
	app, err := scan.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// appClient calls the app's JSON API as the page does.
type appClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// call sends body (nil for GET) and decodes the answer into out, returning
// the status.
func (a appClient) call(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	a.t.Logf("%s %s → %d %s", method, path, res.StatusCode, strings.TrimSpace(string(data[:min(len(data), 6000)])))
	return res.StatusCode
}

// get fetches a path of the app as a browser would.
func (a appClient) get(path string) (int, http.Header, []byte) {
	a.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}
