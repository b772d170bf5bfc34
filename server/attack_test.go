package server_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/server"
	"stocksync/syncproto"
)

// The attack matrix (issue 4): every route of the running server is called
// without a credential, with revoked ones, with the wrong kind of
// credential, with too small a role, and with another tenant's
// identifiers, and must answer 401, 403 or 404 with the protocol's error
// JSON, without ever telling a caller that another tenant's object exists.
// TestAttackMatrix fails when the server grows a route this table lacks.

const attackMetricsToken = "metrics-secret-for-the-attack-matrix"

// objects names one object of each kind a request can point at: a
// victim's real ones, or made-up ones that exist nowhere.
type objects struct {
	device, review, key, op uuid.UUID
	sku, warehouse          string
	code                    string // an enrollment code
	cursor                  string // a pull cursor
	// order is an order reference. It is left out of ids: an order
	// lookup echoes the reference it was asked about, and shows A's data
	// only through A's SKU, which ids holds.
	order string
}

// ids are the strings of o that may appear in an answer, so two answers
// can be compared with them blanked out.
func (o objects) ids() []string {
	return []string{o.device.String(), o.review.String(), o.key.String(), o.op.String(), o.sku, o.warehouse}
}

// attackRoute is how the matrix calls one route. auth is who may call it:
// "public", "metrics", "enroll" (public, but takes a secret code),
// "device", or an API key role. build makes the request naming o's
// objects; compare says whether the answer for a victim's objects must
// equal the answer for made-up ones (false where each call creates
// something new, so answers differ by their new IDs).
type attackRoute struct {
	auth    string
	build   func(o objects) (path string, body any)
	compare bool
}

func attackRoutes() map[string]attackRoute {
	noBody := func(path func(o objects) string) func(o objects) (string, any) {
		return func(o objects) (string, any) { return path(o), nil }
	}
	return map[string]attackRoute{
		"GET /healthz": {auth: "public", build: noBody(func(objects) string { return "/healthz" })},
		"GET /readyz":  {auth: "public", build: noBody(func(objects) string { return "/readyz" })},
		"GET /metrics": {auth: "metrics", build: noBody(func(objects) string { return "/metrics" })},
		"POST /v1/devices/enroll": {auth: "enroll", build: func(o objects) (string, any) {
			return "/v1/devices/enroll", syncproto.EnrollRequest{Code: o.code, Name: "intruder", AppVersion: "1.0.0"}
		}},
		"POST /v1/sync/push": {auth: "device", compare: true, build: func(o objects) (string, any) {
			return "/v1/sync/push", syncproto.PushRequest{DeviceID: o.device, DeviceTime: time.Now().UTC(), Ops: []syncproto.Op{
				{OpID: o.op, Seq: 1, Kind: "receive", OccurredAt: time.Now().UTC(), SKU: o.sku, Qty: 1, Location: "A1"}}}
		}},
		"GET /v1/sync/pull": {auth: "device", compare: true, build: noBody(func(o objects) string { return "/v1/sync/pull?cursor=" + o.cursor })},
		"GET /v1/sync/orders/{order}": {auth: "device", compare: true, build: noBody(func(o objects) string {
			return "/v1/sync/orders/" + url.PathEscape(cmp.Or(o.order, "SO-0"))
		})},
		"POST /v1/catalog": {auth: "manager", compare: true, build: func(o objects) (string, any) {
			return "/v1/catalog", map[string]any{"locations": []map[string]string{{"warehouse": o.warehouse, "code": "X9"}}}
		}},
		"POST /v1/devices/codes": {auth: "manager", compare: true, build: func(o objects) (string, any) {
			return "/v1/devices/codes", map[string]any{"warehouse": o.warehouse}
		}},
		"GET /v1/devices":      {auth: "staff", compare: true, build: noBody(func(objects) string { return "/v1/devices" })},
		"GET /v1/devices/{id}": {auth: "staff", compare: true, build: noBody(func(o objects) string { return "/v1/devices/" + o.device.String() })},
		"POST /v1/devices/{id}/revoke": {auth: "admin", compare: true, build: noBody(func(o objects) string {
			return "/v1/devices/" + o.device.String() + "/revoke"
		})},
		"GET /v1/stock": {auth: "staff", compare: true, build: noBody(func(o objects) string {
			return "/v1/stock?warehouse=" + o.warehouse + "&sku=" + o.sku
		})},
		"GET /v1/movements": {auth: "staff", compare: true, build: noBody(func(o objects) string {
			return "/v1/movements?op_id=" + o.op.String() + "&sku=" + o.sku + "&warehouse=" + o.warehouse
		})},
		"GET /v1/reviews": {auth: "staff", compare: true, build: noBody(func(o objects) string {
			return "/v1/reviews?device_id=" + o.device.String() + "&op_id=" + o.op.String()
		})},
		"GET /v1/reviews/{id}": {auth: "staff", compare: true, build: noBody(func(o objects) string { return "/v1/reviews/" + o.review.String() })},
		"POST /v1/reviews/{id}/resolve": {auth: "manager", compare: true, build: func(o objects) (string, any) {
			return "/v1/reviews/" + o.review.String() + "/resolve", map[string]any{"action": "accept", "note": "not yours"}
		}},
		"GET /v1/ops":  {auth: "staff", compare: true, build: noBody(func(o objects) string { return "/v1/ops?device_id=" + o.device.String() })},
		"GET /v1/keys": {auth: "admin", compare: true, build: noBody(func(objects) string { return "/v1/keys" })},
		"POST /v1/keys": {auth: "admin", build: func(objects) (string, any) {
			return "/v1/keys", map[string]any{"name": "probe", "role": "staff"}
		}},
		"POST /v1/keys/{id}/revoke": {auth: "admin", compare: true, build: noBody(func(o objects) string { return "/v1/keys/" + o.key.String() + "/revoke" })},
	}
}

