package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/ledger/sqlite"
	"stocksync/server"
	"stocksync/syncproto"
)

// realServer runs the real server over a SQLite ledger with one tenant and
// returns its ledger, tenant, URL and a function that stops it.
func realServer(t *testing.T) (*ledger.Ledger, ledger.Tenant, string, func()) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	l := ledger.New(store, ledger.Options{Logger: slog.New(slog.DiscardHandler)})
	tn, err := l.CreateTenant(ctx, "orders", "Orders Ltd", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpsertCatalog(ctx, tn.ID, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}},
		Locations:  []ledger.LocationInput{{Warehouse: "W1", Code: "A1"}, {Warehouse: "W1", Code: "RET"}},
		Items:      []ledger.ItemInput{{SKU: "BOLT", Name: "Bolt", Unit: "box", BatchTracked: true}},
		Batches:    []ledger.BatchInput{{SKU: "BOLT", Code: "L1"}, {SKU: "BOLT", Code: "L2"}},
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Ledger: l, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		DeviceRate: -1, TenantRate: -1, EnrollRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return l, tn, "http://" + ln.Addr().String(), stop
}

// device opens a client and, when url is not empty, enrolls it and syncs.
func device(t *testing.T, l *ledger.Ledger, tn ledger.Tenant, url, name string) (*client.Client, client.Identity) {
	t.Helper()
	ctx := context.Background()
	c, err := client.Open(ctx, filepath.Join(t.TempDir(), name+".db"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if url == "" {
		return c, client.Identity{}
	}
	_, code, err := l.CreateEnrollmentCode(ctx, tn.ID, "W1", 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Enroll(ctx, url, code, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, id
}

func TestOrderFromTheRealServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, tn, url, stop := realServer(t)
	picker, pickerID := device(t, l, tn, url, "picker")
	desk, _ := device(t, l, tn, url, "desk")
	record := func(c *client.Client, in client.OpInput) {
		t.Helper()
		if _, err := c.Record(ctx, in); err != nil {
			t.Fatalf("record %+v: %v", in, err)
		}
	}
	syncNow := func(c *client.Client) {
		t.Helper()
		if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	record(picker, client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L1", Qty: 5, Location: "A1"})
	record(picker, client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L2", Qty: 5, Location: "A1"})
	record(picker, client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L1", Qty: 2, Location: "A1", Order: "SO-1"})
	record(picker, client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L2", Qty: 1, Location: "A1", Order: "SO-2"})
	syncNow(picker)
	record(desk, client.OpInput{Kind: "return", SKU: "BOLT", Qty: 1, Location: "RET", Order: "SO-1"})
	syncNow(desk)

	// The desk never picked SO-1, and sees what it shipped.
	got, err := desk.Order(ctx, " SO-1 ")
	want := []client.OrderLine{{SKU: "BOLT", Batch: "L1", Shipped: 2, Returned: 1}}
	if err != nil || got.Order != "SO-1" || !reflect.DeepEqual(got.Lines, want) || got.ServerTime.IsZero() {
		t.Fatalf("desk's SO-1: %+v, %v; want lines %+v", got, err, want)
	}
	if got, err := desk.Order(ctx, "SO-404"); err != nil || got.Lines == nil || len(got.Lines) != 0 {
		t.Errorf("unknown order: %+v, %v", got, err)
	}
	if _, err := desk.Order(ctx, "  "); client.ErrorCode(err) != syncproto.CodeInvalid {
		t.Errorf("empty order: %v", err)
	}
	fresh, _ := device(t, l, tn, "", "new")
	if _, err := fresh.Order(ctx, "SO-1"); !errors.Is(err, client.ErrNotEnrolled) {
		t.Errorf("not enrolled: %v", err)
	}

	// The local log reads one order's operations.
	ops, err := picker.Ops(ctx, client.OpsFilter{Order: "SO-1"})
	if err != nil || len(ops) != 1 || ops[0].Op.Kind != "pick" || ops[0].Op.Order != "SO-1" {
		t.Errorf("picker's ops on SO-1: %+v, %v", ops, err)
	}

	// A revoked device is refused; a server that is gone fails fast.
	if err := l.RevokeDevice(ctx, tn.ID, pickerID.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := picker.Order(ctx, "SO-1"); client.ErrorCode(err) != syncproto.CodeUnauthorized {
		t.Errorf("revoked device: %v", err)
	}
	stop()
	start := time.Now()
	if _, err := desk.Order(ctx, "SO-1"); err == nil || client.ErrorCode(err) != "" {
		t.Errorf("server gone: %v, want a network error", err)
	}
	if d := time.Since(start); d > client.OrderTimeout {
		t.Errorf("server gone: took %s", d)
	}
}
