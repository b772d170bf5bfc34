package bench_test

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"stocksync/bench"
	"stocksync/ledger"
)

// tinyConfig is the size the tests and CI run every scenario at.
var tinyConfig = bench.Config{Devices: 4, OpsPerDevice: 200, SKUs: 100, Locations: 10, BatchSize: 50, DuplicateRate: 0.25, Seed: 7}

// tinyDevice is the device scenario at a size that runs in seconds.
var tinyDevice = bench.DeviceConfig{Records: 200, Items: 300, Balances: 1200}

// lockedBuffer collects progress lines written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunTiny runs every scenario at a tiny size, on SQLite and, when
// STOCKSYNC_TEST_DATABASE_URL is set, on PostgreSQL, and checks that each
// ran, kept the invariants and measured something. It asserts nothing
// about speed: ratios and goals are for people.
func TestRunTiny(t *testing.T) {
	pgURL := os.Getenv("STOCKSYNC_TEST_DATABASE_URL")
	if pgURL == "" {
		t.Log("STOCKSYNC_TEST_DATABASE_URL is unset: the PostgreSQL scenarios are skipped; run with " +
			"STOCKSYNC_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' to run them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress lockedBuffer
	rep, err := bench.Run(ctx, bench.Options{Config: tinyConfig, DatabaseURL: pgURL, Dir: t.TempDir(), Device: tinyDevice, Progress: &progress})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name())
		t.Run(strings.ReplaceAll(r.Name(), " ", "_"), func(t *testing.T) {
			t.Logf("%s: figure %s, baseline %s, ratio %s, goal %s: %s", r.Name(), r.FigureText, r.BaselineText, r.RatioText, r.Goal, r.Status())
			for _, d := range r.Details {
				t.Log("  " + d)
			}
			if r.Error != "" {
				t.Fatalf("failed to run: %s", r.Error)
			}
			for _, p := range r.Problems {
				t.Errorf("invariant broken: %s", p)
			}
			if r.Skipped != "" {
				if pgURL != "" || r.Store != "postgres" {
					t.Fatalf("skipped: %s", r.Skipped)
				}
				return
			}
			if r.Figure <= 0 || r.FigureText == "" {
				t.Errorf("figure %v (%q) is not positive", r.Figure, r.FigureText)
			}
			if r.Scenario != bench.ScenarioDevice && (r.Baseline <= 0 || r.Ratio <= 0) {
				t.Errorf("baseline %v, ratio %v: want both positive", r.Baseline, r.Ratio)
			}
			for k, v := range r.Metrics {
				if v < 0 {
					t.Errorf("metric %s = %v is negative", k, v)
				}
			}
		})
	}
	want := []string{"pg-merge", "sqlite-merge", "replay (postgres)", "replay (sqlite)", "http", "shift-end", "hot-keys", "device"}
	if !slices.Equal(names, want) {
		t.Errorf("results %q, want %q", names, want)
	}
	if f := rep.Failed(); len(f) > 0 {
		t.Errorf("Failed() = %q", f)
	}
	if pgURL != "" && len(rep.Schemas) == 0 {
		t.Error("the report names no schema")
	}
	for _, s := range rep.Schemas {
		if schemaExists(t, pgURL, s) {
			t.Errorf("schema %s left behind", s)
		}
	}
}

