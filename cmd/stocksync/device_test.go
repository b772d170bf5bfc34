package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/syncproto"
)

// TestDeviceRecordStatusOpsOffline runs the device commands a handheld uses
// with no server at all: recording works offline, and status and ops show
// what waits to be sent.
func TestDeviceRecordStatusOpsOffline(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "handheld")
	env := map[string]string{"STOCKSYNC_DEVICE_DIR": dir}

	r := run(t, env, "device", "record", "--kind", "pick", "--sku", "BOLT", "--qty", "3", "--location", "A1", "--order", "SO-1")
	if r.code != 0 || !strings.Contains(r.stdout, "recorded pick #1: 3 × BOLT at A1") || !strings.Contains(r.stdout, `warning: unknown sku "BOLT"`) {
		t.Fatalf("record: exit %d, stdout %q; want the op recorded with a warning about the unknown SKU", r.code, r.stdout)
	}
	r = run(t, env, "device", "record", "--json", "--kind", "adjust", "--barcode", "400123", "--qty", "-2",
		"--location", "A1", "--reason", "broken", "--occurred-at", "2026-11-27T06:00:00Z")
	var rec client.Recorded
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rec) != nil || rec.Op.Seq != 2 || rec.Op.Qty != -2 ||
		!rec.Op.OccurredAt.Equal(time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("record --json: exit %d, %+v", r.code, rec)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"refused by validation", []string{"record", "--kind", "pick", "--sku", "BOLT", "--qty", "0", "--location", "A1"}, ExitFailure, "invalid_qty"},
		{"field the kind does not take", []string{"record", "--kind", "pick", "--sku", "BOLT", "--qty", "1", "--location", "A1", "--to-location", "A2"}, ExitFailure, "unexpected_field"},
		{"no kind", []string{"record", "--sku", "BOLT", "--qty", "1", "--location", "A1"}, ExitUsage, "record needs --kind"},
		{"no qty", []string{"record", "--kind", "pick", "--sku", "BOLT", "--location", "A1"}, ExitUsage, "record needs --qty"},
		{"bad qty", []string{"record", "--kind", "pick", "--sku", "BOLT", "--qty", "three", "--location", "A1"}, ExitUsage, "not a whole number"},
		{"bad time", []string{"record", "--kind", "pick", "--sku", "BOLT", "--qty", "1", "--location", "A1", "--occurred-at", "yesterday"}, ExitUsage, "RFC 3339"},
		{"no action", nil, ExitUsage, "device needs an action"},
		{"unknown action", []string{"dance"}, ExitUsage, `unknown device action "dance"`},
		{"stray word", []string{"status", "now"}, ExitUsage, "takes no arguments"},
		{"sync before enrollment", []string{"sync"}, ExitFailure, "not enrolled"},
		{"enroll without code", []string{"enroll", "--server", "http://localhost:1"}, ExitUsage, "enroll needs --code"},
		{"unknown item", []string{"item", "BOLT"}, ExitFailure, "no item"},
		{"no database", []string{"status", "--dir", filepath.Join(dir, "nope")}, ExitFailure, "no device database"},
	} {
		r := run(t, env, append([]string{"device"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d naming %q", tc.name, r.code, r.stderr, tc.code, tc.stderr)
		}
	}

	r = run(t, env, "device", "status", "--json")
	var st client.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Enrolled || st.Pending != 2 || st.LastSeq != 2 {
		t.Fatalf("status --json: exit %d, %+v; want 2 pending on an unenrolled device", r.code, st)
	}
	r = run(t, env, "device", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "not enrolled") || !strings.Contains(r.stdout, "2 operations") {
		t.Errorf("status: %q", r.stdout)
	}

	r = run(t, env, "device", "ops")
	if r.code != 0 || !strings.Contains(r.stdout, "pick") || !strings.Contains(r.stdout, "adjust") || !strings.Contains(r.stdout, "pending") {
		t.Errorf("ops: %q", r.stdout)
	}
	r = run(t, env, "device", "ops", "--json", "--limit", "1")
	var ops []client.OpView
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ops) != nil || len(ops) != 1 || ops[0].Op.Kind != "adjust" {
		t.Errorf("ops --json --limit 1: %q", r.stdout)
	}
	r = run(t, env, "device", "ops", "--problems")
	if r.code != 0 || !strings.Contains(r.stdout, "no problems") {
		t.Errorf("ops --problems: %q", r.stdout)
	}
	// Flags may come after positional words, and the env var is only a
	// default.
	r = run(t, map[string]string{}, "device", "stock", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "no stock") {
		t.Errorf("stock: exit %d, %q", r.code, r.stdout)
	}
}

