package server_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"stocksync/server"
	"stocksync/syncproto"
)

// TestOrderLookup merges a shipment from one device and returns from
// another, then asks the server what the order shipped: per item and
// batch, over every device, in the device's tenant only.
func TestOrderLookup(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		desk := e.enroll(a.ID, "W1", "returns desk")
		lookup := func(dev enrolled, order string) syncproto.OrderResponse {
			t.Helper()
			var out syncproto.OrderResponse
			e.do("GET", "/v1/sync/orders/"+order, req{proto: true, token: dev.Token}).want(200).decode(&out)
			return out
		}

		e.push(a.dev, a.dev.numbered(
			op("receive", func(o *syncproto.Op) { o.SKU, o.Batch, o.Qty, o.Location = "BOLT", "L1", 5, "A1" }),
			op("receive", func(o *syncproto.Op) { o.SKU, o.Batch, o.Qty, o.Location = "BOLT", "L2", 5, "A1" }),
			op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 4, "A1" }),
			op("pick", func(o *syncproto.Op) { o.SKU, o.Batch, o.Qty, o.Location, o.Order = "BOLT", "L1", 2, "A1", "SO-1" }),
			op("pick", func(o *syncproto.Op) { o.SKU, o.Batch, o.Qty, o.Location, o.Order = "BOLT", "L2", 1, "A1", "SO-1" }),
			op("pick", func(o *syncproto.Op) { o.Barcode, o.Qty, o.Location, o.Order = "4000001000013", 3, "A1", "SO-1" }),
			op("pick", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Order = "WIDGET", 1, "A1", "PO 2026/17" }),
		)).want(200)
		// The desk returns a BOLT without a batch (matched to L1, shipped
		// first) and a WIDGET.
		var pr syncproto.PushResponse
		e.push(desk, desk.numbered(
			op("return", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Order = "BOLT", 1, "RET", "SO-1" }),
			op("return", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Order = "WIDGET", 1, "RET", "SO-1" }),
		)).want(200).decode(&pr)
		for _, r := range pr.Results {
			if r.Status != syncproto.StatusApplied {
				t.Fatalf("return: %+v", r)
			}
		}

		want := []syncproto.OrderLine{
			{SKU: "BOLT", Batch: "L1", Shipped: 2, Returned: 1},
			{SKU: "BOLT", Batch: "L2", Shipped: 1},
			{SKU: "WIDGET", Shipped: 3, Returned: 1},
		}
		for _, dev := range []enrolled{desk, a.dev} {
			got := lookup(dev, "SO-1")
			if got.Order != "SO-1" || !reflect.DeepEqual(got.Lines, want) || got.ServerTime.IsZero() {
				t.Errorf("SO-1 from %s: %+v, want lines %+v", dev.DeviceID, got, want)
			}
		}
		// Spaces around the reference are the stored order's; a slash in
		// it works encoded or not.
		if got := lookup(desk, "%20SO-1%20"); got.Order != "SO-1" || !reflect.DeepEqual(got.Lines, want) {
			t.Errorf("SO-1 with spaces: %+v", got)
		}
		wantPO := []syncproto.OrderLine{{SKU: "WIDGET", Shipped: 1}}
		for _, path := range []string{url.PathEscape("PO 2026/17"), "PO%202026/17"} {
			if got := lookup(desk, path); got.Order != "PO 2026/17" || !reflect.DeepEqual(got.Lines, wantPO) {
				t.Errorf("%s: %+v, want %+v", path, got, wantPO)
			}
		}

		// An unknown order is no error, and its lines are a list.
		r := e.do("GET", "/v1/sync/orders/SO-404", req{proto: true, token: desk.Token}).want(200)
		if !strings.Contains(string(r.body), `"lines":[]`) {
			t.Errorf("unknown order: %s", r.body)
		}
		// Another tenant's order reads as an unknown one.
		b := e.newTenant("beta")
		if got := lookup(b.dev, "SO-1"); len(got.Lines) != 0 {
			t.Errorf("beta sees alpha's SO-1: %+v", got)
		}

		// Malformed references, a missing protocol header, API keys and
		// revoked devices are refused.
		for _, path := range []string{"/v1/sync/orders/", "/v1/sync/orders/%20", "/v1/sync/orders/" + strings.Repeat("x", syncproto.MaxCodeLen+1), "/v1/sync/orders/SO%00"} {
			e.do("GET", path, req{proto: true, token: desk.Token}).wantError(400, syncproto.CodeInvalid)
		}
		e.do("GET", "/v1/sync/orders/SO-1", req{token: desk.Token}).wantError(426, syncproto.CodeUnsupportedProtocol)
		e.do("GET", "/v1/sync/orders/SO-1", req{proto: true, token: a.staff}).wantError(401, syncproto.CodeUnauthorized)
		if err := e.l.RevokeDevice(e.ctx, a.ID, desk.DeviceID); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/v1/sync/orders/SO-1", req{proto: true, token: desk.Token}).wantError(401, syncproto.CodeUnauthorized)
	})
}

// TestOrderLookupRateLimited: the lookup takes from the device's bucket,
// like push and pull.
func TestOrderLookupRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *server.Config) { c.DeviceRate, c.DeviceBurst = 0.001, 2 })
	a := e.newTenant("alpha")
	for range 2 {
		e.do("GET", "/v1/sync/orders/SO-1", req{proto: true, token: a.dev.Token}).want(200)
	}
	r := e.do("GET", "/v1/sync/orders/SO-1", req{proto: true, token: a.dev.Token})
	r.wantError(429, syncproto.CodeRateLimited)
	if r.header.Get(syncproto.HeaderRetryAfter) == "" {
		t.Errorf("429 without Retry-After")
	}
}
