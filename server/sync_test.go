package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/server"
	"stocksync/syncproto"
)

// shift is a push that gets one result of every status.
func shift(dev *enrolled) []syncproto.Op {
	return dev.numbered(
		op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 10, "A1" }),
		op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "BOLT", 5, "A2" }), // batch generated
		op("pick", func(o *syncproto.Op) { o.Barcode, o.Qty, o.Location = "4000001000013", 15, "A1" }),
		op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "NOPE", 1, "A1" }),
		op("adjust", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, "A1" }), // no reason
	)
}

func TestEnrollPushPull(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		if a.dev.DeviceID == uuid.Nil || !strings.HasPrefix(a.dev.Token, "ssd_") || a.dev.Warehouse != "W1" ||
			a.dev.BatchPrefix == "" || a.dev.LedgerID != a.LedgerID.String() {
			t.Fatalf("enroll response %+v", a.dev.EnrollResponse)
		}
		ops := shift(&a.dev)
		var pr syncproto.PushResponse
		e.push(a.dev, ops).want(200).decode(&pr)
		if pr.AckedSeq != 5 || len(pr.Results) != 5 || pr.ServerTime.IsZero() {
			t.Fatalf("push response %+v", pr)
		}
		want := []struct {
			status syncproto.Status
			code   syncproto.Code
		}{
			{syncproto.StatusApplied, ""},
			{syncproto.StatusApplied, ""},
			{syncproto.StatusFlagged, syncproto.CodeNegativeStock},
			{syncproto.StatusHeld, syncproto.CodeUnknownReference},
			{syncproto.StatusRejected, syncproto.CodeReasonRequired},
		}
		for i, w := range want {
			r := pr.Results[i]
			if r.OpID != ops[i].OpID || r.Seq != ops[i].Seq || r.Status != w.status || r.Code != w.code || r.Replayed {
				t.Errorf("result %d = %+v, want %s %s", i, r, w.status, w.code)
			}
			if (w.status == syncproto.StatusFlagged || w.status == syncproto.StatusHeld) &&
				(r.ReviewID == nil || len(r.ReviewIDs) == 0 || *r.ReviewID != r.ReviewIDs[0]) {
				t.Errorf("result %d has no review: %+v", i, r)
			}
		}
		if got, want := pr.Results[1].Batch, syncproto.GeneratedBatchCode(a.dev.BatchPrefix, ops[1].OpID, ops[1].OccurredAt); got != want {
			t.Errorf("generated batch %q, want %q", got, want)
		}

		// Replaying the same push changes nothing and answers the same.
		var again syncproto.PushResponse
		e.push(a.dev, ops).want(200).decode(&again)
		if again.AckedSeq != 5 || len(again.Results) != 5 {
			t.Fatalf("replay %+v", again)
		}
		for i := range again.Results {
			r, first := again.Results[i], pr.Results[i]
			if !r.Replayed {
				t.Errorf("replay result %d not marked replayed", i)
			}
			r.Replayed = false
			rj, _ := json.Marshal(r)
			fj, _ := json.Marshal(first)
			if !bytes.Equal(rj, fj) {
				t.Errorf("replay result %d = %s, first %s", i, rj, fj)
			}
		}
		stock := e.stock(a.staff)
		if stock["A1/WIDGET/"] != -5 || stock["A2/BOLT/"+pr.Results[1].Batch] != 5 {
			t.Errorf("stock after replay %v", stock)
		}

		// Pull: the whole scope, with the device's open reviews.
		var page syncproto.PullResponse
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		if page.LedgerID != a.LedgerID.String() || !page.Reset || page.More || page.Cursor == "" || page.AckedSeq != 5 ||
			page.Warehouse.Code != "W1" || len(page.Items) != 2 || len(page.Locations) != 3 {
			t.Fatalf("pull page %+v", page)
		}
		bal := map[string]int64{}
		for _, b := range page.Balances {
			bal[b.Location+"/"+b.SKU+"/"+b.Batch] = b.OnHand
		}
		if bal["A1/WIDGET/"] != -5 || bal["A2/BOLT/"+pr.Results[1].Batch] != 5 {
			t.Errorf("pulled balances %v", bal)
		}
		if len(page.Decisions) != 2 {
			t.Fatalf("decisions %+v", page.Decisions)
		}
		for _, d := range page.Decisions {
			if d.Status != "open" || len(d.OpIDs) != 1 || (d.OpIDs[0] != ops[2].OpID && d.OpIDs[0] != ops[3].OpID) || d.Action != "" {
				t.Errorf("decision %+v", d)
			}
		}
		barcodes := map[string][]string{}
		for _, it := range page.Items {
			barcodes[it.SKU] = it.Barcodes
		}
		if !slices.Equal(barcodes["WIDGET"], []string{"4000001000013"}) || barcodes["BOLT"] == nil {
			t.Errorf("items %+v", page.Items)
		}

		// The next pull from that cursor has nothing new.
		var next syncproto.PullResponse
		e.do("GET", "/v1/sync/pull?cursor="+page.Cursor+"&limit=10", req{proto: true, token: a.dev.Token}).want(200).decode(&next)
		if next.Reset || next.More || len(next.Items)+len(next.Balances)+len(next.Decisions) != 0 {
			t.Errorf("second pull %+v", next)
		}
		// A malformed cursor is 400, and says how to recover.
		e.do("GET", "/v1/sync/pull?cursor=garbage", req{proto: true, token: a.dev.Token}).wantError(400, syncproto.CodeInvalid)
		e.do("GET", "/v1/sync/pull?limit=0", req{proto: true, token: a.dev.Token}).wantError(400, syncproto.CodeInvalid)
	})
}