// victim is tenant A of the matrix: a tenant with objects only it has (a
// warehouse, a SKU), an operation, an open review, a used enrollment code
// and a pull cursor.
type victim struct {
	*tenant
	objects
}

func (e *env) newVictim(slug string) *victim {
	e.t.Helper()
	v := &victim{tenant: e.newTenant(slug)}
	_, err := e.l.UpsertCatalog(e.ctx, v.ID, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "AW-" + slug, Name: "Secret annex"}},
		Locations:  []ledger.LocationInput{{Warehouse: "AW-" + slug, Code: "AX"}},
		Items:      []ledger.ItemInput{{SKU: "ASKU-" + slug, Name: "Secret item", Unit: "pcs"}},
	})
	if err != nil {
		e.t.Fatalf("victim catalog: %v", err)
	}
	v.sku, v.warehouse, v.order = "ASKU-"+slug, "AW-"+slug, "AORD-"+slug
	ops := v.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 9, "A1" }),
		op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = v.sku, 3, "A1" }),
		op("pick", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Order = v.sku, 2, "A1", v.order }))
	e.push(v.dev, ops).want(200)
	var lookup syncproto.OrderResponse
	e.do("GET", "/v1/sync/orders/"+v.order, req{proto: true, token: v.dev.Token}).want(200).decode(&lookup)
	if len(lookup.Lines) != 1 || lookup.Lines[0].SKU != v.sku {
		e.t.Fatalf("victim's own order: %+v", lookup)
	}
	v.device, v.op = v.dev.DeviceID, ops[0].OpID
	v.review = e.openReview(v.tenant)
	keys, err := e.l.APIKeys(e.ctx, v.ID)
	if err != nil || len(keys) == 0 {
		e.t.Fatalf("victim keys %v: %v", keys, err)
	}
	v.key = keys[0].ID
	_, v.code, err = e.l.CreateEnrollmentCode(e.ctx, v.ID, "W1", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: v.code, Name: "second"}}).want(200)
	var page syncproto.PullResponse
	e.do("GET", "/v1/sync/pull", req{proto: true, token: v.dev.Token}).want(200).decode(&page)
	v.cursor = page.Cursor
	return v
}

// madeUp names objects that exist in no tenant.
func madeUp() objects {
	return objects{device: uuid.New(), review: uuid.New(), key: uuid.New(), op: uuid.New(),
		sku: "NOSKU-" + uuid.NewString()[:8], warehouse: "NOWH-" + uuid.NewString()[:8], code: "ZZZZZ-ZZZZZ",
		order: "NOORD-" + uuid.NewString()[:8]}
}

// attacker is tenant B: live credentials of every kind, and revoked ones.
type attacker struct {
	*tenant
	revokedKey, revokedDevice string
}

func (e *env) newAttacker(slug string) *attacker {
	e.t.Helper()
	a := &attacker{tenant: e.newTenant(slug)}
	k, secret, err := e.l.CreateAPIKey(e.ctx, a.ID, "retired", ledger.RoleAdmin)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.RevokeAPIKey(e.ctx, a.ID, k.ID); err != nil {
		e.t.Fatal(err)
	}
	a.revokedKey = secret
	gone := e.enroll(a.ID, "W1", "lost handheld")
	if err := e.l.RevokeDevice(e.ctx, a.ID, gone.DeviceID); err != nil {
		e.t.Fatal(err)
	}
	a.revokedDevice = gone.Token
	return a
}

// blank replaces every id of subs in an answer with a placeholder and
// drops the fields that differ between any two answers (server_time), so
// the answers for a victim's objects and made-up ones compare equal when
// nothing about the victim shows.
func blank(body []byte, subs ...string) string {
	s := string(body)
	for _, sub := range subs {
		if sub != "" {
			s = strings.ReplaceAll(s, sub, "<id>")
		}
	}
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) == nil {
		delete(m, "server_time")
		b, _ := json.Marshal(m)
		s = string(b)
	}
	return s
}

