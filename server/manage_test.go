package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

type reviewOut struct {
	ID          uuid.UUID        `json:"id"`
	Kind        string           `json:"kind"`
	Severity    string           `json:"severity"`
	Status      string           `json:"status"`
	OpID        uuid.UUID        `json:"op_id"`
	DeviceID    uuid.UUID        `json:"device_id"`
	Device      string           `json:"device"`
	Ops         []map[string]any `json:"ops"`
	Warehouse   string           `json:"warehouse"`
	Location    string           `json:"location"`
	SKU         string           `json:"sku"`
	Batch       string           `json:"batch"`
	Order       string           `json:"order"`
	Evidence    map[string]any   `json:"evidence"`
	Suggestions []map[string]any `json:"suggestions"`
	OpenedAt    time.Time        `json:"opened_at"`
	Resolution  *struct {
		Action    string    `json:"action"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
		Note      string    `json:"note"`
		Positions []int64   `json:"positions"`
		Qty       int64     `json:"qty"`
		Location  string    `json:"location"`
		SKU       string    `json:"sku"`
		Batch     string    `json:"batch"`
	} `json:"resolution"`
}

func TestCatalogJSON(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		body := map[string]any{
			"warehouses": []any{map[string]any{"code": "W2", "name": "Annex"}},
			"locations":  []any{map[string]any{"warehouse": "W2", "code": "X1"}, map[string]any{"warehouse": "W1", "code": "A3"}},
			"items": []any{map[string]any{"sku": "MILK", "name": "Milk 1l", "unit": "carton", "barcodes": []string{"4012345000047", "4012345000048"},
				"batch_tracked": true, "expiry_tracked": true}},
			"batches": []any{map[string]any{"sku": "MILK", "code": "M-1", "expiry": "2027-02-10"}},
		}
		var res map[string]int
		e.do("POST", "/v1/catalog", req{token: a.manager, json: body}).want(200).decode(&res)
		if res["warehouses"] != 1 || res["locations"] != 2 || res["items"] != 1 || res["batches"] != 1 {
			t.Errorf("catalog result %v", res)
		}
		var page syncproto.PullResponse
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		var milk *syncproto.Item
		for i := range page.Items {
			if page.Items[i].SKU == "MILK" {
				milk = &page.Items[i]
			}
		}
		if milk == nil || len(milk.Barcodes) != 2 || !milk.ExpiryTracked || len(page.Locations) != 4 {
			t.Errorf("pulled catalog %+v", page)
		}

		// Every invalid row is named, by section and index; nothing is written.
		bad := map[string]any{
			"locations": []any{map[string]any{"warehouse": "W1", "code": "OK1"}, map[string]any{"warehouse": "NOPE", "code": "X"}},
			"items":     []any{map[string]any{"sku": "", "name": "x", "unit": "pcs"}},
		}
		er := e.do("POST", "/v1/catalog", req{token: a.manager, json: bad}).wantError(400, syncproto.CodeInvalid)
		if len(er.RowErrors) == 0 || er.RowErrors[0].Section != "items" || er.RowErrors[0].Row != 0 || er.RowErrors[0].Field != "sku" {
			t.Errorf("row errors %+v", er.RowErrors)
		}
		er = e.do("POST", "/v1/catalog", req{token: a.manager, json: map[string]any{"locations": bad["locations"]}}).wantError(400, syncproto.CodeInvalid)
		if len(er.RowErrors) != 1 || er.RowErrors[0].Section != "locations" || er.RowErrors[0].Row != 1 {
			t.Errorf("row errors %+v", er.RowErrors)
		}
		e.do("POST", "/v1/catalog", req{token: a.manager, json: map[string]any{"item": []any{}}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/catalog", req{token: a.manager, raw: []byte("<xml/>"), ctype: "application/xml"}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/catalog", req{token: a.staff, json: body}).wantError(403, syncproto.CodeForbidden)
		e.do("GET", "/v1/sync/pull?cursor="+page.Cursor, req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		if len(page.Locations) != 0 {
			t.Errorf("a refused catalog wrote locations %+v", page.Locations)
		}
	})
}

func TestCatalogCSV(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		csv := func(section, body string) *resp {
			return e.do("POST", "/v1/catalog?section="+section, req{token: a.manager, raw: []byte(body), ctype: "text/csv; charset=utf-8"})
		}
		var res map[string]int
		csv("items", "\xef\xbb\xbfsku,name,unit,barcodes,batch_tracked,expiry_tracked\n"+
			"CHEESE,\"Cheese, aged\",g,111|222,yes,true\n"+
			"\n"+
			"NAIL,Nail,pcs,,,\n").want(200).decode(&res)
		if res["items"] != 2 {
			t.Errorf("csv result %v", res)
		}
		csv("locations", "code,warehouse\nB7,W1\n").want(200)
		csv("batches", "sku,code,expiry\nCHEESE,C-1,2027-01-31\n").want(200)
		csv("warehouses", "code,name\nW9,Far away\n").want(200)
		var page syncproto.PullResponse
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		var cheese *syncproto.Item
		for i := range page.Items {
			if page.Items[i].SKU == "CHEESE" {
				cheese = &page.Items[i]
			}
		}
		if cheese == nil || cheese.Name != "Cheese, aged" || len(cheese.Barcodes) != 2 || !cheese.BatchTracked || !cheese.ExpiryTracked {
			t.Errorf("cheese %+v", cheese)
		}

		// A value the CSV reader cannot take is named by its line.
		er := csv("items", "sku,name,unit,batch_tracked\nA,a,pcs,no\nB,b,pcs,maybe\n").wantError(400, syncproto.CodeInvalid)
		if len(er.RowErrors) != 1 || er.RowErrors[0].Row != 3 || er.RowErrors[0].Field != "batch_tracked" || er.RowErrors[0].Section != "items" {
			t.Errorf("row errors %+v", er.RowErrors)
		}
		// So is a row the ledger refuses: line 4 names an unknown item.
		er = csv("batches", "sku,code\nCHEESE,C-2\n\nGHOST,G-1\n").wantError(400, syncproto.CodeInvalid)
		if len(er.RowErrors) != 1 || er.RowErrors[0].Row != 4 || er.RowErrors[0].Field != "sku" {
			t.Errorf("row errors %+v", er.RowErrors)
		}
		// Header problems and a missing section are answered plainly.
		for _, c := range []struct{ section, body, mention string }{
			{"items", "sku,name\nX,x\n", "unit"},
			{"items", "sku,name,unit,colour\n", "colour"},
			{"", "code\nW1\n", "section"},
			{"shelves", "code\n", "section"},
			{"items", "", "empty"},
			{"items", "sku,name,unit\n\"X,x,pcs\n", "line"},
		} {
			er := csv(c.section, c.body).wantError(400, syncproto.CodeInvalid)
			if !strings.Contains(er.Message, c.mention) {
				t.Errorf("%q: message %q does not mention %q", c.body, er.Message, c.mention)
			}
		}
		e.do("GET", "/v1/sync/pull?cursor="+page.Cursor, req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		if len(page.Items)+len(page.Batches) != 0 {
			t.Errorf("refused uploads wrote %+v", page)
		}
	})
}

// route is one management route with the role it needs.
type route struct {
	method, path string
	role         string
	body         any
}

func managementRoutes(devID, reviewID, keyID uuid.UUID) []route {
	return []route{
		{"POST", "/v1/catalog", "manager", map[string]any{}},
		{"POST", "/v1/devices/codes", "manager", map[string]any{"warehouse": "W1"}},
		{"GET", "/v1/devices", "staff", nil},
		{"GET", "/v1/devices/" + devID.String(), "staff", nil},
		{"POST", "/v1/devices/" + devID.String() + "/revoke", "admin", nil},
		{"GET", "/v1/stock", "staff", nil},
		{"GET", "/v1/movements", "staff", nil},
		{"GET", "/v1/reviews", "staff", nil},
		{"GET", "/v1/reviews/" + reviewID.String(), "staff", nil},
		{"POST", "/v1/reviews/" + reviewID.String() + "/resolve", "manager", map[string]any{"action": "accept"}},
		{"GET", "/v1/ops", "staff", nil},
		{"GET", "/v1/keys", "admin", nil},
		{"POST", "/v1/keys", "admin", map[string]any{"name": "x", "role": "staff"}},
		{"POST", "/v1/keys/" + keyID.String() + "/revoke", "admin", nil},
	}
}

func TestManagementAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	a := e.newTenant("alpha")
	ids := uuid.New()
	for _, rt := range managementRoutes(ids, ids, ids) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			r := e.do(rt.method, rt.path, req{json: rt.body})
			r.wantError(401, syncproto.CodeUnauthorized)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			e.do(rt.method, rt.path, req{json: rt.body, token: a.dev.Token}).wantError(401, syncproto.CodeUnauthorized)
			e.do(rt.method, rt.path, req{json: rt.body, token: "ssk_nonsense"}).wantError(401, syncproto.CodeUnauthorized)
			e.do(rt.method, rt.path, req{json: rt.body, headers: map[string]string{"Authorization": "Basic " + a.admin}}).wantError(401, syncproto.CodeUnauthorized)
			switch rt.role {
			case "manager":
				e.do(rt.method, rt.path, req{json: rt.body, token: a.staff}).wantError(403, syncproto.CodeForbidden)
			case "admin":
				e.do(rt.method, rt.path, req{json: rt.body, token: a.staff}).wantError(403, syncproto.CodeForbidden)
				e.do(rt.method, rt.path, req{json: rt.body, token: a.manager}).wantError(403, syncproto.CodeForbidden)
			}
		})
	}
	// A revoked key stops working at once.
	var k struct {
		ID     uuid.UUID `json:"id"`
		APIKey string    `json:"api_key"`
		Role   string    `json:"role"`
	}
	e.do("POST", "/v1/keys", req{token: a.admin, json: map[string]any{"name": "robot", "role": "staff"}}).want(201).decode(&k)
	if k.Role != "staff" || !strings.HasPrefix(k.APIKey, "ssk_") {
		t.Fatalf("created key %+v", k)
	}
	e.do("GET", "/v1/stock", req{token: k.APIKey}).want(200)
	var revoked map[string]any
	e.do("POST", "/v1/keys/"+k.ID.String()+"/revoke", req{token: a.admin}).want(200).decode(&revoked)
	if revoked["revoked_at"] == nil || revoked["api_key"] != nil {
		t.Errorf("revoked key %v", revoked)
	}
	e.do("GET", "/v1/stock", req{token: k.APIKey}).wantError(401, syncproto.CodeUnauthorized)
	var keys struct{ Keys []map[string]any }
	e.do("GET", "/v1/keys", req{token: a.admin}).want(200).decode(&keys)
	if len(keys.Keys) != 4 {
		t.Errorf("keys %v", keys.Keys)
	}
	for _, key := range keys.Keys {
		if _, ok := key["api_key"]; ok {
			t.Errorf("a listed key shows its secret: %v", key)
		}
	}
	e.do("POST", "/v1/keys", req{token: a.admin, json: map[string]any{"name": "x", "role": "owner"}}).wantError(400, syncproto.CodeInvalid)
}

// openReview makes the tenant's device pick stock it does not have and
// returns the negative_stock review.
func (e *env) openReview(tn *tenant) uuid.UUID {
	e.t.Helper()
	ops := tn.dev.numbered(op("pick", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Order = "WIDGET", 20, "A1", "SO-1" }))
	var pr syncproto.PushResponse
	e.push(tn.dev, ops).want(200).decode(&pr)
	if pr.Results[0].ReviewID == nil {
		e.t.Fatalf("pick opened no review: %+v", pr.Results[0])
	}
	return *pr.Results[0].ReviewID
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a, b := e.newTenant("alpha"), e.newTenant("beta")
		ops := a.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 9, "A1" }))
		e.push(a.dev, ops).want(200)
		reviewA := e.openReview(a)
		keysA, err := e.l.APIKeys(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}

		// Every route that names one of A's objects answers B as if it
		// did not exist.
		for _, rt := range managementRoutes(a.dev.DeviceID, reviewA, keysA[0].ID) {
			if !strings.Contains(rt.path, a.dev.DeviceID.String()) && !strings.Contains(rt.path, reviewA.String()) && !strings.Contains(rt.path, keysA[0].ID.String()) {
				continue
			}
			e.do(rt.method, rt.path, req{token: b.admin, json: rt.body}).wantError(404, syncproto.CodeNotFound)
		}
		// Lists show only B's own rows.
		var devs struct{ Devices []struct{ ID uuid.UUID } }
		e.do("GET", "/v1/devices", req{token: b.admin}).want(200).decode(&devs)
		if len(devs.Devices) != 1 || devs.Devices[0].ID != b.dev.DeviceID {
			t.Errorf("B sees devices %+v", devs.Devices)
		}
		if s := e.stock(b.staff); len(s) != 0 {
			t.Errorf("B sees stock %v", s)
		}
		for _, path := range []string{"/v1/movements", "/v1/reviews", "/v1/ops",
			"/v1/reviews?device_id=" + a.dev.DeviceID.String(), "/v1/ops?device_id=" + a.dev.DeviceID.String(), "/v1/movements?sku=WIDGET"} {
			var out map[string][]any
			e.do("GET", path, req{token: b.admin}).want(200).decode(&out)
			for k, v := range out {
				if len(v) != 0 {
					t.Errorf("B's %s shows %s: %v", path, k, v)
				}
			}
		}
		var keys struct{ Keys []struct{ ID uuid.UUID } }
		e.do("GET", "/v1/keys", req{token: b.admin}).want(200).decode(&keys)
		for _, k := range keys.Keys {
			for _, ka := range keysA {
				if k.ID == ka.ID {
					t.Errorf("B lists A's key %s", k.ID)
				}
			}
		}
		// B's device cannot push as A's device.
		bops := []syncproto.Op{op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Seq = "WIDGET", 1, "A1", 1 })}
		e.do("POST", "/v1/sync/push", req{proto: true, token: b.dev.Token,
			json: syncproto.PushRequest{DeviceID: a.dev.DeviceID, DeviceTime: time.Now(), Ops: bops}}).wantError(403, syncproto.CodeForbidden)
		// And nothing of A changed.
		if s := e.stock(a.staff); s["A1/WIDGET/"] != -11 {
			t.Errorf("A's stock %v", s)
		}
		var r reviewOut
		e.do("GET", "/v1/reviews/"+reviewA.String(), req{token: a.staff}).want(200).decode(&r)
		if r.Status != "open" {
			t.Errorf("A's review %+v", r)
		}
		var d map[string]any
		e.do("GET", "/v1/devices/"+a.dev.DeviceID.String(), req{token: a.staff}).want(200).decode(&d)
		if d["revoked_at"] != nil {
			t.Errorf("A's device %v", d)
		}
	})
}

func TestReviews(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		id := e.openReview(a)

		var list struct{ Reviews []reviewOut }
		e.do("GET", "/v1/reviews?status=open&kind=negative_stock&device_id="+a.dev.DeviceID.String(), req{token: a.staff}).want(200).decode(&list)
		if len(list.Reviews) != 1 {
			t.Fatalf("reviews %+v", list.Reviews)
		}
		r := list.Reviews[0]
		if r.ID != id || r.Kind != "negative_stock" || r.Severity == "" || r.Status != "open" || r.DeviceID != a.dev.DeviceID ||
			r.Device != "handheld 1" || r.Warehouse != "W1" || r.Location != "A1" || r.SKU != "WIDGET" ||
			len(r.Ops) != 1 || r.Evidence["on_hand"] != float64(-20) || len(r.Suggestions) == 0 || r.Resolution != nil {
			t.Errorf("review %+v", r)
		}
		e.do("GET", "/v1/reviews?status=resolved", req{token: a.staff}).want(200).decode(&list)
		if len(list.Reviews) != 0 {
			t.Errorf("resolved reviews %+v", list.Reviews)
		}
		e.do("GET", "/v1/reviews?status=closed", req{token: a.staff}).wantError(400, syncproto.CodeInvalid)

		path := "/v1/reviews/" + id.String() + "/resolve"
		e.do("POST", path, req{token: a.staff, json: map[string]any{"action": "accept"}}).wantError(403, syncproto.CodeForbidden)
		e.do("POST", path, req{token: a.manager, json: map[string]any{"action": "accept", "by": "me"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", path, req{token: a.manager, json: map[string]any{"action": "settled"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", path, req{token: a.manager, json: map[string]any{"action": "reassign_batch", "batch": "L1"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/reviews/"+uuid.NewString()+"/resolve", req{token: a.manager, json: map[string]any{"action": "accept"}}).wantError(404, syncproto.CodeNotFound)
		e.do("GET", "/v1/reviews/not-a-uuid", req{token: a.manager}).wantError(404, syncproto.CodeNotFound)

		var done reviewOut
		e.do("POST", path, req{token: a.manager, json: map[string]any{"action": "adjust", "qty": 20, "note": "found two in the back"}}).want(200).decode(&done)
		if done.Status != "resolved" || done.Resolution == nil || done.Resolution.Action != "adjust" || done.Resolution.By != "manager-key" ||
			done.Resolution.Note != "found two in the back" || len(done.Resolution.Positions) != 1 {
			t.Errorf("resolved review %+v %+v", done, done.Resolution)
		}
		er := e.do("POST", path, req{token: a.manager, json: map[string]any{"action": "accept"}}).wantError(409, syncproto.CodeAlreadyResolved)
		if !strings.Contains(er.Message, "already") {
			t.Errorf("message %q", er.Message)
		}
		if s := e.stock(a.staff); s["A1/WIDGET/"] != 0 {
			t.Errorf("stock after adjust %v", s)
		}
		// The device learns the decision on its next pull.
		var page syncproto.PullResponse
		e.do("GET", "/v1/sync/pull", req{proto: true, token: a.dev.Token}).want(200).decode(&page)
		if len(page.Decisions) != 1 || page.Decisions[0].Status != "resolved" || page.Decisions[0].Action != "adjust" ||
			page.Decisions[0].DecidedBy != "manager-key" || page.Decisions[0].DecidedAt == nil || page.Decisions[0].Note != "found two in the back" {
			t.Errorf("decisions %+v", page.Decisions)
		}
	})
}

func TestOpsMovementsStock(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		ops := shift(&a.dev)
		e.push(a.dev, ops).want(200)
		before := time.Now().UTC()
		time.Sleep(10 * time.Millisecond)
		later := a.dev.numbered(op("transfer", func(o *syncproto.Op) {
			o.SKU, o.Qty, o.Location, o.ToLocation, o.OccurredAt = "WIDGET", 1, "A1", "A2", time.Now().UTC()
		}))
		e.push(a.dev, later).want(200)

		var log struct {
			Ops []struct {
				DeviceID uuid.UUID     `json:"device_id"`
				Device   string        `json:"device"`
				Seq      int64         `json:"seq"`
				OpID     uuid.UUID     `json:"op_id"`
				Kind     string        `json:"kind"`
				Status   string        `json:"status"`
				Code     string        `json:"code"`
				Message  string        `json:"message"`
				Posted   bool          `json:"posted"`
				Op       *syncproto.Op `json:"op"`
			} `json:"ops"`
		}
		e.do("GET", "/v1/ops", req{token: a.staff}).want(200).decode(&log)
		if len(log.Ops) != 6 {
			t.Fatalf("op log %+v", log.Ops)
		}
		if o := log.Ops[4]; o.Seq != 5 || o.Status != "rejected" || o.Code != "reason_required" || o.Message == "" || o.Posted ||
			o.Op == nil || o.Op.OpID != ops[4].OpID || o.Op.Seq != 5 || o.Op.SKU != "WIDGET" || o.Device != "handheld 1" {
			t.Errorf("rejected op %+v", o)
		}
		e.do("GET", "/v1/ops?status=rejected&device_id="+a.dev.DeviceID.String(), req{token: a.staff}).want(200).decode(&log)
		if len(log.Ops) != 1 || log.Ops[0].Seq != 5 {
			t.Errorf("rejected ops %+v", log.Ops)
		}
		e.do("GET", "/v1/ops?after_seq=4&limit=1", req{token: a.staff}).want(200).decode(&log)
		if len(log.Ops) != 1 || log.Ops[0].Seq != 5 {
			t.Errorf("ops after 4 %+v", log.Ops)
		}

		var mv struct {
			Movements []struct {
				Position int64  `json:"position"`
				Kind     string `json:"kind"`
				Location string `json:"location"`
				SKU      string `json:"sku"`
				Qty      int64  `json:"qty"`
				Order    string `json:"order"`
			} `json:"movements"`
			NextAfter *int64 `json:"next_after"`
		}
		e.do("GET", "/v1/movements?sku=WIDGET&location=A1", req{token: a.staff}).want(200).decode(&mv)
		if len(mv.Movements) != 3 || mv.Movements[0].Qty != 10 || mv.Movements[1].Qty != -15 || mv.Movements[2].Kind != "transfer_out" || mv.NextAfter != nil {
			t.Errorf("movements %+v", mv)
		}
		e.do("GET", "/v1/movements?limit=2", req{token: a.staff}).want(200).decode(&mv)
		if len(mv.Movements) != 2 || mv.NextAfter == nil || *mv.NextAfter != mv.Movements[1].Position {
			t.Fatalf("first page %+v", mv)
		}
		after := *mv.NextAfter
		mv.NextAfter = nil
		e.do("GET", "/v1/movements?after="+itoa(after), req{token: a.staff}).want(200).decode(&mv)
		if len(mv.Movements) != 3 || mv.Movements[0].Position != after+1 || mv.NextAfter != nil {
			t.Errorf("second page %+v", mv)
		}

		var st struct {
			Balances []struct {
				Warehouse, Location, SKU, Batch string
				OnHand                          int64 `json:"on_hand"`
			} `json:"balances"`
			AsOf *time.Time `json:"as_of"`
		}
		e.do("GET", "/v1/stock?warehouse=W1&sku=WIDGET&location=A1", req{token: a.staff}).want(200).decode(&st)
		if len(st.Balances) != 1 || st.Balances[0].OnHand != -6 || st.Balances[0].Warehouse != "W1" {
			t.Errorf("stock %+v", st)
		}
		e.do("GET", "/v1/stock?sku=WIDGET&as_of="+before.Format(time.RFC3339Nano), req{token: a.staff}).want(200).decode(&st)
		got := map[string]int64{}
		for _, b := range st.Balances {
			got[b.Location] = b.OnHand
		}
		if got["A1"] != -5 || got["A2"] != 0 || st.AsOf == nil {
			t.Errorf("stock as of before the transfer %+v", st)
		}
		e.do("GET", "/v1/stock?sku=BOLT&nonzero=true", req{token: a.staff}).want(200).decode(&st)
		if len(st.Balances) != 1 || st.Balances[0].Batch == "" {
			t.Errorf("BOLT stock %+v", st)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestQueryParams(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	a := e.newTenant("alpha")
	for _, c := range []struct{ path, mention string }{
		{"/v1/stock?as_of=yesterday", "as_of"},
		{"/v1/stock?skuu=X", "skuu"},
		{"/v1/stock?nonzero=maybe", "nonzero"},
		{"/v1/movements?limit=abc", "limit"},
		{"/v1/movements?limit=0", "limit"},
		{"/v1/movements?after=-1", "after"},
		{"/v1/movements?op_id=12", "op_id"},
		{"/v1/reviews?kind=theft", "kind"},
		{"/v1/reviews?device_id=x", "device_id"},
		{"/v1/ops?status=lost", "status"},
		{"/v1/ops?after_seq=x", "after_seq"},
		{"/v1/ops?limit=1&limit=2", "limit"},
		{"/v1/devices?all=1", "all"},
	} {
		er := e.do("GET", c.path, req{token: a.staff}).wantError(400, syncproto.CodeInvalid)
		if !strings.Contains(er.Message, c.mention) {
			t.Errorf("%s: message %q does not name %q", c.path, er.Message, c.mention)
		}
	}
	// A limit over the maximum is clamped, not refused.
	e.do("GET", "/v1/movements?limit=999999", req{token: a.staff}).want(200)
}

func TestEnrollmentCodes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := setup(t, kind)
		a := e.newTenant("alpha")
		var c struct {
			Code      string    `json:"code"`
			Warehouse string    `json:"warehouse"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{"warehouse": "W1", "ttl": "30m"}}).want(201).decode(&c)
		if c.Code == "" || c.Warehouse != "W1" || time.Until(c.ExpiresAt) > 31*time.Minute || time.Until(c.ExpiresAt) < 29*time.Minute {
			t.Errorf("code %+v", c)
		}
		var enr syncproto.EnrollResponse
		e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: strings.ToLower(c.Code), Name: "cold room"}}).want(200).decode(&enr)
		if enr.Warehouse != "W1" || enr.LedgerID != a.LedgerID.String() {
			t.Errorf("enrolled %+v", enr)
		}
		// Single use.
		er := e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: c.Code, Name: "again"}}).wantError(401, syncproto.CodeUnauthorized)
		if !strings.Contains(er.Message, "used") {
			t.Errorf("message %q", er.Message)
		}
		e.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: "AAAAA-BBBBB", Name: "x"}}).wantError(401, syncproto.CodeUnauthorized)
		e.do("POST", "/v1/devices/enroll", req{proto: true, json: map[string]any{"code": "x", "name": "y", "tenant": "z"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{"warehouse": "NOPE"}}).wantError(404, syncproto.CodeNotFound)
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{"warehouse": "W1", "ttl": "1s"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{"warehouse": "W1", "ttl": 3600}}).want(201)
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{"warehouse": "W1", "ttl": "soon"}}).wantError(400, syncproto.CodeInvalid)
		e.do("POST", "/v1/devices/codes", req{token: a.manager, json: map[string]any{}}).wantError(400, syncproto.CodeInvalid)
	})
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	e.do("GET", "/v2/things", req{}).wantError(404, syncproto.CodeNotFound)
	e.do("GET", "/v1/devices/", req{}).wantError(404, syncproto.CodeNotFound)
	r := e.do("GET", "/v1/sync/push", req{proto: true})
	r.wantError(405, syncproto.CodeNotFound)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	e.do("DELETE", "/v1/stock", req{}).wantError(405, syncproto.CodeNotFound)
}