// deviceServer answers the sync protocol minimally: enrollment, pushes
// applied in order, and one pull page with a small catalog. revoked makes
// every sync request unauthorized.
type deviceServer struct {
	mu      sync.Mutex
	acked   int64
	revoked bool
}

func (s *deviceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/v1/devices/enroll":
		reply(http.StatusOK, syncproto.EnrollResponse{DeviceID: uuid.New(), Token: "ssd_test", Warehouse: "MAIN", BatchPrefix: "P1", LedgerID: "L1"})
	case s.revoked || r.Header.Get("Authorization") != "Bearer ssd_test":
		reply(http.StatusUnauthorized, syncproto.ErrorBody{Error: syncproto.Errorf(syncproto.CodeUnauthorized, "device revoked")})
	case r.URL.Path == "/v1/sync/push":
		var req syncproto.PushRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(http.StatusBadRequest, syncproto.ErrorBody{Error: syncproto.Errorf(syncproto.CodeInvalid, "%v", err)})
			return
		}
		resp := syncproto.PushResponse{ServerTime: time.Now()}
		for _, op := range req.Ops {
			resp.Results = append(resp.Results, syncproto.Result{OpID: op.OpID, Seq: op.Seq, Status: syncproto.StatusApplied})
			s.acked = max(s.acked, op.Seq)
		}
		resp.AckedSeq = s.acked
		reply(http.StatusOK, resp)
	case r.URL.Path == "/v1/sync/pull":
		reply(http.StatusOK, syncproto.PullResponse{LedgerID: "L1", Cursor: "c1", Reset: r.URL.Query().Get("cursor") == "", AckedSeq: s.acked,
			Items:     []syncproto.Item{{SKU: "BOLT", Name: "Bolt", Unit: "pc"}},
			Locations: []syncproto.Location{{Code: "A1"}},
			Balances:  []syncproto.Balance{{Location: "A1", SKU: "BOLT", OnHand: 10 - s.acked}}})
	default:
		reply(http.StatusNotFound, syncproto.ErrorBody{Error: syncproto.Errorf(syncproto.CodeNotFound, "no route")})
	}
}

// TestDeviceEnrollAndSync runs enroll and sync through Main against a
// minimal protocol handler; the end-to-end tests run them against the real
// server.
func TestDeviceEnrollAndSync(t *testing.T) {
	t.Parallel()
	srv := &deviceServer{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	env := map[string]string{"STOCKSYNC_DEVICE_DIR": t.TempDir()}

	r := run(t, env, "device", "enroll", "--server", hs.URL, "--code", "7KQ2M-X9D4T", "--name", "handheld-1")
	if r.code != 0 || !strings.Contains(r.stdout, `("handheld-1") in warehouse MAIN`) {
		t.Fatalf("enroll: exit %d, %q", r.code, r.stdout)
	}
	if r := run(t, env, "device", "enroll", "--server", hs.URL, "--code", "7KQ2M-X9D4T"); r.code != ExitFailure || !strings.Contains(r.stderr, "already enrolled") {
		t.Errorf("second enroll: exit %d, %q", r.code, r.stderr)
	}
	run(t, env, "device", "record", "--kind", "pick", "--sku", "BOLT", "--qty", "1", "--location", "A1")
	r = run(t, env, "device", "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "pushed 1 operation: 1 applied") || !strings.Contains(r.stdout, "0 pending") {
		t.Fatalf("sync: exit %d, %q", r.code, r.stdout)
	}
	r = run(t, env, "device", "stock", "--sku", "BOLT")
	if r.code != 0 || !strings.Contains(r.stdout, "A1") || !strings.Contains(r.stdout, "9") {
		t.Errorf("stock: %q", r.stdout)
	}

	srv.mu.Lock()
	srv.revoked = true
	srv.mu.Unlock()
	run(t, env, "device", "record", "--kind", "pick", "--sku", "BOLT", "--qty", "2", "--location", "A1")
	r = run(t, env, "device", "sync")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "1 unsent operation is kept") || !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("sync of a revoked device: exit %d, stderr %q; want a clear refusal that keeps the op", r.code, r.stderr)
	}
	r = run(t, env, "device", "sync", "--json")
	var out syncResult
	if r.code != ExitFailure || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Error == nil || out.Error.Code != "unauthorized" || out.Report.Pending != 1 {
		t.Errorf("sync --json of a revoked device: exit %d, %q", r.code, r.stdout)
	}
	r = run(t, env, "device", "status", "--json")
	var st client.Status
	if json.Unmarshal([]byte(r.stdout), &st) != nil || st.Pending != 1 || st.LastErrorCode != "unauthorized" || st.LastSync == nil {
		t.Errorf("status after the refusal: %+v", st)
	}
}