func TestAttackMatrix(t *testing.T) {
	t.Parallel()
	routes := attackRoutes()
	// The table must cover the server exactly: a new route without a case
	// fails here, and so does a case for a route that is gone.
	probe := setup(t, "sqlite")
	served := map[string]bool{}
	for _, r := range probe.srv.Routes() {
		if !isAPIRoute(r.Path) {
			continue // the console's pages have their own matrix: TestConsoleRouteMatrix
		}
		key := r.Method + " " + r.Path
		served[key] = true
		if _, ok := routes[key]; !ok {
			t.Errorf("route %s has no case in the attack matrix (attackRoutes)", key)
		}
	}
	for key := range routes {
		if !served[key] {
			t.Errorf("the attack matrix has a case for %s, which the server does not serve", key)
		}
	}
	if t.Failed() {
		return
	}

	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind, func(c *server.Config) { c.MetricsToken = attackMetricsToken })
		a := e.newVictim("alpha")
		b := e.newAttacker("beta")
		stockA := e.stock(a.staff)
		devicesA, err := e.l.Devices(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}

		keys := make([]string, 0, len(routes))
		for k := range routes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		cases := map[string]int{}
		for _, key := range keys {
			rt := routes[key]
			method, _, _ := strings.Cut(key, " ")
			proto := rt.auth == "device" || rt.auth == "enroll"
			call := func(token string, o objects) *resp {
				t.Helper()
				path, body := rt.build(o)
				return e.do(method, path, req{proto: proto, token: token, json: body})
			}
			deny := func(name string, status int, code syncproto.Code, token string, o objects) {
				t.Helper()
				cases[key]++
				r := call(token, o)
				if r.status != status {
					t.Errorf("%s %s: status %d, want %d; body %s", key, name, r.status, status, r.body)
					return
				}
				r.wantError(status, code)
				if status == 401 && rt.auth != "enroll" && r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without WWW-Authenticate", key, name)
				}
			}
			allow := func(name string, token string, o objects) {
				t.Helper()
				cases[key]++
				if r := call(token, o); r.status != 200 {
					t.Errorf("%s %s: status %d, want 200; body %s", key, name, r.status, r.body)
				}
			}
			random := madeUp()
			random.cursor = ""

			switch rt.auth {
			case "public":
				// Health answers everyone and looks at no credential.
				allow("no credential", "", random)
				allow("revoked key", b.revokedKey, random)
				allow("revoked device", b.revokedDevice, random)
				allow("device token", b.dev.Token, random)
				allow("garbage credential", "ssk_nonsense", random)
			case "metrics":
				deny("no credential", 401, syncproto.CodeUnauthorized, "", random)
				deny("device token", 401, syncproto.CodeUnauthorized, b.dev.Token, random)
				deny("admin API key", 401, syncproto.CodeUnauthorized, b.admin, random)
				deny("revoked key", 401, syncproto.CodeUnauthorized, b.revokedKey, random)
				deny("revoked device", 401, syncproto.CodeUnauthorized, b.revokedDevice, random)
				allow("metrics token", attackMetricsToken, random)
			case "enroll":
				// Enrollment takes no credential: the code is the secret,
				// and another tenant's used code (or one next to it, or
				// with any credential beside it) enrolls nothing.
				deny("another tenant's used code", 401, syncproto.CodeUnauthorized, "", a.objects)
				deny("another tenant's used code, typed loosely", 401, syncproto.CodeUnauthorized, "",
					objects{code: strings.ToLower(strings.ReplaceAll(a.code, "-", " "))})
				deny("used code with an admin key", 401, syncproto.CodeUnauthorized, b.admin, a.objects)
				deny("used code with a device token", 401, syncproto.CodeUnauthorized, b.dev.Token, a.objects)
				deny("made-up code", 401, syncproto.CodeUnauthorized, "", random)
				deny("no code", 401, syncproto.CodeUnauthorized, "", objects{})
			case "device":
				deny("no credential", 401, syncproto.CodeUnauthorized, "", random)
				deny("revoked device", 401, syncproto.CodeUnauthorized, b.revokedDevice, random)
				deny("revoked API key", 401, syncproto.CodeUnauthorized, b.revokedKey, random)
				deny("admin API key", 401, syncproto.CodeUnauthorized, b.admin, random)
				deny("another tenant's device token as a key", 401, syncproto.CodeUnauthorized, strings.Replace(b.dev.Token, "ssd_", "ssk_", 1), random)
			default:
				deny("no credential", 401, syncproto.CodeUnauthorized, "", random)
				deny("revoked API key", 401, syncproto.CodeUnauthorized, b.revokedKey, random)
				deny("revoked device", 401, syncproto.CodeUnauthorized, b.revokedDevice, random)
				deny("device token", 401, syncproto.CodeUnauthorized, b.dev.Token, random)
				deny("device token as a key", 401, syncproto.CodeUnauthorized, strings.Replace(b.dev.Token, "ssd_", "ssk_", 1), random)
				if rt.auth == "manager" || rt.auth == "admin" {
					deny("staff key", 403, syncproto.CodeForbidden, b.staff, a.objects)
					deny("staff key, made-up objects", 403, syncproto.CodeForbidden, b.staff, random)
				}
				if rt.auth == "admin" {
					deny("manager key", 403, syncproto.CodeForbidden, b.manager, a.objects)
				}
			}

			// Another tenant's objects under B's live credential answer
			// exactly as made-up ones do, and show nothing of A.
			var token string
			switch rt.auth {
			case "public", "metrics", "enroll":
				continue
			case "device":
				token = b.dev.Token
			default:
				token = b.admin
			}
			cases[key]++
			ra := call(token, a.objects)
			rr := call(token, random)
			// An error may echo the ID it was asked about; an answer
			// with data must not hold anything of A's.
			for _, s := range append(a.ids(), a.cursor) {
				if ra.status < 300 && bytes.Contains(ra.body, []byte(s)) {
					t.Errorf("%s with A's objects under B's credential shows %q: %s", key, s, ra.body)
				}
			}
			if ra.status >= 500 || (ra.status >= 400 && ra.status != 400 && ra.status != 403 && ra.status != 404) {
				t.Errorf("%s with A's objects under B's credential: status %d: %s", key, ra.status, ra.body)
			}
			if ra.status >= 400 {
				var eb syncproto.ErrorBody
				if json.Unmarshal(ra.body, &eb) != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
					t.Errorf("%s: error answer is not the protocol's error JSON: %s", key, ra.body)
				}
			}
			if !rt.compare {
				continue
			}
			subs := append(append(a.ids(), random.ids()...), a.cursor, a.order, random.order)
			if ra.status != rr.status || blank(ra.body, subs...) != blank(rr.body, subs...) {
				t.Errorf("%s tells A's objects from made-up ones under B's credential:\n A's:      %d %s\n made-up:  %d %s",
					key, ra.status, ra.body, rr.status, rr.body)
			}
		}

		// B's own device pushing under A's op_id and SKU gets the answer
		// an unknown op_id and SKU get: A's operation is not B's replay.
		var withA, withRandom syncproto.PushResponse
		opA := b.dev.numbered(op("receive", func(o *syncproto.Op) { o.OpID, o.SKU, o.Qty, o.Location = a.op, a.sku, 1, "A1" }))
		e.push(b.dev, opA).want(200).decode(&withA)
		rnd := madeUp()
		opR := b.dev.numbered(op("receive", func(o *syncproto.Op) { o.OpID, o.SKU, o.Qty, o.Location = rnd.op, rnd.sku, 1, "A1" }))
		e.push(b.dev, opR).want(200).decode(&withRandom)
		ga, gr := withA.Results[0], withRandom.Results[0]
		if ga.Status != gr.Status || ga.Code != gr.Code || ga.Replayed ||
			strings.ReplaceAll(ga.Message, a.sku, "<sku>") != strings.ReplaceAll(gr.Message, rnd.sku, "<sku>") {
			t.Errorf("B's push under A's op_id and SKU: %+v; under made-up ones: %+v", ga, gr)
		}
		cases["POST /v1/sync/push"]++

		// Nothing of A changed or went away.
		if got := e.stock(a.staff); fmt.Sprint(got) != fmt.Sprint(stockA) {
			t.Errorf("A's stock %v, was %v", got, stockA)
		}
		var rv reviewOut
		e.do("GET", "/v1/reviews/"+a.review.String(), req{token: a.staff}).want(200).decode(&rv)
		if rv.Status != "open" {
			t.Errorf("A's review is %s after B's attempts", rv.Status)
		}
		e.do("GET", "/v1/keys", req{token: a.admin}).want(200)
		e.do("GET", "/v1/sync/pull?cursor="+a.cursor, req{proto: true, token: a.dev.Token}).want(200)
		if ds, err := e.l.Devices(e.ctx, a.ID); err != nil || len(ds) != len(devicesA) {
			t.Errorf("A has %d devices after B's attempts, had %d (%v)", len(ds), len(devicesA), err)
		}
		if d, err := e.l.Check(e.ctx, a.ID); err != nil || len(d) != 0 {
			t.Errorf("A's ledger check: %v %v", d, err)
		}
		total := 0
		for _, key := range keys {
			total += cases[key]
		}
		t.Logf("%d routes, %d cases: %v", len(keys), total, cases)
	})
}