func TestPullPages(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		cursor, pages, items := "", 0, 0
		for {
			var p syncproto.PullResponse
			e.do("GET", "/v1/sync/pull?limit=2&cursor="+cursor, req{proto: true, token: a.dev.Token}).want(200).decode(&p)
			pages++
			items += len(p.Items)
			cursor = p.Cursor
			if !p.More {
				break
			}
			if pages > 10 {
				t.Fatal("pull never ends")
			}
		}
		if pages < 3 || items != 2 {
			t.Errorf("%d pages, %d items", pages, items)
		}
	})
}

func TestSeqGapAndBehind(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		ops := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 3, "A1" }))
		e.push(a.dev, ops).want(200)

		// A push starting at acked_seq + 2 is refused with the acked seq.
		a.dev.seq++
		gap := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 3, "A1" }))
		er := e.push(a.dev, gap).wantError(409, syncproto.CodeSeqGap)
		if er.AckedSeq == nil || *er.AckedSeq != 1 {
			t.Errorf("seq_gap acked_seq %v", er.AckedSeq)
		}

		// A device that knows acked_seq 0 and sends another operation
		// under the acked seq 1 was restored from a backup: refused whole.
		restored := []syncproto.Op{op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Seq = "WIDGET", 100, "A1", 1 })}
		er = e.push(a.dev, restored, func(r *req) {
			r.headers = map[string]string{syncproto.HeaderAckedSeq: "0", syncproto.HeaderPending: "1"}
		}).wantError(409, syncproto.CodeSeqBehind)
		if er.AckedSeq == nil || *er.AckedSeq != 1 {
			t.Errorf("seq_behind acked_seq %v", er.AckedSeq)
		}
		if got := e.stock(a.staff)["A1/WIDGET/"]; got != 3 {
			t.Errorf("stock %d after refused pushes, want 3", got)
		}
		// A lost answer looks the same from the device, but it resends the
		// same operation: a replay.
		var pr syncproto.PushResponse
		e.push(a.dev, ops, func(r *req) { r.headers = map[string]string{syncproto.HeaderAckedSeq: "0"} }).want(200).decode(&pr)
		if !pr.Results[0].Replayed {
			t.Errorf("resent op after a lost answer: %+v, want replayed", pr.Results[0])
		}
		// A device that knew seq 1 was acked and reuses it is a bug, not a
		// restore: op_conflict.
		e.push(a.dev, restored, func(r *req) { r.headers = map[string]string{syncproto.HeaderAckedSeq: "1"} }).want(200).decode(&pr)
		if pr.Results[0].Status != syncproto.StatusRejected || pr.Results[0].Code != syncproto.CodeOpConflict {
			t.Errorf("reused seq result %+v", pr.Results[0])
		}
	})
}

