package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/server"
	"stocksync/syncproto"
)

// DemoTenant is the slug of the tenant that demo creates.
const DemoTenant = "demo"

// demoWarehouse is the one warehouse of the demo catalog.
const demoWarehouse = "MAIN"

// demoConfig is the configuration of 'stocksync demo'.
type demoConfig struct {
	// DevicesDir holds the demo handhelds' databases, one directory each;
	// empty is demo-devices next to a SQLite --db, or ./data/demo-devices
	// with PostgreSQL.
	DevicesDir string
}

func (m *Main) demoFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.demo.DevicesDir, "devices-dir", m.Getenv("STOCKSYNC_DEMO_DEVICES_DIR"),
		"where the demo handhelds' databases go, one directory each (default: demo-devices next to a SQLite --db, ./data/demo-devices with PostgreSQL; env STOCKSYNC_DEMO_DEVICES_DIR)")
}

// demoCatalog is a small wholesale site: one warehouse with a goods-in dock,
// a dispatch dock, a returns bay, shelving and two cold rooms; hardware sold
// by the piece, cable sold by length (in centimetres), paint by lot, and
// dairy by lot with a best-before date.
func demoCatalog(today time.Time) ledger.Catalog {
	date := func(days int) string { return ledger.FormatDate(today.AddDate(0, 0, days)) }
	c := ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: demoWarehouse, Name: "Main warehouse"}},
		Items: []ledger.ItemInput{
			{SKU: "BOLT-M8X40", Name: "Hex bolt M8x40, zinc plated", Unit: "pcs", Barcodes: []string{"4006381333931"}},
			{SKU: "GLOVE-NIT-L", Name: "Nitrile gloves, size L, box of 100", Unit: "box", Barcodes: []string{"4012345000016"}},
			{SKU: "CABLE-NYM-3X1.5", Name: "Installation cable NYM-J 3x1.5 mm², by length", Unit: "cm", Barcodes: []string{"4012345000023"}},
			{SKU: "PAINT-WHT-10L", Name: "Interior wall paint, white, 10 l", Unit: "pail", Barcodes: []string{"4012345000030"}, BatchTracked: true},
			{SKU: "MILK-UHT-1L", Name: "UHT whole milk 1 l", Unit: "carton", Barcodes: []string{"4012345000047"}, BatchTracked: true, ExpiryTracked: true},
			// Two barcodes: the current label and the supplier's previous one.
			{SKU: "YOGURT-NAT-500", Name: "Natural yogurt 500 g", Unit: "pot", Barcodes: []string{"4012345000054", "4012345000061"}, BatchTracked: true, ExpiryTracked: true},
		},
		Batches: []ledger.BatchInput{
			{SKU: "PAINT-WHT-10L", Code: "L24-1107"},
			{SKU: "PAINT-WHT-10L", Code: "L24-1202"},
			{SKU: "MILK-UHT-1L", Code: "M-4471", Expiry: date(60)},
			{SKU: "MILK-UHT-1L", Code: "M-4502", Expiry: date(75)},
			{SKU: "YOGURT-NAT-500", Code: "Y-2210", Expiry: date(12)},
		},
	}
	for _, code := range []string{"DOCK-IN", "DOCK-OUT", "RETURNS", "A-01-01", "A-01-02", "A-01-03",
		"A-02-01", "A-02-02", "B-01-01", "B-01-02", "COLD-01", "COLD-02"} {
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: demoWarehouse, Code: code})
	}
	return c
}

// demoDevice is one handheld of the demo and the shift it recorded offline.
type demoDevice struct {
	// dir is its directory under the demo's devices directory.
	dir   string
	name  string
	actor string
	// start is when its shift began, relative to now.
	start time.Duration
	ops   []demoOp
}

// demoOp is an operation at some minutes into its device's shift.
type demoOp struct {
	at time.Duration
	op client.OpInput
}