// TestServerOwnedFieldsRefused sends, on every route that takes a body,
// the fields the server owns (tenant, positions, statuses, results,
// times, secrets): each is refused with 400 invalid and nothing is
// applied.
func TestServerOwnedFieldsRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		review := e.openReview(a)
		tid := a.ID.String()
		refuse := func(what, path string, token string, proto bool, body any) {
			t.Helper()
			e.do("POST", path, req{proto: proto, token: token, json: body}).wantError(400, syncproto.CodeInvalid)
		}
		merge := func(m map[string]any, k string, v any) map[string]any {
			out := map[string]any{k: v}
			for mk, mv := range m {
				out[mk] = mv
			}
			return out
		}

		// Push: at the top level and in an operation.
		opBody := func() map[string]any {
			return map[string]any{"op_id": uuid.NewString(), "seq": a.dev.seq + 1, "kind": "receive",
				"occurred_at": time.Now().UTC().Format(time.RFC3339), "sku": "WIDGET", "qty": 5, "location": "A1"}
		}
		pushBody := func(op map[string]any) map[string]any {
			return map[string]any{"device_id": a.dev.DeviceID, "device_time": time.Now().UTC(), "ops": []any{op}}
		}
		for k, v := range map[string]any{"tenant_id": tid, "acked_seq": 99, "results": []any{}, "server_time": time.Now().UTC(), "position": 1} {
			refuse("push "+k, "/v1/sync/push", a.dev.Token, true, merge(pushBody(opBody()), k, v))
		}
		for k, v := range map[string]any{"tenant_id": tid, "position": 1, "status": "applied", "result": map[string]any{"status": "applied"},
			"recorded_at": time.Now().UTC(), "received_at": time.Now().UTC(), "effective_at": time.Now().UTC(), "review_id": review,
			"device_id": a.dev.DeviceID, "code": "ok", "replayed": true, "posted": true} {
			refuse("op "+k, "/v1/sync/push", a.dev.Token, true, pushBody(merge(opBody(), k, v)))
		}
		var d struct {
			AckedSeq int64 `json:"acked_seq"`
		}
		e.do("GET", "/v1/devices/"+a.dev.DeviceID.String(), req{token: a.staff}).want(200).decode(&d)
		if d.AckedSeq != a.dev.seq {
			t.Errorf("acked_seq %d after refused pushes, want %d", d.AckedSeq, a.dev.seq)
		}
		if s := e.stock(a.staff); s["A1/WIDGET/"] != -20 {
			t.Errorf("stock %v after refused pushes", s)
		}

		// Catalog rows, as JSON and as CSV.
		item := map[string]any{"sku": "NEWSKU", "name": "New", "unit": "pcs"}
		for k, v := range map[string]any{"tenant_id": tid, "item_id": uuid.NewString(), "id": uuid.NewString(), "position": 1, "changed": 1, "created_at": time.Now().UTC()} {
			refuse("catalog item "+k, "/v1/catalog", a.manager, false, map[string]any{"items": []any{merge(item, k, v)}})
			refuse("catalog warehouse "+k, "/v1/catalog", a.manager, false, map[string]any{"warehouses": []any{map[string]any{"code": "W9", k: v}}})
		}
		refuse("catalog tenant_id", "/v1/catalog", a.manager, false, map[string]any{"tenant_id": tid, "items": []any{item}})
		e.do("POST", "/v1/catalog?section=items", req{token: a.manager, ctype: "text/csv",
			raw: []byte("sku,name,unit,tenant_id\nNEWSKU,New,pcs," + tid + "\n")}).wantError(400, syncproto.CodeInvalid)
		var items []ledger.Item
		err := e.l.Store().Read(e.ctx, func(tx ledger.ReadTx) (err error) {
			items, err = tx.ItemsBySKU(e.ctx, a.ID, []string{"NEWSKU"})
			return err
		})
		if err != nil || len(items) != 0 {
			t.Errorf("refused catalog uploads wrote %v (%v)", items, err)
		}

		// Resolutions: who decided and when is the server's to say.
		for k, v := range map[string]any{"by": "someone else", "at": time.Now().UTC(), "status": "resolved", "tenant_id": tid,
			"positions": []int64{1}, "review_id": review, "settled_by": uuid.NewString(), "resolved_at": time.Now().UTC()} {
			refuse("resolve "+k, "/v1/reviews/"+review.String()+"/resolve", a.manager, false, map[string]any{"action": "accept", k: v})
		}
		var rv reviewOut
		e.do("GET", "/v1/reviews/"+review.String(), req{token: a.staff}).want(200).decode(&rv)
		if rv.Status != "open" || rv.Resolution != nil {
			t.Errorf("review after refused resolutions: %+v", rv)
		}

		// API keys and enrollment codes.
		for k, v := range map[string]any{"tenant_id": tid, "id": uuid.NewString(), "api_key": "ssk_x", "created_at": time.Now().UTC(), "revoked_at": nil, "hash": "x"} {
			refuse("key "+k, "/v1/keys", a.admin, false, map[string]any{"name": "robot", "role": "staff", k: v})
		}
		if ks, err := e.l.APIKeys(e.ctx, a.ID); err != nil || len(ks) != 3 {
			t.Errorf("keys after refused creations: %d (%v)", len(ks), err)
		}
		for k, v := range map[string]any{"tenant_id": tid, "code": "AAAAA-AAAAA", "expires_at": time.Now().Add(time.Hour).UTC(), "used_at": nil, "device_id": uuid.NewString(), "id": uuid.NewString()} {
			refuse("code "+k, "/v1/devices/codes", a.manager, false, map[string]any{"warehouse": "W1", k: v})
		}
		e.do("POST", "/v1/devices/enroll", req{proto: true, json: map[string]any{"code": "AAAAA-AAAAA", "name": "h"}}).wantError(401, syncproto.CodeUnauthorized)

		// Enrollment: the device's identity, tenant and warehouse come from
		// the code. The refused attempts leave the code unused.
		_, code, err := e.l.CreateEnrollmentCode(e.ctx, a.ID, "W1", 0)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"tenant_id": tid, "device_id": uuid.NewString(), "token": "ssd_x", "warehouse": "W1",
			"batch_prefix": "ABCDEF", "ledger_id": uuid.NewString()} {
			refuse("enroll "+k, "/v1/devices/enroll", "", true, map[string]any{"code": code, "name": "h", k: v})
		}
		e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: code, Name: "h"}}).want(200)
	})
}

