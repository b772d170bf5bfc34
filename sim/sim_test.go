package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"stocksync/ledger"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/ledger/sqlite"
)

var (
	flagSeed  = flag.Int64("sim.seed", 0, "run only this seed (also STOCKSYNC_SIM_SEED)")
	flagSeeds = flag.Int("sim.seeds", 0, "how many seeds TestSimulation runs, from 1 (default 200, 25 under -race)")
	flagOps   = flag.Int("sim.ops", DefaultOps, "operations each device records per seed")
)

// regressionSeeds run first, always, even with a small -sim.seeds: seeds
// that once failed, and seeds that between them inject every fault and
// event kind. A seed's meaning is tied to the scheduler: any change to
// what the run draws from the seed changes what each seed does, so
// re-pick them then (the Faults of each seed say what it did).
var regressionSeeds = []int64{
	174, // every network fault, a crash after commit, restore with lost ops on the server, 4 decisions, 2 ops posted at their receive time after a clock jump back (once invalid_time)
	70,  // merges failing before begin, after movements, after balances; busy and serialization errors
	18,  // a merge failing before commit
	66,  // a restored device renumbering an operation the server had (renumbered replay), 3 ops posted at their receive time
	42,  // a restored device with a seq gap where its lost operation was (the push again must go in contiguous runs)
	85,  // a location created by map_reference, and a later operation naming it posted instead of held
}

// seeds returns the seeds to run: the one asked for, or the regression
// seeds and then 1..N.
func seeds(t *testing.T) []int64 {
	if s := os.Getenv("STOCKSYNC_SIM_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("STOCKSYNC_SIM_SEED=%q is not a number", s)
		}
		return []int64{n}
	}
	if *flagSeed != 0 {
		return []int64{*flagSeed}
	}
	n := *flagSeeds
	if n <= 0 {
		n = defaultSeeds()
	}
	out := slices.Clone(regressionSeeds)
	for i := int64(1); i <= int64(n); i++ {
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

// stores opens the server stores a seed runs on: a SQLite file, and a
// PostgreSQL schema when STOCKSYNC_TEST_DATABASE_URL is set. Every seed
// makes tenants of its own, so one store serves them all.
func stores(t *testing.T) map[string]ledger.Store {
	t.Helper()
	out := map[string]ledger.Store{}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	out["sqlite"] = s
	if os.Getenv(pgtest.EnvURL) != "" {
		out["postgres"] = pgtest.New(t)
	} else {
		t.Logf("PostgreSQL side skipped: set %s to run it", pgtest.EnvURL)
	}
	return out
}

// TestSimulation runs the deterministic fault simulation over many seeds
// on every store, and checks that a seed ends the same on both.
func TestSimulation(t *testing.T) {
	ctx := context.Background()
	sts := stores(t)
	total := map[string]Faults{}
	started := time.Now()
	n := 0
	for _, seed := range seeds(t) {
		dir := t.TempDir()
		reps := map[string]Report{}
		for _, name := range []string{"sqlite", "postgres"} {
			st, ok := sts[name]
			if !ok {
				continue
			}
			rep, err := Run(ctx, Config{Seed: seed, Store: st, Dir: filepath.Join(dir, name), Ops: *flagOps})
			if err != nil {
				var f *Failure
				if errors.As(err, &f) {
					t.Errorf("%s: %v\nreproduce: go test ./sim -run 'TestSimulation$' -sim.seed=%d -v", name, err, seed)
				} else {
					t.Errorf("%s: seed %d: %v\nreproduce: go test ./sim -run 'TestSimulation$' -sim.seed=%d -v", name, seed, err, seed)
				}
				continue
			}
			if total[name] == nil {
				total[name] = Faults{}
			}
			total[name].Add(rep.Faults)
			reps[name] = rep
		}
		if a, b := reps["sqlite"], reps["postgres"]; a.Fingerprint != nil && b.Fingerprint != nil {
			if diff := fingerprintDiff(a.Fingerprint, b.Fingerprint); diff != "" {
				t.Errorf("seed %d ends differently on SQLite and PostgreSQL:\n%s\nreproduce: go test ./sim -run 'TestSimulation$' -sim.seed=%d -v", seed, diff, seed)
			}
		}
		n++
		if t.Failed() && *flagSeed == 0 {
			break
		}
	}
	for name, f := range total {
		t.Logf("%s: %d seeds, %d faults injected: %s", name, n, f.Total(), f)
	}
	t.Logf("%d seeds in %s", n, time.Since(started).Round(time.Millisecond))
}

// fingerprintDiff lists the lines only one side has, or "".
func fingerprintDiff(a, b []string) string {
	if slices.Equal(a, b) {
		return ""
	}
	out := ""
	for _, s := range a {
		if !slices.Contains(b, s) {
			out += fmt.Sprintf("  sqlite only:   %s\n", s)
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			out += fmt.Sprintf("  postgres only: %s\n", s)
		}
	}
	if out == "" {
		out = "  same lines, different order or multiplicity\n"
	}
	return out
}

// defaultSeeds is how many seeds run without -sim.seeds: 200 on each
// store, which takes about two minutes on two cores; under -race, where
// SQLite is far slower, 25 (run 'go test ./sim' without -race for the
// full count).
func defaultSeeds() int {
	if raceEnabled {
		return 25
	}
	return 200
}
