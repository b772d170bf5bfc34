package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"stocksync/internal/syncbuf"
	"stocksync/ledger"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/ledger/sqlite"
	"stocksync/server"
	"stocksync/syncproto"
)

// storeKinds are the backends every test that touches the ledger runs on.
var storeKinds = []string{"sqlite", "postgres"}

// openStore returns a fresh store of the kind; PostgreSQL skips without
// STOCKSYNC_TEST_DATABASE_URL.
func openStore(t *testing.T, kind string) ledger.Store {
	t.Helper()
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	case "postgres":
		return pgtest.New(t)
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

// eachStore runs fn as a parallel subtest on every store.
func eachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	t.Helper()
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// testCatalog is a warehouse with a few bins, an untracked item and a
// batch-tracked one.
var testCatalog = ledger.Catalog{
	Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}},
	Locations:  []ledger.LocationInput{{Warehouse: "W1", Code: "A1"}, {Warehouse: "W1", Code: "A2"}, {Warehouse: "W1", Code: "RET"}},
	Items: []ledger.ItemInput{
		{SKU: "WIDGET", Name: "Widget", Unit: "pcs", Barcodes: []string{"4000001000013"}},
		{SKU: "BOLT", Name: "Bolt M8", Unit: "pcs", BatchTracked: true},
	},
	Batches: []ledger.BatchInput{{SKU: "BOLT", Code: "L1"}, {SKU: "BOLT", Code: "L2"}},
}

// tenant is a tenant with a catalog, an API key of each role and one
// enrolled device.
type tenant struct {
	ledger.Tenant
	admin, manager, staff string
	dev                   enrolled
}

type enrolled struct {
	syncproto.EnrollResponse
	seq int64 // last seq pushed by the test
}

// env is a running server over one store.
type env struct {
	t      *testing.T
	ctx    context.Context
	l      *ledger.Ledger
	srv    *server.Server
	base   string
	reg    *prometheus.Registry
	stop   func() error // cancels Serve and returns its error
	logs   *syncbuf.Buffer
	client *http.Client
}

// options adjusts a test's server.Config.
type options func(*server.Config)

// noLimits turns the rate limits off so tests that send many requests are
// not throttled; tests of the limits set their own.
func noLimits(c *server.Config) { c.DeviceRate, c.TenantRate, c.EnrollRate = -1, -1, -1 }

// setup starts the real server on a free port over a fresh store of kind.
func setup(t *testing.T, kind string, opts ...options) *env {
	t.Helper()
	ctx := context.Background()
	store := openStore(t, kind)
	l := ledger.New(store, ledger.Options{Logger: slog.New(slog.DiscardHandler)})
	logs := &syncbuf.Buffer{}
	cfg := server.Config{
		Ledger:          l,
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:        prometheus.NewRegistry(),
		ShutdownTimeout: 10 * time.Second,
	}
	noLimits(&cfg)
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	var stopErr error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
		}
		return stopErr
	}
	e := &env{t: t, ctx: ctx, l: l, srv: srv, base: "http://" + ln.Addr().String(), reg: cfg.Registry, stop: stop, logs: logs,
		// No transparent gzip: the tests look at Content-Encoding.
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// newTenant creates a tenant with testCatalog, keys of every role and one
// device enrolled over HTTP.
func (e *env) newTenant(slug string) *tenant {
	e.t.Helper()
	tn, err := e.l.CreateTenant(e.ctx, slug, slug+" Ltd", nil)
	if err != nil {
		e.t.Fatalf("create tenant: %v", err)
	}
	if _, err := e.l.UpsertCatalog(e.ctx, tn.ID, testCatalog); err != nil {
		e.t.Fatalf("catalog: %v", err)
	}
	out := &tenant{Tenant: tn}
	for _, k := range []struct {
		role ledger.Role
		dst  *string
	}{{ledger.RoleAdmin, &out.admin}, {ledger.RoleManager, &out.manager}, {ledger.RoleStaff, &out.staff}} {
		_, secret, err := e.l.CreateAPIKey(e.ctx, tn.ID, string(k.role)+"-key", k.role)
		if err != nil {
			e.t.Fatalf("create key: %v", err)
		}
		*k.dst = secret
	}
	out.dev = e.enroll(tn.ID, "W1", "handheld 1")
	return out
}

// enroll creates an enrollment code through the ledger and exchanges it
// over HTTP.
func (e *env) enroll(tenantID uuid.UUID, warehouse, name string) enrolled {
	e.t.Helper()
	_, code, err := e.l.CreateEnrollmentCode(e.ctx, tenantID, warehouse, 0)
	if err != nil {
		e.t.Fatalf("enrollment code: %v", err)
	}
	var resp syncproto.EnrollResponse
	r := e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: code, Name: name, AppVersion: "1.0.0"}})
	r.want(200).decode(&resp)
	return enrolled{EnrollResponse: resp}
}