// fakeClock is the server's clock in the rate-limit test, so a bucket
// refills when the test says.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestBurstTenTimesTheLimit sends, for each limit, ten times its burst at
// once: exactly the burst gets through, the rest get 429 rate_limited with
// Retry-After, health stays 200 throughout, and once the clock passes
// Retry-After a normal request succeeds.
func TestBurstTenTimesTheLimit(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now()}
	e := setup(t, "sqlite", func(c *server.Config) {
		c.Now = clk.Now
		c.DeviceRate, c.DeviceBurst = 1, 3
		c.TenantRate, c.TenantBurst = 1, 5
		c.EnrollRate, c.EnrollBurst = 1, 4
	})
	a, b := e.newTenant("alpha"), e.newTenant("beta")
	_, code, err := e.l.CreateEnrollmentCode(e.ctx, a.ID, "W1", 0)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour) // every bucket full again after the setup's enrollments

	type call struct {
		method, path, token string
		proto               bool
		body                string
	}
	send := func(c call) (int, http.Header, []byte, error) {
		var rd io.Reader
		if c.body != "" {
			rd = strings.NewReader(c.body)
		}
		hr, err := http.NewRequestWithContext(e.ctx, c.method, e.base+c.path, rd)
		if err != nil {
			return 0, nil, nil, err
		}
		if c.proto {
			hr.Header.Set(syncproto.HeaderProtocol, "1")
		}
		if c.token != "" {
			hr.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		res, err := e.client.Do(hr)
		if err != nil {
			return 0, nil, nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, body, err
	}
	// burst sends n calls from 8 goroutines, each also asking /healthz, and
	// returns how many got through and the largest Retry-After.
	burst := func(name string, n, burstSize int, c call, through int) int {
		t.Helper()
		var mu sync.Mutex
		got, limited, retry := 0, 0, 0
		var wg sync.WaitGroup
		work := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				for range work {
					status, h, body, err := send(c)
					hs, _, _, herr := send(call{method: "GET", path: "/healthz"})
					mu.Lock()
					switch {
					case err != nil || herr != nil:
						t.Errorf("%s: %v %v", name, err, herr)
					case hs != 200:
						t.Errorf("%s: /healthz answered %d during the burst", name, hs)
					case status == through:
						got++
					case status == 429:
						limited++
						var eb syncproto.ErrorBody
						secs, aerr := strconv.Atoi(h.Get("Retry-After"))
						if json.Unmarshal(body, &eb) != nil || eb.Error == nil || eb.Error.Code != syncproto.CodeRateLimited || aerr != nil || secs < 1 {
							t.Errorf("%s: 429 with Retry-After %q and body %s", name, h.Get("Retry-After"), body)
						}
						retry = max(retry, secs)
					default:
						t.Errorf("%s: status %d: %s", name, status, body)
					}
					mu.Unlock()
				}
			})
		}
		for range n {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		if got != burstSize || limited != n-burstSize {
			t.Errorf("%s: %d through and %d limited of %d, want %d through", name, got, limited, n, burstSize)
		}
		return retry
	}

	pull := call{method: "GET", path: "/v1/sync/pull", token: a.dev.Token, proto: true}
	list := call{method: "GET", path: "/v1/devices", token: b.staff}
	enroll := call{method: "POST", path: "/v1/devices/enroll", proto: true, body: `{"code":"ZZZZZ-ZZZZZ","name":"guess"}`}
	waitDevice := burst("device", 30, 3, pull, 200)
	waitTenant := burst("tenant", 50, 5, list, 200)
	waitEnroll := burst("enroll", 40, 4, enroll, 401) // a wrong code, answered once the limit lets it through
	e.do("GET", "/readyz", req{}).want(200)

	// Still limited until the clock moves; then a normal request passes.
	e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).wantError(429, syncproto.CodeRateLimited)
	clk.Add(time.Duration(max(waitDevice, waitTenant, waitEnroll)) * time.Second)
	e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200)
	e.do("GET", "/v1/devices", req{token: b.staff}).want(200)
	e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: code, Name: "late"}}).want(200)
}