// demoShifts are the three handhelds' shifts. Goods in receives and puts
// away, and its cycle count finds four bolts short (count_variance). Two
// pickers work offline from the same shelves: both take pails of lot
// L24-1202, together more than the twelve there are (negative_stock on
// whichever syncs second), and the second picker scans a customer's return
// on SO-24-1001 with lot L24-1202, which that order never shipped
// (wrong_batch_return). Everything else is applied.
func demoShifts(today time.Time) []demoDevice {
	expiry := func(days int) string { return ledger.FormatDate(today.AddDate(0, 0, days)) }
	mins := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	type op = client.OpInput
	return []demoDevice{
		{
			dir: "handheld-1", name: "Handheld 1 (goods in)", actor: "B-1041", start: -5 * time.Hour,
			ops: []demoOp{
				// Two purchase orders arrive at the dock.
				{mins(0), op{Kind: "receive", Barcode: "4006381333931", Qty: 1000, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(6), op{Kind: "receive", SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 24, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(9), op{Kind: "receive", SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 12, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(15), op{Kind: "receive", SKU: "MILK-UHT-1L", Batch: "M-4471", Expiry: expiry(60), Qty: 96, Location: "COLD-01", Ref: "PO-24-0312"}},
				{mins(18), op{Kind: "receive", Barcode: "4012345000054", Batch: "Y-2210", Expiry: expiry(12), Qty: 48, Location: "COLD-02", Ref: "PO-24-0312"}},
				{mins(25), op{Kind: "receive", SKU: "GLOVE-NIT-L", Qty: 40, Location: "DOCK-IN", Ref: "PO-24-0313"}},
				{mins(27), op{Kind: "receive", SKU: "CABLE-NYM-3X1.5", Qty: 50000, Location: "DOCK-IN", Ref: "PO-24-0313", Note: "one 500 m drum"}},
				// Put away from the dock to the shelves.
				{mins(35), op{Kind: "transfer", SKU: "BOLT-M8X40", Qty: 1000, Location: "DOCK-IN", ToLocation: "A-01-01"}},
				{mins(40), op{Kind: "transfer", SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 24, Location: "DOCK-IN", ToLocation: "B-01-01"}},
				{mins(42), op{Kind: "transfer", SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 12, Location: "DOCK-IN", ToLocation: "B-01-02"}},
				{mins(47), op{Kind: "transfer", SKU: "GLOVE-NIT-L", Qty: 40, Location: "DOCK-IN", ToLocation: "A-02-01"}},
				{mins(50), op{Kind: "transfer", SKU: "CABLE-NYM-3X1.5", Qty: 50000, Location: "DOCK-IN", ToLocation: "A-02-02"}},
				// A cycle count finds four bolts short: posted, and flagged
				// for a manager as count_variance.
				{mins(70), op{Kind: "count", SKU: "BOLT-M8X40", Qty: 996, Location: "A-01-01"}},
				{mins(80), op{Kind: "adjust", SKU: "GLOVE-NIT-L", Qty: -1, Location: "A-02-01", Reason: "damaged", Note: "box torn open, gloves soiled"}},
			},
		},
		{
			dir: "handheld-2", name: "Handheld 2 (picking)", actor: "B-1077", start: -3 * time.Hour,
			ops: []demoOp{
				{mins(0), op{Kind: "pick", SKU: "BOLT-M8X40", Qty: 200, Location: "A-01-01", Order: "SO-24-1001"}},
				{mins(3), op{Kind: "pick", SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 4, Location: "B-01-01", Order: "SO-24-1001"}},
				{mins(10), op{Kind: "pick", SKU: "MILK-UHT-1L", Batch: "M-4471", Qty: 24, Location: "COLD-01", Order: "SO-24-1002"}},
				{mins(12), op{Kind: "pick", SKU: "YOGURT-NAT-500", Batch: "Y-2210", Qty: 12, Location: "COLD-02", Order: "SO-24-1002"}},
				{mins(20), op{Kind: "pick", Barcode: "4012345000023", Qty: 2500, Location: "A-02-02", Order: "SO-24-1003"}},
				{mins(22), op{Kind: "pick", SKU: "GLOVE-NIT-L", Qty: 2, Location: "A-02-01", Order: "SO-24-1003"}},
				// Eight of the twelve pails of lot L24-1202.
				{mins(30), op{Kind: "pick", SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 8, Location: "B-01-02", Order: "SO-24-1004"}},
				// A customer brings back a dented pail; the label is gone,
				// so the ledger matches it to the lot the order shipped.
				{mins(60), op{Kind: "return", SKU: "PAINT-WHT-10L", Qty: 1, Location: "RETURNS", Order: "SO-24-1001", Reason: "damaged_in_transit"}},
				{mins(65), op{Kind: "transfer", SKU: "MILK-UHT-1L", Batch: "M-4471", Qty: 24, Location: "COLD-01", ToLocation: "COLD-02", Note: "consolidate cold rooms"}},
				{mins(80), op{Kind: "count", SKU: "YOGURT-NAT-500", Batch: "Y-2210", Qty: 36, Location: "COLD-02"}},
			},
		},
		{
			dir: "handheld-3", name: "Handheld 3 (picking)", actor: "B-1102", start: -150 * time.Minute,
			ops: []demoOp{
				{mins(0), op{Kind: "pick", SKU: "BOLT-M8X40", Qty: 150, Location: "A-01-01", Order: "SO-24-1005"}},
				// Six more pails of L24-1202: with the other picker's
				// eight, two more than the shelf held.
				{mins(4), op{Kind: "pick", Barcode: "4012345000030", Batch: "L24-1202", Qty: 6, Location: "B-01-02", Order: "SO-24-1005"}},
				{mins(9), op{Kind: "pick", SKU: "GLOVE-NIT-L", Qty: 5, Location: "A-02-01", Order: "SO-24-1006"}},
				{mins(15), op{Kind: "transfer", SKU: "CABLE-NYM-3X1.5", Qty: 10000, Location: "A-02-02", ToLocation: "DOCK-OUT", Note: "cut 100 m for collection"}},
				// The customer of SO-24-1001 returns a pail whose label
				// says L24-1202; that order only ever shipped L24-1107.
				{mins(40), op{Kind: "return", SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 1, Location: "RETURNS", Order: "SO-24-1001", Reason: "customer_return"}},
			},
		},
	}
}

// demoClock is a handheld's clock. While the demo records a shift it is set
// to the time on the floor, so each operation carries the time it happened
// hours ago; for the sync it is back to the real time, so the server
// measures no clock offset and keeps those times as they are.
type demoClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

func (c *demoClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

// demoDevicesDir is where the demo handhelds' databases go.
func (m *Main) demoDevicesDir(t dbTarget) string {
	switch {
	case m.demo.DevicesDir != "":
		return m.demo.DevicesDir
	case t.postgres:
		return "./data/demo-devices"
	}
	return filepath.Join(filepath.Dir(t.dsn), "demo-devices")
}

// demoServeURL is the URL 'stocksync serve' will answer on, run the way the
// demo's closing lines suggest: the handhelds are enrolled against it, so
// after the demo they keep syncing with the real server.
func (m *Main) demoServeURL() string {
	host, port, err := net.SplitHostPort(m.env("STOCKSYNC_ADDR", DefaultAddr))
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// runDemo seeds the demo tenant through the same path a real site takes:
// an in-process server over the database, the catalog loaded over the
// management API, three enrolled handhelds that record a shift offline and
// sync it. It does nothing when the tenant already exists.
func (m *Main) runDemo(ctx context.Context) error {
	t, err := m.open(ctx, false)
	if err != nil {
		return err
	}
	l := m.ledger
	if existing, err := l.TenantBySlug(ctx, DemoTenant); err == nil {
		fmt.Fprintf(m.Stdout, "tenant %q already exists (%s) in %s; nothing to do\n", DemoTenant, existing.ID, t.display)
		return nil
	} else if ledger.ErrorCode(err) != ledger.CodeNotFound {
		return fmt.Errorf("demo: look up tenant %q: %w", DemoTenant, err)
	}
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	shifts := demoShifts(today)
	devDir := m.demoDevicesDir(t)
	// The tenant is new, so handheld databases found here were enrolled
	// with another database; they may hold unsent operations, so the demo
	// leaves them for the operator to remove rather than reuse or delete.
	for _, s := range shifts {
		if p := filepath.Join(devDir, s.dir, deviceDBFile); fileExists(p) {
			return fmt.Errorf("demo: %s holds a handheld from an earlier demo, whose tenant is not in %s; remove %s (or pass --devices-dir) and run demo again", p, t.display, devDir)
		}
	}

	tenant, err := l.CreateTenant(ctx, DemoTenant, "Demo Wholesale Ltd", nil)
	if ledger.ErrorCode(err) == ledger.CodeConflict {
		// Another demo created it between the look-up and here.
		fmt.Fprintf(m.Stdout, "tenant %q already exists in %s; nothing to do\n", DemoTenant, t.display)
		return nil
	} else if err != nil {
		return fmt.Errorf("demo: create tenant: %w", err)
	}
	_, key, err := l.CreateAPIKey(ctx, tenant.ID, "admin", ledger.RoleAdmin)
	if err != nil {
		return fmt.Errorf("demo: create the admin API key: %w", err)
	}
	fmt.Fprintf(m.Stdout, "created tenant %q (%s) in %s\n", tenant.Slug, tenant.ID, t.display)

	// The demo's own server, on a free loopback port for as long as the
	// demo runs. Every request goes to it whatever the URL says, so the
	// handhelds can be enrolled against the address of the 'stocksync
	// serve' that will run after the demo.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: listen: %w", err)
	}
	logger := m.Logger
	if m.LogLevel != "debug" {
		// One log line per request would bury the demo's own output.
		logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.New(server.Config{Ledger: l, Logger: logger, Ready: m.ping,
		DeviceRate: -1, TenantRate: -1, EnrollRate: -1, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("demo: start the server: %w", err)
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	defer func() {
		stopServe()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			m.Logger.Warn("demo server did not stop cleanly", slog.Any("error", err))
		}
	}()
	dial := ln.Addr().String()
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dial)
	}}
	defer transport.CloseIdleConnections()
	httpc := &http.Client{Transport: transport, Timeout: time.Minute}
	serveURL := m.demoServeURL()
	api := apiClient{base: serveURL, key: key, http: httpc}

	var cat ledger.CatalogResult
	if err := api.call(ctx, "POST", "/v1/catalog", demoCatalog(today), http.StatusOK, &cat); err != nil {
		return fmt.Errorf("demo: load the catalog: %w", err)
	}
	fmt.Fprintf(m.Stdout, "catalog: %d warehouse, %d locations, %d items, %d batches (POST /v1/catalog)\n",
		cat.Warehouses, cat.Locations, cat.Items, cat.Batches)

	// Enroll the handhelds; each pulls the catalog before its shift.
	devs := make([]*client.Client, len(shifts))
	clocks := make([]*demoClock, len(shifts))
	defer func() {
		for _, c := range devs {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	for i, s := range shifts {
		var code struct {
			Code string `json:"code"`
		}
		if err := api.call(ctx, "POST", "/v1/devices/codes", map[string]string{"warehouse": demoWarehouse}, http.StatusCreated, &code); err != nil {
			return fmt.Errorf("demo: enrollment code for %q: %w", s.name, err)
		}
		clocks[i] = &demoClock{}
		c, err := client.Open(ctx, filepath.Join(devDir, s.dir, deviceDBFile), client.Options{
			Now: clocks[i].Now, Logger: m.Logger, HTTPClient: httpc, AppVersion: deviceAppVersion})
		if err != nil {
			return fmt.Errorf("demo: open handheld %q: %w", s.name, err)
		}
		devs[i] = c
		if _, err := c.Enroll(ctx, serveURL, code.Code, s.name); err != nil {
			return fmt.Errorf("demo: enroll %q: %w", s.name, err)
		}
		if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
			return fmt.Errorf("demo: first pull of %q: %w", s.name, err)
		}
	}
	fmt.Fprintf(m.Stdout, "enrolled %d handhelds in warehouse %s (POST /v1/devices/codes), databases under %s\n", len(shifts), demoWarehouse, devDir)

	// The shifts, recorded offline with the floor's times.
	for i, s := range shifts {
		for _, o := range s.ops {
			clocks[i].set(now.Add(s.start + o.at))
			in := o.op
			in.Actor = s.actor
			_, err := devs[i].Record(ctx, in)
			clocks[i].set(time.Time{})
			if err != nil {
				return fmt.Errorf("demo: %q records %s %s: %w", s.name, in.Kind, demoSubject(in), err)
			}
		}
	}

	// Signal again: the handhelds sync one after the other.
	total := map[syncproto.Status]int{}
	for i, s := range shifts {
		rep, err := devs[i].Sync(ctx, client.SyncOptions{})
		if err != nil {
			return fmt.Errorf("demo: sync %q: %w", s.name, err)
		}
		if rep.Pending != 0 {
			return fmt.Errorf("demo: sync %q left %d operations pending", s.name, rep.Pending)
		}
		total[syncproto.StatusApplied] += rep.Applied
		total[syncproto.StatusFlagged] += rep.Flagged
		total[syncproto.StatusHeld] += rep.Held
		total[syncproto.StatusRejected] += rep.Rejected
		fmt.Fprintf(m.Stdout, "%s %q: recorded %d operations offline, synced: %d applied, %d flagged, %d held, %d rejected\n",
			s.dir, s.name, len(s.ops), rep.Applied, rep.Flagged, rep.Held, rep.Rejected)
		problems, err := devs[i].Ops(ctx, client.OpsFilter{Problems: true})
		if err != nil {
			return fmt.Errorf("demo: operations of %q: %w", s.name, err)
		}
		for _, v := range problems {
			fmt.Fprintf(m.Stdout, "  %s: seq %d %s %s: %s: %s", v.Status, v.Op.Seq, v.Op.Kind, demoSubject(client.OpInput{
				SKU: v.Op.SKU, Barcode: v.Op.Barcode, Batch: v.Op.Batch, Location: v.Op.Location}), v.Code, v.Message)
			for _, id := range v.ReviewIDs {
				fmt.Fprintf(m.Stdout, " (review %s)", id)
			}
			fmt.Fprintln(m.Stdout)
		}
	}
	// A second round brings every handheld the others' movements and the
	// reviews of its own operations, so each shows the shift's final stock.
	for i, s := range shifts {
		if _, err := devs[i].Sync(ctx, client.SyncOptions{}); err != nil {
			return fmt.Errorf("demo: sync %q again: %w", s.name, err)
		}
	}
	fmt.Fprintf(m.Stdout, "results: %s\n", statusList(map[string]int{
		"applied": total[syncproto.StatusApplied], "flagged": total[syncproto.StatusFlagged],
		"held": total[syncproto.StatusHeld], "rejected": total[syncproto.StatusRejected]}))

	var reviews struct {
		Reviews []struct {
			Kind string `json:"kind"`
		} `json:"reviews"`
	}
	if err := api.call(ctx, "GET", "/v1/reviews?status=open&limit=1000", nil, http.StatusOK, &reviews); err != nil {
		return fmt.Errorf("demo: list the open reviews: %w", err)
	}
	byKind := map[string]int{}
	for _, r := range reviews.Reviews {
		byKind[r.Kind]++
	}
	fmt.Fprintf(m.Stdout, "open reviews: %d (%s)\n", len(reviews.Reviews), countList(byKind))

	fmt.Fprintf(m.Stdout, "\nadmin API key of tenant %q (shown once; the server keeps only its hash):\n  %s\n", DemoTenant, key)
	dbFlag := ""
	if m.DB != DefaultDB {
		dbFlag = " --db " + shellQuote(t.display)
	}
	auth := shellQuote("Authorization: Bearer " + key)
	fmt.Fprintf(m.Stdout, "\nlook at it:\n")
	fmt.Fprintf(m.Stdout, "  stocksync serve%s &\n", dbFlag)
	fmt.Fprintf(m.Stdout, "  curl -H %s '%s/v1/reviews?status=open'\n", auth, serveURL)
	fmt.Fprintf(m.Stdout, "  curl -H %s '%s/v1/stock?warehouse=%s'\n", auth, serveURL, demoWarehouse)
	last := shellQuote(filepath.Join(devDir, shifts[len(shifts)-1].dir))
	fmt.Fprintf(m.Stdout, "  stocksync device status --dir %s\n", last)
	fmt.Fprintf(m.Stdout, "  stocksync device ops --problems --dir %s\n", last)
	fmt.Fprintf(m.Stdout, "  stocksync check%s\n", dbFlag)
	fmt.Fprintf(m.Stdout, "the handhelds sync with %s once that server runs (stocksync device sync --dir ...)\n", serveURL)
	return nil
}

// demoSubject names what an operation is about, the way a picker would say
// it.
func demoSubject(op client.OpInput) string {
	s := op.SKU
	if s == "" {
		s = "barcode " + op.Barcode
	}
	if op.Batch != "" {
		s += " batch " + op.Batch
	}
	return s + " at " + op.Location
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// shellQuote quotes s for a POSIX shell when it has anything but plain
// path and URL characters, so a suggested command can be pasted as is.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