func TestPushRefusals(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		other := e.enroll(a.ID, "W1", "handheld 2")
		receive := func() syncproto.Op {
			return op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Seq = "WIDGET", 1, "A1", 1 })
		}

		t.Run("another device's id", func(t *testing.T) {
			r := req{proto: true, token: a.dev.Token, json: syncproto.PushRequest{DeviceID: other.DeviceID, DeviceTime: time.Now(), Ops: []syncproto.Op{receive()}}}
			e.do("POST", "/v1/sync/push", r).wantError(403, syncproto.CodeForbidden)
		})
		t.Run("unknown field", func(t *testing.T) {
			body := `{"device_id":"` + a.dev.DeviceID.String() + `","device_time":"2026-11-27T10:00:00Z","ops":[` +
				`{"op_id":"` + uuid.NewString() + `","seq":1,"kind":"receive","occurred_at":"2026-11-27T09:00:00Z","sku":"WIDGET","qty":1,"location":"A1","tenant":"x"}]}`
			er := e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: []byte(body), ctype: "application/json"}).wantError(400, syncproto.CodeInvalid)
			if !strings.Contains(er.Message, "tenant") {
				t.Errorf("message %q does not name the field", er.Message)
			}
		})
		t.Run("malformed JSON", func(t *testing.T) {
			e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: []byte(`{"device_id":`), ctype: "application/json"}).wantError(400, syncproto.CodeInvalid)
		})
		t.Run("bad backlog header", func(t *testing.T) {
			e.push(a.dev, []syncproto.Op{receive()}, func(r *req) { r.headers = map[string]string{syncproto.HeaderPending: "-3"} }).wantError(400, syncproto.CodeInvalid)
		})
		t.Run("too many ops", func(t *testing.T) {
			ops := make([]syncproto.Op, syncproto.MaxOpsPerPush+1)
			for i := range ops {
				ops[i] = receive()
				ops[i].Seq = int64(i + 1)
			}
			e.push(a.dev, ops).wantError(413, syncproto.CodeTooLarge)
		})
		t.Run("no token", func(t *testing.T) {
			r := e.do("POST", "/v1/sync/push", req{proto: true, json: syncproto.PushRequest{DeviceID: a.dev.DeviceID, DeviceTime: time.Now()}})
			r.wantError(401, syncproto.CodeUnauthorized)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
		t.Run("API key as device token", func(t *testing.T) {
			e.do("GET", "/v1/sync/pull", req{proto: true, token: a.admin}).wantError(401, syncproto.CodeUnauthorized)
		})
		// Nothing of the refused pushes was applied.
		var devs struct{ Devices []map[string]any }
		e.do("GET", "/v1/devices", req{token: a.staff}).want(200).decode(&devs)
		for _, d := range devs.Devices {
			if d["acked_seq"].(float64) != 0 {
				t.Errorf("device %v advanced", d)
			}
		}
		if s := e.stock(a.staff); len(s) != 0 {
			t.Errorf("stock %v after refused pushes", s)
		}
	})
}

func TestRevokedDevice(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		e.do("POST", "/v1/devices/"+a.dev.DeviceID.String()+"/revoke", req{token: a.manager}).wantError(403, syncproto.CodeForbidden)
		var d map[string]any
		e.do("POST", "/v1/devices/"+a.dev.DeviceID.String()+"/revoke", req{token: a.admin}).want(200).decode(&d)
		if d["revoked_at"] == nil {
			t.Errorf("revoked device %v", d)
		}
		ops := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, "A1" }))
		e.push(a.dev, ops).wantError(401, syncproto.CodeUnauthorized)
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).wantError(401, syncproto.CodeUnauthorized)
	})
}