// schemaExists reports whether the schema is in the database.
func schemaExists(t *testing.T, pgURL, schema string) bool {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestRunOptions checks what Run refuses, and that a scenario subset
// without PostgreSQL runs only what was asked.
func TestRunOptions(t *testing.T) {
	ctx := context.Background()
	bad := tinyConfig
	bad.BatchSize = 1001
	if _, err := bench.Run(ctx, bench.Options{Config: bad}); err == nil || !strings.Contains(err.Error(), "--batch") {
		t.Errorf("batch of 1001: err %v, want one naming --batch", err)
	}
	if _, err := bench.Run(ctx, bench.Options{Config: tinyConfig, Scenarios: []string{"nope"}}); err == nil {
		t.Error("unknown scenario: no error")
	}
	rep, err := bench.Run(ctx, bench.Options{Config: tinyConfig, Scenarios: []string{bench.ScenarioHTTP, bench.ScenarioSQLiteMerge}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || rep.Results[0].Scenario != bench.ScenarioSQLiteMerge || rep.Results[1].Skipped == "" {
		t.Fatalf("results %+v: want sqlite-merge, then http skipped for want of PostgreSQL", rep.Results)
	}
	if rep.Results[0].Failed() || rep.Results[0].Figure <= 0 {
		t.Errorf("sqlite-merge: %+v", rep.Results[0])
	}

	got, err := bench.ParseScenarios("replay, pg-merge,replay")
	if err != nil || !slices.Equal(got, []string{"replay", "pg-merge"}) {
		t.Errorf("ParseScenarios: %q, %v", got, err)
	}
	if got, err := bench.ParseScenarios("all"); err != nil || !slices.Equal(got, bench.Scenarios) {
		t.Errorf("ParseScenarios(all): %q, %v", got, err)
	}
	for _, s := range []string{"", "pg-merge,frob"} {
		if _, err := bench.ParseScenarios(s); err == nil {
			t.Errorf("ParseScenarios(%q): no error", s)
		}
	}
}

// TestWorkloadDeterministic: the same seed sends the same operations, op
// ids included; another seed does not.
func TestWorkloadDeterministic(t *testing.T) {
	a, b := bench.NewWorkload(tinyConfig, false), bench.NewWorkload(tinyConfig, false)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two workloads from one seed differ")
	}
	other := tinyConfig
	other.Seed++
	if reflect.DeepEqual(a.Devices, bench.NewWorkload(other, false).Devices) {
		t.Fatal("workloads from two seeds are equal")
	}
}

// TestWorkloadShape checks the mix, the op ids, the times, the pushes and
// the opening stock of a mid-sized workload.
func TestWorkloadShape(t *testing.T) {
	cfg := bench.Config{Devices: 20, OpsPerDevice: 1000, SKUs: 2000, Locations: 50, BatchSize: 100, DuplicateRate: 0.1, Seed: 3}
	w := bench.NewWorkload(cfg, false)
	if w.DeviceOps() != 20_000 || len(w.Devices) != 20 {
		t.Fatalf("%d devices, %d ops", len(w.Devices), w.DeviceOps())
	}
	share := map[string][2]float64{"receive": {0.22, 0.28}, "pick": {0.50, 0.60}, "return": {0.02, 0.04},
		"transfer": {0.10, 0.14}, "count": {0.01, 0.03}, "adjust": {0.02, 0.04}}
	for kind, n := range w.KindCounts() {
		f := float64(n) / float64(w.DeviceOps())
		if r, ok := share[kind]; !ok || f < r[0] || f > r[1] {
			t.Errorf("%s: %.3f of the operations, want %v", kind, f, share[kind])
		}
	}
	ids := map[uuid.UUID]bool{}
	start, end := time.Date(2025, 6, 2, 6, 0, 0, 0, time.UTC), time.Date(2025, 6, 2, 14, 0, 0, 0, time.UTC)
	byBarcode := 0
	for _, d := range w.Devices {
		for i, op := range d.Ops {
			if ids[op.OpID] || op.OpID.Version() != 7 || op.OpID.Variant() != uuid.RFC4122 {
				t.Fatalf("%s op %d: op id %s is repeated or not a UUIDv7", d.Name, i, op.OpID)
			}
			ids[op.OpID] = true
			if op.Seq != int64(i+1) {
				t.Fatalf("%s op %d has seq %d", d.Name, i, op.Seq)
			}
			if op.OccurredAt.Before(start) || !op.OccurredAt.Before(end) || (i > 0 && !op.OccurredAt.After(d.Ops[i-1].OccurredAt)) {
				t.Fatalf("%s op %d occurred at %s: outside the shift or not after the previous", d.Name, i, op.OccurredAt)
			}
			if err := op.Validate(); err != nil {
				t.Fatalf("%s op %d (%+v) is invalid: %v", d.Name, i, op, err)
			}
			if op.Barcode != "" {
				byBarcode++
			}
		}
		// The pushes cover the ops in order; a repeat is the push before.
		next := 0
		for j, dl := range d.Deliveries {
			if dl.Repeat {
				if j == 0 || d.Deliveries[j-1].From != dl.From || d.Deliveries[j-1].To != dl.To || d.Deliveries[j-1].Repeat {
					t.Fatalf("%s push %d repeats nothing before it", d.Name, j)
				}
				continue
			}
			if dl.From != next || dl.Len() < 1 || dl.Len() > cfg.BatchSize {
				t.Fatalf("%s push %d covers %d-%d, want from %d", d.Name, j, dl.From, dl.To, next)
			}
			next = dl.To
		}
		if next != len(d.Ops) {
			t.Fatalf("%s pushes cover %d of %d ops", d.Name, next, len(d.Ops))
		}
	}
	if f := float64(byBarcode) / float64(w.DeviceOps()); f < 0.45 || f > 0.55 {
		t.Errorf("%.2f of the operations scanned by barcode, want about half", f)
	}
	total, repeats := w.Pushes()
	if f := float64(repeats) / float64(total-repeats); f < 0.05 || f > 0.16 {
		t.Errorf("%d of %d pushes repeated, want about 10%%", repeats, total-repeats)
	}
	if w.DeliveredOps() <= w.DeviceOps() {
		t.Errorf("delivered %d ops for %d distinct: the repeats are not counted", w.DeliveredOps(), w.DeviceOps())
	}
	if len(w.Opening) != w.Keys || w.Keys != 2*cfg.SKUs {
		t.Errorf("%d opening receipts for %d keys, want one per key, two per SKU", len(w.Opening), w.Keys)
	}
	tracked := 0
	for _, it := range w.Catalog.Items {
		if it.BatchTracked {
			tracked++
		}
	}
	if tracked != cfg.SKUs/5 || len(w.Catalog.Batches) != tracked {
		t.Errorf("%d of %d items batch-tracked with %d lots, want a fifth", tracked, cfg.SKUs, len(w.Catalog.Batches))
	}
	for _, op := range w.Opening {
		if op.Kind != ledger.KindReceive || op.Qty < 10 {
			t.Fatalf("opening %+v", op)
		}
	}

	hot := bench.NewWorkload(cfg, true)
	if f := float64(hot.HotKeyOps) / float64(hot.DeviceOps()); f < 0.78 || f > 0.86 {
		t.Errorf("hot workload: %.3f of the operations on hot keys, want about 0.8", f)
	}
	if hot.HotKeys*100 != hot.Keys {
		t.Errorf("hot workload: %d hot keys of %d, want 1%%", hot.HotKeys, hot.Keys)
	}
	if f := float64(w.HotKeyOps) / float64(w.DeviceOps()); f > 0.03 {
		t.Errorf("uniform workload: %.3f of the operations on the hot keys, want about 0.01", f)
	}
}