// bodyStream is a request body of size bytes, made as it is read
// (prefix, then filler), that counts what the server read of it.
type bodyStream struct {
	prefix string
	filler byte
	size   int64
	read   int64
}

func (b *bodyStream) Read(p []byte) (int, error) {
	if b.read >= b.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.size-b.read))
	for i := range n {
		if off := b.read + int64(i); off < int64(len(b.prefix)) {
			p[i] = b.prefix[off]
		} else {
			p[i] = b.filler
		}
	}
	b.read += int64(n)
	return n, nil
}

// TestOversizedBodiesRefusedBeforeDecoding sends every route that takes a
// body one over its limit, with a Content-Length and chunked, straight to
// the server's handler with a body that counts what is read of it: a
// declared length over the limit is refused with nothing read, a chunked
// body is cut off at the limit, and a caller without a credential has
// nothing read at all.
func TestOversizedBodiesRefusedBeforeDecoding(t *testing.T) {
	t.Parallel()
	const pushLimit = 16 << 10
	const smallLimit = 64 << 10   // server.smallBodyBytes
	const catalogLimit = 32 << 20 // server.catalogMaxBytes
	e := setup(t, "sqlite", func(c *server.Config) { c.MaxBodyBytes = pushLimit })
	a := e.newTenant("alpha")
	review := e.openReview(a)
	h := e.srv.Handler()
	for _, tc := range []struct {
		name, method, path, token, ctype, prefix string
		proto                                    bool
		limit                                    int64
	}{
		{"push", "POST", "/v1/sync/push", a.dev.Token, "application/json", `{"device_id":"` + a.dev.DeviceID.String() + `","ops":[`, true, pushLimit},
		{"enroll", "POST", "/v1/devices/enroll", "", "application/json", `{"name":"`, true, smallLimit},
		{"codes", "POST", "/v1/devices/codes", a.manager, "application/json", `{"warehouse":"`, false, smallLimit},
		{"keys", "POST", "/v1/keys", a.admin, "application/json", `{"name":"`, false, smallLimit},
		{"resolve", "POST", "/v1/reviews/" + review.String() + "/resolve", a.manager, "application/json", `{"note":"`, false, smallLimit},
		{"catalog json", "POST", "/v1/catalog", a.manager, "application/json", `{"warehouses":[`, false, catalogLimit},
		{"catalog csv", "POST", "/v1/catalog?section=warehouses", a.manager, "text/csv", "code,name\n", false, catalogLimit},
	} {
		filler := byte(' ')
		if tc.prefix[len(tc.prefix)-1] == '"' {
			filler = 'x'
		}
		if tc.ctype == "text/csv" {
			filler = 'w'
		}
		serve := func(token string, chunked bool) (*httptest.ResponseRecorder, *bodyStream) {
			body := &bodyStream{prefix: tc.prefix, filler: filler, size: 2*tc.limit + 4096}
			r := httptest.NewRequestWithContext(e.ctx, tc.method, tc.path, body)
			r.ContentLength = body.size
			if chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Content-Type", tc.ctype)
			if tc.proto {
				r.Header.Set(syncproto.HeaderProtocol, "1")
			}
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w, body
		}
		check := func(what string, w *httptest.ResponseRecorder, status int, code syncproto.Code) {
			t.Helper()
			var eb syncproto.ErrorBody
			if w.Code != status || json.Unmarshal(w.Body.Bytes(), &eb) != nil || eb.Error == nil || eb.Error.Code != code {
				t.Errorf("%s %s: %d %s, want %d %s", tc.name, what, w.Code, w.Body.Bytes(), status, code)
			}
		}
		w, body := serve(tc.token, false)
		check("with Content-Length", w, 413, syncproto.CodeTooLarge)
		if body.read != 0 {
			t.Errorf("%s: read %d bytes of a body declared over the limit", tc.name, body.read)
		}
		w, body = serve(tc.token, true)
		check("chunked", w, 413, syncproto.CodeTooLarge)
		if body.read > tc.limit+1 {
			t.Errorf("%s: read %d bytes of a chunked body over the limit of %d", tc.name, body.read, tc.limit)
		}
		if tc.token != "" {
			for _, chunked := range []bool{false, true} {
				w, body = serve("", chunked)
				check(fmt.Sprintf("without a credential (chunked %v)", chunked), w, 401, syncproto.CodeUnauthorized)
				if body.read != 0 {
					t.Errorf("%s: read %d bytes of an unauthenticated body", tc.name, body.read)
				}
			}
		}
	}
	if s := e.stock(a.staff); len(s) != 1 {
		t.Errorf("stock %v after refused bodies", s)
	}
}