func TestProtocolHeader(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	a := e.newTenant("alpha")
	for _, route := range []struct{ method, path string }{
		{"POST", "/v1/devices/enroll"}, {"POST", "/v1/sync/push"}, {"GET", "/v1/sync/pull"},
	} {
		for _, h := range []string{"", "2", "one", "0"} {
			r := req{token: a.dev.Token, headers: map[string]string{}}
			if h != "" {
				r.headers[syncproto.HeaderProtocol] = h
			}
			if route.method == "POST" {
				r.json = map[string]any{}
			}
			er := e.do(route.method, route.path, r).wantError(426, syncproto.CodeUnsupportedProtocol)
			if !slices.Equal(er.Versions, []int{1}) {
				t.Errorf("%s %s with %q: versions %v", route.method, route.path, h, er.Versions)
			}
		}
	}
}

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	const limit = 8 << 10
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind, func(c *server.Config) { c.MaxBodyBytes = limit })
		a := e.newTenant("alpha")
		big := func() []syncproto.Op {
			var ops []syncproto.Op
			for i := range 60 {
				ops = append(ops, op("receive", func(o *syncproto.Op) {
					o.SKU, o.Qty, o.Location, o.Seq, o.Note = "WIDGET", 1, "A1", int64(i+1), strings.Repeat("n", 100)
				}))
			}
			return ops
		}
		body, _ := json.Marshal(syncproto.PushRequest{DeviceID: a.dev.DeviceID, DeviceTime: time.Now(), Ops: big()})
		if len(body) <= limit {
			t.Fatalf("test body %d bytes is not over the limit", len(body))
		}
		r := req{proto: true, token: a.dev.Token, raw: body, ctype: "application/json"}
		e.do("POST", "/v1/sync/push", r).wantError(413, syncproto.CodeTooLarge)
		r.chunked = true
		e.do("POST", "/v1/sync/push", r).wantError(413, syncproto.CodeTooLarge)
		// A gzip body small on the wire but over the limit once inflated.
		r.chunked, r.gzip = false, true
		bomb := bytes.Repeat([]byte(" "), 4*limit)
		bomb = append(append([]byte{}, body[:len(body)-1]...), append(bomb, '}')...)
		r.raw = bomb
		e.do("POST", "/v1/sync/push", r).wantError(413, syncproto.CodeTooLarge)
		// Not gzip at all.
		e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: []byte("{}"), ctype: "application/json",
			headers: map[string]string{"Content-Encoding": "gzip"}}).wantError(400, syncproto.CodeInvalid)
		if s := e.stock(a.staff); len(s) != 0 {
			t.Errorf("stock %v after refused pushes", s)
		}
		// Under the limit it goes through, chunked and gzip alike.
		small, _ := json.Marshal(syncproto.PushRequest{DeviceID: a.dev.DeviceID, DeviceTime: time.Now(), Ops: big()[:5]})
		e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: small, ctype: "application/json", chunked: true, gzip: true}).want(200)
		if got := e.stock(a.staff)["A1/WIDGET/"]; got != 5 {
			t.Errorf("stock %d, want 5", got)
		}
	})
}

