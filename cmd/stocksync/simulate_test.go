package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// simTenant creates a tenant with 'stocksync tenant create --json' and no
// catalog (simulate --seed-catalog loads one), for the simulate tests.
func simTenant(t *testing.T, db, url, slug string) e2eTenant {
	t.Helper()
	r := run(t, nil, "tenant", "create", slug, "--json", "--db", db)
	if r.code != 0 {
		t.Fatalf("tenant create: exit %d: %s", r.code, r.stderr)
	}
	var created createdTenant
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || created.APIKey == "" {
		t.Fatalf("tenant create --json printed %q (%v)", r.stdout, err)
	}
	return e2eTenant{db: db, url: url, key: created.APIKey}
}

// opCount is how many operations the tenant's op log holds, paged per
// device the way docs/openapi.yaml says to.
func (tn e2eTenant) opCount(t *testing.T) int {
	t.Helper()
	var devices struct {
		Devices []struct {
			ID string `json:"id"`
		} `json:"devices"`
	}
	tn.call(t, "GET", "/v1/devices", nil, http.StatusOK, &devices)
	n := 0
	for _, d := range devices.Devices {
		after := int64(0)
		for {
			var log opLog
			tn.call(t, "GET", "/v1/ops?limit=1000&device_id="+d.ID+"&after_seq="+strconv.FormatInt(after, 10), nil, http.StatusOK, &log)
			if len(log.Ops) == 0 {
				break
			}
			n += len(log.Ops)
			after = log.Ops[len(log.Ops)-1].Seq
		}
	}
	return n
}