// TestPushTimeOutsideJSON pushes an operation whose occurred_at is valid
// JSON but outside years 0-9999 once in UTC. Found by FuzzOperation: the
// canonical payload could not be encoded, the ledger panicked, every push
// of the device answered 500 and the device was wedged. Now the operation
// is rejected like any time out of range and the op log lists it.
func TestPushTimeOutsideJSON(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		for i, at := range []string{"0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59"} {
			body := fmt.Sprintf(`{"device_id":%q,"device_time":%q,"ops":[{"op_id":%q,"seq":%d,"kind":"pick","occurred_at":%q,"sku":"WIDGET","qty":1,"location":"A1"}]}`,
				a.dev.DeviceID, time.Now().UTC().Format(time.RFC3339), uuid.NewString(), i+1, at)
			var pr syncproto.PushResponse
			e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: []byte(body), ctype: "application/json"}).want(200).decode(&pr)
			if len(pr.Results) != 1 || pr.Results[0].Status != syncproto.StatusRejected || pr.Results[0].Code != "invalid_time" {
				t.Errorf("occurred_at %s: %+v", at, pr.Results)
			}
			// The replay answers the same.
			var again syncproto.PushResponse
			e.do("POST", "/v1/sync/push", req{proto: true, token: a.dev.Token, raw: []byte(body), ctype: "application/json"}).want(200).decode(&again)
			if len(again.Results) != 1 || !again.Results[0].Replayed || again.Results[0].Code != "invalid_time" {
				t.Errorf("replay of occurred_at %s: %+v", at, again.Results)
			}
		}
		var ops struct{ Ops []map[string]any }
		e.do("GET", "/v1/ops", req{token: a.staff}).want(200).decode(&ops)
		if len(ops.Ops) != 2 {
			t.Errorf("op log %v", ops.Ops)
		}
		// And the device goes on.
		a.dev.seq = 2
		var pr syncproto.PushResponse
		e.push(a.dev, a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, "A1" }))).want(200).decode(&pr)
		if pr.AckedSeq != 3 || pr.Results[0].Status != syncproto.StatusApplied {
			t.Errorf("push after the rejected ones: %+v", pr)
		}
	})
}