func TestGzipResponses(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	a := e.newTenant("alpha")
	var ops []syncproto.Op
	for range 30 {
		ops = append(ops, op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, "A1" }))
	}
	ops = a.dev.numbered(ops...)
	r := e.push(a.dev, ops, func(r *req) { r.gzip = true; r.headers = map[string]string{"Accept-Encoding": "gzip"} }).want(200)
	if r.header.Get("Content-Encoding") != "gzip" || !strings.Contains(r.header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("big answer not gzipped: %v", r.header)
	}
	var pr syncproto.PushResponse
	r.decode(&pr)
	if len(pr.Results) != 30 || pr.AckedSeq != 30 {
		t.Errorf("gzip push answer %+v", pr)
	}
	// Without Accept-Encoding, or for a small answer, plain JSON.
	r = e.push(a.dev, ops).want(200)
	if r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzipped without Accept-Encoding")
	}
	r = e.do("GET", "/healthz", req{headers: map[string]string{"Accept-Encoding": "gzip"}}).want(200)
	if r.header.Get("Content-Encoding") != "" {
		t.Errorf("tiny answer gzipped")
	}
	r = e.push(a.dev, ops, func(r *req) { r.headers = map[string]string{"Accept-Encoding": "gzip;q=0"} }).want(200)
	if r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzipped although refused with q=0")
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *server.Config) {
		c.DeviceRate, c.DeviceBurst = 0.2, 2
		c.TenantRate, c.TenantBurst = -1, 0
		c.EnrollRate, c.EnrollBurst = 0.1, 2 // the tenant's own device takes one
	})
	a := e.newTenant("alpha")
	pull := func(dev enrolled) *resp {
		return e.do("GET", "/v1/sync/pull", req{proto: true, token: dev.Token})
	}
	pull(a.dev).want(200)
	pull(a.dev).want(200)
	r := pull(a.dev)
	r.wantError(429, syncproto.CodeRateLimited)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 5 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Other devices have their own bucket, and the server stays healthy.
	other := e.enroll(a.ID, "W1", "handheld 2")
	pull(other).want(200)
	e.do("GET", "/healthz", req{}).want(200)
	e.do("GET", "/readyz", req{}).want(200)

	// Enrollment is limited per client address.
	_, code, err := e.l.CreateEnrollmentCode(e.ctx, a.ID, "W1", 0)
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: code, Name: "h3"}})
	r.wantError(429, syncproto.CodeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if got := e.metric("stocksync_rate_limited_total", map[string]string{"scope": "device"}); got != 1 {
		t.Errorf("device rate-limited metric %v, want 1", got)
	}
	if got := e.metric("stocksync_rate_limited_total", map[string]string{"scope": "enroll"}); got != 1 {
		t.Errorf("enroll rate-limited metric %v, want 1", got)
	}
}

func TestTenantRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *server.Config) { c.TenantRate, c.TenantBurst = 0.1, 3 })
	a := e.newTenant("alpha")
	for range 3 {
		e.do("GET", "/v1/devices", req{token: a.staff}).want(200)
	}
	e.do("GET", "/v1/devices", req{token: a.staff}).wantError(429, syncproto.CodeRateLimited)
	e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).wantError(429, syncproto.CodeRateLimited)
	// Another tenant is not held back.
	b := e.newTenant("beta")
	e.do("GET", "/v1/devices", req{token: b.staff}).want(200)
}