// req describes one request.
type req struct {
	proto   bool   // send Stocksync-Protocol: 1
	token   string // bearer
	json    any    // body, encoded as JSON
	raw     []byte // body as is
	ctype   string
	headers map[string]string
	gzip    bool // gzip the body
	chunked bool // send without Content-Length
}

// resp is a response with its body read.
type resp struct {
	t      *testing.T
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path string, r req) *resp {
	e.t.Helper()
	var body []byte
	switch {
	case r.json != nil:
		b, err := json.Marshal(r.json)
		if err != nil {
			e.t.Fatal(err)
		}
		body = b
		if r.ctype == "" {
			r.ctype = "application/json"
		}
	case r.raw != nil:
		body = r.raw
	}
	if r.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if r.chunked {
			rd = io.MultiReader(rd) // hides the length from net/http
		}
	}
	hr, err := http.NewRequestWithContext(e.ctx, method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.chunked {
		hr.ContentLength = -1
	}
	if r.proto {
		hr.Header.Set(syncproto.HeaderProtocol, "1")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.gzip {
		hr.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	res, err := e.client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			e.t.Fatalf("%s %s: gzip body: %v", method, path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			e.t.Fatalf("%s %s: gunzip: %v", method, path, err)
		}
	}
	return &resp{t: e.t, status: res.StatusCode, header: res.Header, body: b}
}

// want fails the test unless the status is status.
func (r *resp) want(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// wantError fails unless the answer is an error with status and code, and
// returns the error (by value: it is data here, not a failure to check).
func (r *resp) wantError(status int, code syncproto.Code) syncproto.Error {
	r.t.Helper()
	r.want(status)
	var eb syncproto.ErrorBody
	r.decode(&eb)
	if eb.Error == nil || eb.Error.Code != code {
		r.t.Fatalf("error %s, want code %s", r.body, code)
	}
	if eb.Error.Message == "" {
		r.t.Fatalf("error without message: %s", r.body)
	}
	return *eb.Error
}

func (r *resp) decode(v any) *resp {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return r
}

// push sends ops from the tenant's device with backlog headers.
func (e *env) push(dev enrolled, ops []syncproto.Op, extra ...func(*req)) *resp {
	e.t.Helper()
	r := req{proto: true, token: dev.Token, json: syncproto.PushRequest{DeviceID: dev.DeviceID, DeviceTime: time.Now().UTC(), Ops: ops}}
	for _, f := range extra {
		f(&r)
	}
	return e.do("POST", "/v1/sync/push", r)
}

// op builds an operation; seq is filled by ops.
func op(kind string, f func(*syncproto.Op)) syncproto.Op {
	o := syncproto.Op{OpID: uuid.Must(uuid.NewV7()), Kind: kind, OccurredAt: time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)}
	if f != nil {
		f(&o)
	}
	return o
}

// numbered gives ops consecutive seqs after dev's last one.
func (dev *enrolled) numbered(ops ...syncproto.Op) []syncproto.Op {
	for i := range ops {
		dev.seq++
		ops[i].Seq = dev.seq
	}
	return ops
}

// stock returns the tenant's balances through the API as
// "location/sku/batch" -> on hand.
func (e *env) stock(key string) map[string]int64 {
	e.t.Helper()
	var out struct {
		Balances []struct {
			Warehouse, Location, SKU, Batch string
			OnHand                          int64 `json:"on_hand"`
		} `json:"balances"`
	}
	e.do("GET", "/v1/stock", req{token: key}).want(200).decode(&out)
	m := map[string]int64{}
	for _, b := range out.Balances {
		m[b.Location+"/"+b.SKU+"/"+b.Batch] = b.OnHand
	}
	return m
}

// metric returns the value of the series of name whose labels include
// labels, summed, from the server's own /metrics.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	r := e.do("GET", "/metrics", req{}).want(200)
	var sum float64
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(line, fmt.Sprintf("%s=%q", k, v)) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			e.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}
