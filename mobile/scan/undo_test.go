package scan_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/mobile/scan"
)

// enrolledApp enrolls a fresh device with the env's server, pulls the
// catalog, and serves the app over it without background syncs.
func enrolledApp(t *testing.T, e *env) (*client.Client, appClient) {
	t.Helper()
	c := openClient(t, "app")
	ctx := context.Background()
	if _, err := c.Enroll(ctx, e.url, e.code(), "app handheld"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	base := startApp(t, c, scan.Config{SyncInterval: -1})
	return c, appClient{t: t, base: base, hc: &http.Client{Timeout: 30 * time.Second}}
}

// TestUndoSplitReturnPartlyDone: an undo of a split return that recorded
// one part before failing records only the rest on the next Undo.
func TestUndoSplitReturnPartlyDone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.otherDevice(
		client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L1", Qty: 5, Location: "A1"},
		client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L2", Expiry: "2028-06-30", Qty: 5, Location: "A1"},
		client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L1", Qty: 2, Location: "A1", Order: "SO-2"},
		client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L2", Qty: 2, Location: "A1", Order: "SO-2"},
	)
	c, api := enrolledApp(t, e)
	ctx := context.Background()
	var rec recordResp
	if s := api.call("POST", "/api/record", map[string]any{"kind": "return", "sku": "BOLT", "qty": 3, "location": "RET", "order": "SO-2"}, &rec); s != 200 {
		t.Fatalf("record the return: %d", s)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	ops, err := c.Ops(ctx, client.OpsFilter{})
	if err != nil || len(ops) != 1 || len(ops[0].Allocations) != 2 {
		t.Fatalf("the return was not split over two batches: %v %+v", err, ops)
	}
	// An earlier undo recorded the first part, then failed.
	first := ops[0].Allocations[0]
	if _, err := c.Record(ctx, client.OpInput{Kind: "pick", SKU: "BOLT", Batch: first.Batch, Qty: first.Qty, Location: "RET", Order: "SO-2",
		Note: "undo of " + rec.Recorded.Op.OpID.String() + " (return #1)"}); err != nil {
		t.Fatal(err)
	}
	var u undoResp
	if s := api.call("POST", "/api/undo", struct{}{}, &u); s != 200 {
		t.Fatalf("undo: %d", s)
	}
	second := ops[0].Allocations[1]
	if len(u.Recorded) != 1 || u.Recorded[0].Op.Batch != second.Batch || u.Recorded[0].Op.Qty != second.Qty {
		t.Fatalf("undo recorded %+v, want only the pick of batch %s × %d", u.Recorded, second.Batch, second.Qty)
	}
	if !strings.Contains(u.Message, "batch "+first.Batch) || !strings.Contains(u.Message, "batch "+second.Batch) {
		t.Errorf("undo says %q, want both parts", u.Message)
	}
	var st statusResp
	api.call("GET", "/api/status", nil, &st)
	if st.CanUndo {
		t.Errorf("can_undo after the return was undone in full")
	}
}

// TestUndoRefusesFlagged: an operation under a manager's review is not
// undone from the handheld, and the next Undo goes past it.
func TestUndoRefusesFlagged(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.otherDevice(shipL1...)
	c, api := enrolledApp(t, e)
	ctx := context.Background()
	if s := api.call("POST", "/api/record", map[string]any{"kind": "receive", "sku": "WIDGET", "qty": 1, "location": "A1"}, nil); s != 200 {
		t.Fatalf("record a receive: %d", s)
	}
	if s := api.call("POST", "/api/record", map[string]any{"kind": "return", "sku": "BOLT", "batch": "L2", "qty": 1, "location": "RET", "order": "SO-1"}, nil); s != 200 {
		t.Fatalf("record the return: %d", s)
	}
	rep, err := c.Sync(ctx, client.SyncOptions{})
	if err != nil || rep.Flagged != 1 {
		t.Fatalf("sync: %+v %v, want the return flagged", rep, err)
	}
	var er errorResp
	if s := api.call("POST", "/api/undo", struct{}{}, &er); s != 409 || er.Error.Code != "cannot_undo" || !strings.Contains(er.Error.Message, "manager") {
		t.Fatalf("undo of a flagged return: %d %+v", s, er)
	}
	var u undoResp
	if s := api.call("POST", "/api/undo", struct{}{}, &u); s != 200 || len(u.Recorded) != 1 || u.Recorded[0].Op.SKU != "WIDGET" {
		t.Fatalf("the next undo: %d %+v, want the receive undone", s, u)
	}
	ops, _ := c.Ops(ctx, client.OpsFilter{})
	if len(ops) != 3 {
		t.Errorf("%d operations on the device, want the receive, the return and one reversal", len(ops))
	}
}

// TestScanNumericSlotCodes: order and bin codes made of digits that pass
// the EAN/UPC check fill the slot the page waits for.
func TestScanNumericSlotCodes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, api := enrolledApp(t, e)
	const code = "96385074" // a valid EAN-8 no catalog item has
	for _, slot := range []string{"order", "location", "to_location"} {
		var v scanResp
		if s := api.call("POST", "/api/scan", map[string]string{"code": code, "slot": slot}, &v); s != 200 || v.Target != slot || v.Value != code {
			t.Errorf("scan %s into the %s slot: %d target %q value %q", code, slot, s, v.Target, v.Value)
		}
	}
	// A catalog item still wins in any slot.
	var v scanResp
	if s := api.call("POST", "/api/scan", map[string]string{"code": widgetEAN, "slot": "order"}, &v); s != 200 || v.Target != "item" || v.SKU != "WIDGET" {
		t.Errorf("scan the WIDGET into the order slot: %d %+v", s, v)
	}
}

// TestAutoSyncRefusedBacksOff: a revoked handheld with operations pending
// asks the server once per refresh interval, not at every tick of the
// background loop; its operations stay pending.
func TestAutoSyncRefusedBacksOff(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	c := openClient(t, "revoked")
	if _, err := c.Enroll(ctx, e.url, e.code(), "revoked"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Record(ctx, client.OpInput{Kind: "receive", SKU: "WIDGET", Qty: 1, Location: "A1"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.RevokeDevice(ctx, e.tenant.ID, uuid.MustParse(st.DeviceID)); err != nil {
		t.Fatal(err)
	}
	pushes := func() int { return strings.Count(e.logs.String(), "route=/v1/sync/push") }

	startApp(t, c, scan.Config{SyncInterval: 10 * time.Millisecond, RefreshInterval: time.Hour})
	deadline := time.Now().Add(10 * time.Second)
	for pushes() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pushes() == 0 {
		t.Fatal("the background loop never tried to push")
	}
	time.Sleep(500 * time.Millisecond) // some 50 ticks
	if n := pushes(); n != 1 {
		t.Errorf("the revoked device pushed %d times in 50 ticks, want once per refresh interval", n)
	}
	if st, err := c.Status(ctx); err != nil || st.Pending != 1 || st.LastErrorCode != "unauthorized" {
		t.Errorf("status after the refusals: %+v, %v; want 1 pending and unauthorized", st, err)
	}
}