func TestBacklogReported(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		ops := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, "A1" }))
		e.push(a.dev, ops, func(r *req) {
			r.headers = map[string]string{syncproto.HeaderPending: "7", syncproto.HeaderOldestUnsent: "5400",
				syncproto.HeaderAckedSeq: "0", syncproto.HeaderAppVersion: "2.1.0"}
		}).want(200)
		var out struct {
			Devices []struct {
				ID          uuid.UUID  `json:"id"`
				Name        string     `json:"name"`
				Warehouse   string     `json:"warehouse"`
				AppVersion  string     `json:"app_version"`
				AckedSeq    int64      `json:"acked_seq"`
				LastSeenAt  *time.Time `json:"last_seen_at"`
				Pending     int64      `json:"pending"`
				Oldest      int64      `json:"oldest_unsent_seconds"`
				RevokedAt   *time.Time `json:"revoked_at"`
				BatchPrefix string     `json:"batch_prefix"`
				CreatedAt   time.Time  `json:"created_at"`
				ClockOffset int64      `json:"clock_offset_ms"`
			} `json:"devices"`
		}
		e.do("GET", "/v1/devices", req{token: a.staff}).want(200).decode(&out)
		if len(out.Devices) != 1 {
			t.Fatalf("devices %+v", out.Devices)
		}
		d := out.Devices[0]
		if d.ID != a.dev.DeviceID || d.Name != "handheld 1" || d.Warehouse != "W1" || d.AppVersion != "2.1.0" || d.AckedSeq != 1 ||
			d.LastSeenAt == nil || d.Pending != 7 || d.Oldest != 5400 || d.RevokedAt != nil || d.BatchPrefix != a.dev.BatchPrefix {
			t.Errorf("device %+v", d)
		}
		// A pull reports too.
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token, headers: map[string]string{
			syncproto.HeaderPending: "0", syncproto.HeaderOldestUnsent: "0"}}).want(200)
		e.do("GET", "/v1/devices", req{token: a.staff}).want(200).decode(&out)
		if d := out.Devices[0]; d.Pending != 0 || d.Oldest != 0 {
			t.Errorf("after pull: %+v", d)
		}
	})
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		ops := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 4, "A1" }))
		body, _ := json.Marshal(syncproto.PushRequest{DeviceID: a.dev.DeviceID, DeviceTime: time.Now(), Ops: ops})

		// Start a push whose body is still arriving when shutdown begins.
		pr, pw := io.Pipe()
		hr, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, e.base+"/v1/sync/push", pr)
		hr.Header.Set(syncproto.HeaderProtocol, "1")
		hr.Header.Set("Authorization", "Bearer "+a.dev.Token)
		hr.Header.Set("Content-Type", "application/json")
		type result struct {
			status int
			body   []byte
			err    error
		}
		resc := make(chan result, 1)
		go func() {
			res, err := e.client.Do(hr)
			if err != nil {
				resc <- result{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			resc <- result{res.StatusCode, b, err}
		}()
		if _, err := pw.Write(body[:len(body)/2]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the handler is reading the body

		stopped := make(chan error, 1)
		go func() { stopped <- e.stop() }()
		// readyz turns 503 while the push is in flight.
		deadline := time.Now().Add(5 * time.Second)
		for {
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(e.ctx, "GET", "/readyz", nil))
			if rec.Code == 503 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz still %d during shutdown", rec.Code)
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case err := <-stopped:
			t.Fatalf("Serve returned (%v) while a push was in flight", err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := pw.Write(body[len(body)/2:]); err != nil {
			t.Fatal(err)
		}
		_ = pw.Close()
		res := <-resc
		if res.err != nil || res.status != 200 {
			t.Fatalf("in-flight push: %d %s %v", res.status, res.body, res.err)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		bal, err := e.l.Balances(e.ctx, a.ID, ledger.BalanceFilter{SKU: "WIDGET"})
		if err != nil || len(bal) != 1 || bal[0].OnHand != 4 {
			t.Fatalf("balances after shutdown %+v %v", bal, err)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		ops := shift(&a.dev)
		e.push(a.dev, ops).want(200)
		e.push(a.dev, ops).want(200)
		for status, want := range map[string]float64{"applied": 2, "flagged": 1, "held": 1, "rejected": 1, "replayed": 5} {
			if got := e.metric("stocksync_operations_total", map[string]string{"tenant": "alpha", "status": status}); got != want {
				t.Errorf("operations %s = %v, want %v", status, got, want)
			}
		}
		if got := e.metric("stocksync_merge_duration_seconds_count", nil); got != 2 {
			t.Errorf("merge histogram count %v", got)
		}
		if got := e.metric("stocksync_push_operations_sum", nil); got != 10 {
			t.Errorf("push operations sum %v", got)
		}
		if got := e.metric("stocksync_push_bytes_count", nil); got != 2 {
			t.Errorf("push bytes count %v", got)
		}
		if got := e.metric("stocksync_open_reviews", map[string]string{"tenant": "alpha"}); got != 2 {
			t.Errorf("open reviews %v", got)
		}
		if got := e.metric("stocksync_http_requests_total", map[string]string{"route": "/v1/sync/push", "method": "POST", "status": "200"}); got != 2 {
			t.Errorf("http requests %v", got)
		}
		e.do("GET", "/nowhere", req{}).want(404)
		if got := e.metric("stocksync_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}); got != 1 {
			t.Errorf("unmatched requests %v", got)
		}
	})
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *server.Config) { c.MetricsToken = "s3cret" })
	e.do("GET", "/metrics", req{}).wantError(401, syncproto.CodeUnauthorized)
	e.do("GET", "/metrics", req{token: "wrong"}).wantError(401, syncproto.CodeUnauthorized)
	r := e.do("GET", "/metrics", req{token: "s3cret"}).want(200)
	if !strings.Contains(string(r.body), "stocksync_http_requests_total") {
		t.Errorf("metrics body lacks the request counter")
	}
}

func TestRequestLogs(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	a := e.newTenant("alpha")
	e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200)
	e.do("GET", "/v1/devices", req{token: a.admin}).want(200)
	logs := e.logs.String()
	for _, secret := range []string{a.dev.Token, a.admin} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a credential reached the log")
		}
	}
	var found bool
	for line := range strings.SplitSeq(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec["route"] != "/v1/sync/pull" {
			continue
		}
		found = true
		if rec["method"] != "GET" || rec["status"] != float64(200) || rec["tenant"] != a.ID.String() ||
			rec["device"] != a.dev.DeviceID.String() || rec["duration"] == nil {
			t.Errorf("request log %v", rec)
		}
	}
	if !found {
		t.Errorf("no request log for the pull in:\n%s", logs)
	}
}