// TestSimulate drives a few simulated handhelds against the real server,
// on both stores: a synthetic catalog, a shift recorded offline and synced
// all at once, then one syncing as it goes; every operation ends in the op
// log exactly once, none is held or rejected, and the ledger checks clean.
// The same seed on a fresh tenant records the same shift.
func TestSimulate(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := simTenant(t, db, srv.URL, "sim")

		r := run(t, nil, "simulate", "--server", srv.URL, "--key", tn.key, "--devices", "3", "--ops", "30",
			"--seed-catalog", "--skus", "20", "--locations", "8", "--seed", "20261127", "--json")
		if r.code != 0 {
			t.Fatalf("simulate: exit %d: %s", r.code, r.stderr)
		}
		var rep simReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("simulate --json: %v\n%s", err, r.stdout)
		}
		if rep.Seed != 20261127 || rep.Devices != 3 || rep.OpsPerDevice != 30 || !rep.CatalogSeeded ||
			rep.Catalog.Items != 20 || rep.Catalog.Locations != 11 {
			t.Errorf("report header %+v; want the seed, 3×30, the seeded 20 items and 8+3 locations", rep)
		}
		if rep.Recorded != 90 || rep.Acknowledged != 90 || len(rep.Pending) != 0 || rep.SyncFailures != 0 || len(rep.Refused) != 0 {
			t.Fatalf("simulate: recorded %d, acknowledged %d, pending %v, %d sync failures, refused %v; want 90 acknowledged and nothing left",
				rep.Recorded, rep.Acknowledged, rep.Pending, rep.SyncFailures, rep.Refused)
		}
		if rep.ByStatus["held"] != 0 || rep.ByStatus["rejected"] != 0 || rep.ByStatus["applied"]+rep.ByStatus["flagged"] != 90 {
			t.Errorf("results %v; want every operation applied or flagged", rep.ByStatus)
		}
		if rep.Syncs != 3 || rep.Pushes < 3 || rep.Attempts < rep.Syncs || rep.SyncP50 <= 0 || rep.SyncP99 < rep.SyncP50 {
			t.Errorf("requests: %d syncs, %d pushes, %d attempts, p50 %v p99 %v", rep.Syncs, rep.Pushes, rep.Attempts, rep.SyncP50, rep.SyncP99)
		}
		if n := tn.opCount(t); n != 90 {
			t.Fatalf("op log holds %d operations, want 3×30", n)
		}
		checkDB(t, db)

		// Syncing as it goes, with the databases kept: the text summary.
		dir := t.TempDir()
		r = run(t, map[string]string{"STOCKSYNC_API_KEY": tn.key, "STOCKSYNC_SERVER": srv.URL},
			"simulate", "--devices", "2", "--ops", "12", "--sync-every", "5", "--concurrency", "1", "--dir", dir, "--seed", "7")
		if r.code != 0 {
			t.Fatalf("simulate --sync-every: exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"2 devices × 12 ops", "seed 7 (repeat with --seed 7)", "recorded: 24 ops",
			"a sync every 5 ops, at most 1 devices syncing at once", "results: 24 of 24 acknowledged", "0 held, 0 rejected",
			"requests: 6 syncs (0 failed)", "sync latency: p50 ", "pending: none", "device databases: " + dir} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("summary lacks %q", want)
			}
		}
		for _, d := range []string{"device-001", "device-002"} {
			if _, err := os.Stat(filepath.Join(dir, d, deviceDBFile)); err != nil {
				t.Errorf("--dir: %v", err)
			}
		}
		if n := tn.opCount(t); n != 90+24 {
			t.Fatalf("op log holds %d operations, want 90+24", n)
		}
		checkDB(t, db)

		// A directory that holds devices is not enrolled over.
		r = run(t, nil, "simulate", "--server", srv.URL, "--key", tn.key, "--devices", "1", "--ops", "1", "--dir", dir)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "already holds a device database") {
			t.Errorf("simulate into a used --dir: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestSimulateSeedReplays: one device, the same seed, two fresh tenants
// with the same catalog: the same operations with the same outcomes.
func TestSimulateSeedReplays(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "server.db")
	srv := startServer(t, db)
	var reps []simReport
	for _, slug := range []string{"replay-a", "replay-b"} {
		tn := simTenant(t, db, srv.URL, slug)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := simulate(ctx, simulateConfig{Server: srv.URL, Key: tn.key, Warehouse: "MAIN", Devices: 1, Ops: 40,
			SyncEvery: 10, Seed: 99, SeedCatalog: true, SKUs: 10, Locations: 4})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	a, b := reps[0], reps[1]
	if !maps.Equal(a.ByKind, b.ByKind) || !maps.Equal(a.ByStatus, b.ByStatus) || !maps.Equal(a.ByCode, b.ByCode) {
		t.Fatalf("seed 99 gave different shifts:\n%v %v %v\n%v %v %v", a.ByKind, a.ByStatus, a.ByCode, b.ByKind, b.ByStatus, b.ByCode)
	}
}

func TestSimulateUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantStderr []string
	}{
		{"no server or key", nil, []string{"simulate"}, []string{"--server is required", "--key is required"}},
		{"no key", nil, []string{"simulate", "--server", "http://127.0.0.1:1"}, []string{"--key is required", "STOCKSYNC_API_KEY"}},
		{"no server", map[string]string{"STOCKSYNC_API_KEY": "ssk_x"}, []string{"simulate"}, []string{"--server is required"}},
		{"bad server", nil, []string{"simulate", "--server", "ftp://x", "--key", "k"}, []string{"--server"}},
		{"bad numbers", nil, []string{"simulate", "--server", "http://x", "--key", "k", "--devices", "0", "--ops", "-1"},
			[]string{"--devices must be from 1", "--ops must be from 1"}},
		{"bad env", map[string]string{"STOCKSYNC_SIM_OPS": "many"}, []string{"simulate", "--server", "http://x", "--key", "k"},
			[]string{"STOCKSYNC_SIM_OPS must be a whole number"}},
		{"stray argument", nil, []string{"simulate", "--server", "http://x", "--key", "k", "now"}, []string{"simulate takes no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.env, tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d", r.code, ExitUsage)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestSimReportFailure: a device left with pending operations, or a failed
// sync, makes the run fail and says which.
func TestSimReportFailure(t *testing.T) {
	t.Parallel()
	ok := simReport{Devices: 1, OpsPerDevice: 1, SyncEvery: 1, ByStatus: map[string]int{"applied": 1}}
	if msg := ok.failure(); msg != "" {
		t.Errorf("a clean run fails: %q", msg)
	}
	bad := ok
	bad.SyncFailures = 1
	bad.Pending = []simPending{{Device: "sim 001", Dir: "/tmp/d/device-001", Pending: 3, Error: "connection refused"}}
	if msg := bad.failure(); !strings.Contains(msg, "1 device(s) left with pending operations") || !strings.Contains(msg, "1 sync(s) failed") {
		t.Errorf("failure() = %q", msg)
	}
	var out strings.Builder
	bad.print(&out)
	if !strings.Contains(out.String(), "pending: sim 001 has 3 operations not acknowledged (stocksync device status --dir /tmp/d/device-001): connection refused") {
		t.Errorf("summary does not name the pending device:\n%s", out.String())
	}
}

// TestSimulateSeeds runs the deterministic fault simulation through the
// binary: no server or key needed, and the faults are printed by kind.
func TestSimulateSeeds(t *testing.T) {
	r := run(t, nil, "simulate", "--seeds", "2", "--seed", "5", "--db", filepath.Join(t.TempDir(), "unused.db"))
	if r.code != 0 {
		t.Fatalf("simulate --seeds: exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "2 seeds (5 to 6) on sqlite") || !strings.Contains(r.stdout, "0 seed(s) failed") || !strings.Contains(r.stdout, "net_") {
		t.Errorf("simulate --seeds printed:\n%s", r.stdout)
	}
}