// countingListener counts the bytes the server reads from every
// connection it accepts.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countingConn{Conn: c, read: l.read}, err
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestOversizedBodyNotReadOverTheWire sends a real server bodies declared
// over their limit and counts what the server reads off the connection.
// Past 256 KiB the server reads its first buffer and drops the
// connection. Under 256 KiB net/http itself reads and discards the rest of
// an unread body once the handler is done, to keep the connection (even
// when the answer says Connection: close), so what is read is bounded by
// that, never decoded; the handler reads none of it
// (TestOversizedBodiesRefusedBeforeDecoding).
func TestOversizedBodyNotReadOverTheWire(t *testing.T) {
	t.Parallel()
	const pushLimit = 16 << 10
	const netHTTPDrain = 256 << 10 // net/http's maxPostHandlerReadBytes
	e := setup(t, "sqlite", func(c *server.Config) { c.MaxBodyBytes = pushLimit })
	a := e.newTenant("alpha")
	var read atomic.Int64
	var lc net.ListenConfig
	ln, err := lc.Listen(e.ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, countingListener{Listener: ln, read: &read}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct {
		name, path, token string
		size, most        int64
	}{
		{"push, 8 MiB", "/v1/sync/push", a.dev.Token, 8 << 20, 32 << 10},
		{"enroll, 8 MiB", "/v1/devices/enroll", "", 8 << 20, 32 << 10},
		{"keys, 8 MiB", "/v1/keys", a.admin, 8 << 20, 32 << 10},
		{"push, 200 KiB", "/v1/sync/push", a.dev.Token, 200 << 10, netHTTPDrain + 8<<10},
		{"enroll, 200 KiB", "/v1/devices/enroll", "", 200 << 10, netHTTPDrain + 8<<10},
	} {
		read.Store(0)
		body := &bodyStream{prefix: `{"name":"`, filler: 'x', size: tc.size}
		hr, err := http.NewRequestWithContext(e.ctx, http.MethodPost, base+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		hr.ContentLength = body.size
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set(syncproto.HeaderProtocol, "1")
		if tc.token != "" {
			hr.Header.Set("Authorization", "Bearer "+tc.token)
		}
		// A fresh connection each time, so the count is this request's,
		// kept alive as clients do (a client asking to close would spare
		// the server the draining).
		tr := &http.Transport{}
		client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		res, err := client.Do(hr)
		tr.CloseIdleConnections()
		if err != nil {
			// The server may drop the connection while the client is still
			// writing; what it read is what this test is about.
			t.Logf("%s: %v", tc.name, err)
		} else {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: status %d, want 413", tc.name, res.StatusCode)
			}
		}
		t.Logf("%s: the server read %d bytes", tc.name, read.Load())
		if got := read.Load(); got > tc.most {
			t.Errorf("%s: the server read %d bytes of a body declared over its limit, want at most %d", tc.name, got, tc.most)
		}
	}
}