func TestGeneratedBatchCodeAgrees(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 23, 59, 0, 0, time.FixedZone("x", -5*3600))
	for _, prefix := range []string{"", "G", "4E8F00", "H7K2"} {
		for range 5 {
			id := uuid.Must(uuid.NewV7())
			if s, l := syncproto.GeneratedBatchCode(prefix, id, at), ledger.GeneratedBatchCode(prefix, id, at); s != l {
				t.Errorf("prefix %q op %s: syncproto %q, ledger %q", prefix, id, s, l)
			}
		}
	}
}

// TestMetricsMethodLabel: net/http accepts any token as a method, so the
// method label of the request metrics must not take whatever a client
// sends, or a scanner grows a series per made-up method.
func TestMetricsMethodLabel(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	for i := range 20 {
		m := "X" + strconv.Itoa(i)
		e.do(m, "/nowhere", req{}).want(404)
		e.do(m, "/v1/stock", req{}).want(405)
	}
	r := e.do("GET", "/metrics", req{}).want(200)
	series := 0
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if strings.HasPrefix(line, "stocksync_http_requests_total{") {
			series++
			if strings.Contains(line, `method="X`) {
				t.Errorf("a client's made-up method became a label: %s", line)
			}
		}
	}
	if series > 4 {
		t.Errorf("%d request series after 40 requests with made-up methods", series)
	}
	if got := e.metric("stocksync_http_requests_total", map[string]string{"method": "other"}); got != 40 {
		t.Errorf("requests with method other = %v, want 40", got)
	}
}

// TestEnrollLimitIPv6Prefix: one IPv6 client holds a whole /64 and can
// send every request from a new address, so the enrollment limit (the
// only limit keyed by something a client picks) counts a /64 as one
// client; otherwise every request is a fresh bucket, the limit stops
// nothing, and the buckets grow with the requests.
func TestEnrollLimitIPv6Prefix(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *server.Config) {
		c.EnrollRate, c.EnrollBurst = 0.01, 1
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	enroll := func(addr string) *resp {
		return e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: "AAAAA-AAAAA", Name: "h"},
			headers: map[string]string{"X-Forwarded-For": addr}})
	}
	enroll("2001:db8:1:2::1").wantError(401, syncproto.CodeUnauthorized)
	for i := range 5 {
		enroll(fmt.Sprintf("2001:db8:1:2:%x::%x", i+1, i+7)).wantError(429, syncproto.CodeRateLimited)
	}
	// Another /64, and IPv4 addresses, have their own buckets.
	enroll("2001:db8:1:3::1").wantError(401, syncproto.CodeUnauthorized)
	enroll("192.0.2.1").wantError(401, syncproto.CodeUnauthorized)
	enroll("192.0.2.2").wantError(401, syncproto.CodeUnauthorized)
	enroll("192.0.2.1").wantError(429, syncproto.CodeRateLimited)
}
