package main

// 'stocksync simulate': N handhelds, each a real client with its own SQLite
// database, enrolled through the management API, recording M operations
// against the catalog they pulled and syncing them to a running server. It
// only speaks HTTP to the server, so it measures what a shift end costs a
// real deployment; the later benchmarks build on simulate().

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/ledger/sqlite"
	"stocksync/sim"
	"stocksync/syncproto"
)

// Defaults of 'stocksync simulate'.
const (
	defaultSimDevices   = 10
	defaultSimOps       = 200
	defaultSimSKUs      = 100
	defaultSimLocations = 40
)

// simAppVersion is what simulated handhelds report, so managers can tell
// them from real ones in GET /v1/devices.
const simAppVersion = "stocksync-simulate"

// simShift is how long the simulated shift lasts: the operations' floor
// times are spread over it, ending when the run starts, so the ledger sees
// devices that were offline for a while rather than one instant.
const simShift = 8 * time.Hour

// simulateConfig is the configuration of 'stocksync simulate'. Every flag
// defaults from a STOCKSYNC_SIM_* variable, or from the STOCKSYNC_SERVER and
// STOCKSYNC_API_KEY the other commands document.
type simulateConfig struct {
	// Server is the URL of a running server; Key a manager or admin API
	// key of the tenant the devices join.
	Server string
	Key    string
	// Warehouse is where the devices are enrolled.
	Warehouse string
	// Devices record Ops operations each.
	Devices int
	Ops     int
	// Concurrency is how many devices sync at once; 0 is all of them.
	Concurrency int
	// Seed drives every choice of every device; 0 picks one from the clock.
	Seed int64
	// Dir holds the device databases, one directory per device; empty is
	// a temporary directory removed afterwards.
	Dir string
	// SyncEvery is how many operations a device records between syncs; 0
	// is Ops: the whole shift offline, then one sync.
	SyncEvery int
	// SeedCatalog loads a synthetic catalog of SKUs items and Locations
	// bins into Warehouse first.
	SeedCatalog bool
	SKUs        int
	Locations   int
	JSON        bool
	// Seeds, when set, runs the deterministic fault simulation (package
	// sim) in process for that many seeds from Seed (1 when 0), on the
	// store kind of --db, instead of driving a server.
	Seeds int

	// Logger receives the devices' retries; nil discards them.
	Logger *slog.Logger

	// envErrs are unreadable environment defaults, reported by validate.
	envErrs []error
}

func (m *Main) simulateFlags(fs *flag.FlagSet) {
	c := &m.simulate
	envInt := func(key string, def int) int {
		s := m.Getenv(key)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s must be a whole number, got %q", key, s))
			return def
		}
		return n
	}
	server := m.env("STOCKSYNC_SIM_SERVER", m.Getenv("STOCKSYNC_SERVER"))
	key := m.Getenv("STOCKSYNC_API_KEY")
	if f := m.Getenv("STOCKSYNC_API_KEY_FILE"); f != "" && key == "" {
		b, err := os.ReadFile(f)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("STOCKSYNC_API_KEY_FILE: %w", err))
		}
		key = strings.TrimSpace(string(b))
	}
	var seed int64
	if s := m.Getenv("STOCKSYNC_SIM_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("STOCKSYNC_SIM_SEED must be a whole number, got %q", s))
		}
		seed = n
	}
	seedCatalog := false
	if s := m.Getenv("STOCKSYNC_SIM_SEED_CATALOG"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("STOCKSYNC_SIM_SEED_CATALOG must be true or false, got %q", s))
		}
		seedCatalog = b
	}
	fs.StringVar(&c.Server, "server", server, "the server's URL, e.g. http://localhost:8080 (required; env STOCKSYNC_SIM_SERVER or STOCKSYNC_SERVER)")
	fs.StringVar(&c.Key, "key", key, "a manager or admin API key of the tenant to simulate (required; env STOCKSYNC_API_KEY or STOCKSYNC_API_KEY_FILE)")
	fs.StringVar(&c.Warehouse, "warehouse", m.env("STOCKSYNC_SIM_WAREHOUSE", "MAIN"), "the warehouse the devices work in (env STOCKSYNC_SIM_WAREHOUSE)")
	fs.IntVar(&c.Devices, "devices", envInt("STOCKSYNC_SIM_DEVICES", defaultSimDevices), "simulated handhelds (env STOCKSYNC_SIM_DEVICES)")
	fs.IntVar(&c.Ops, "ops", envInt("STOCKSYNC_SIM_OPS", defaultSimOps), "operations each device records (env STOCKSYNC_SIM_OPS)")
	fs.IntVar(&c.Concurrency, "concurrency", envInt("STOCKSYNC_SIM_CONCURRENCY", 0), "devices syncing at once, 0 for all (env STOCKSYNC_SIM_CONCURRENCY)")
	fs.Int64Var(&c.Seed, "seed", seed, "seed of every device's choices, 0 for one from the clock; printed so a run can be repeated (env STOCKSYNC_SIM_SEED)")
	fs.StringVar(&c.Dir, "dir", m.Getenv("STOCKSYNC_SIM_DIR"), "directory for the device databases, one directory each (default: a temporary directory, removed afterwards; env STOCKSYNC_SIM_DIR)")
	fs.IntVar(&c.SyncEvery, "sync-every", envInt("STOCKSYNC_SIM_SYNC_EVERY", 0), "sync after every K recorded operations, 0 to record the whole shift offline and sync once (env STOCKSYNC_SIM_SYNC_EVERY)")
	fs.BoolVar(&c.SeedCatalog, "seed-catalog", seedCatalog, "load a synthetic catalog into --warehouse first (env STOCKSYNC_SIM_SEED_CATALOG)")
	fs.IntVar(&c.SKUs, "skus", envInt("STOCKSYNC_SIM_SKUS", defaultSimSKUs), "with --seed-catalog: items, a quarter of them batch-tracked (env STOCKSYNC_SIM_SKUS)")
	fs.IntVar(&c.Locations, "locations", envInt("STOCKSYNC_SIM_LOCATIONS", defaultSimLocations), "with --seed-catalog: bins, besides the docks and the returns bay (env STOCKSYNC_SIM_LOCATIONS)")
	fs.BoolVar(&c.JSON, "json", false, "print the summary as JSON")
	fs.IntVar(&c.Seeds, "seeds", envInt("STOCKSYNC_SIM_SEEDS", 0), "run the deterministic fault simulation in process for this many seeds, from --seed (1 when 0), on --db's kind of store (a temporary SQLite file, or the PostgreSQL database, in tenants named sim-*), instead of driving --server; --ops is then operations per device (default "+strconv.Itoa(sim.DefaultOps)+") (env STOCKSYNC_SIM_SEEDS)")
}

// validate reports every problem with the simulate configuration.
func (c *simulateConfig) validate() []error {
	errs := append([]error(nil), c.envErrs...)
	if c.Seeds < 0 || c.Seeds > 1_000_000 {
		errs = append(errs, fmt.Errorf("--seeds must be from 0 to 1000000, got %d", c.Seeds))
	}
	if c.Seeds > 0 {
		// In-process: no server, no key.
		return errs
	}
	if c.Server == "" {
		errs = append(errs, errors.New("--server is required: the URL of a running stocksync server, e.g. http://localhost:8080 (env STOCKSYNC_SERVER)"))
	} else if _, err := client.NormalizeServerURL(c.Server); err != nil {
		errs = append(errs, fmt.Errorf("--server: %w", err))
	}
	if c.Key == "" {
		errs = append(errs, errors.New("--key is required: a manager or admin API key of the tenant to simulate, as 'stocksync tenant create' prints (env STOCKSYNC_API_KEY)"))
	}
	if strings.TrimSpace(c.Warehouse) == "" {
		errs = append(errs, errors.New("--warehouse is empty"))
	}
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"--devices", c.Devices, 1, 100_000},
		{"--ops", c.Ops, 1, 10_000_000},
		{"--concurrency", c.Concurrency, 0, 100_000},
		{"--sync-every", c.SyncEvery, 0, 10_000_000},
		{"--skus", c.SKUs, 1, 1_000_000},
		{"--locations", c.Locations, 1, 100_000},
	} {
		if f.v < f.lo || f.v > f.hi {
			errs = append(errs, fmt.Errorf("%s must be from %d to %d, got %d", f.name, f.lo, f.hi, f.v))
		}
	}
	return errs
}

func (m *Main) runSimulate(ctx context.Context) error {
	cfg := m.simulate
	cfg.Logger = m.Logger
	if cfg.Seeds > 0 {
		return m.runSimSeeds(ctx, cfg)
	}
	rep, err := simulate(ctx, cfg)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if cfg.JSON {
		if err := m.printJSON(rep); err != nil {
			return err
		}
	} else {
		rep.print(m.Stdout)
	}
	if msg := rep.failure(); msg != "" {
		return &ExitError{Code: ExitFailure, Err: errors.New(msg)}
	}
	return nil
}

// simReport is what one simulate run did: the summary it prints, and what
// benchmarks read.
type simReport struct {
	Seed         int64  `json:"seed"`
	Server       string `json:"server"`
	Warehouse    string `json:"warehouse"`
	Devices      int    `json:"devices"`
	OpsPerDevice int    `json:"ops_per_device"`
	SyncEvery    int    `json:"sync_every"`
	Concurrency  int    `json:"concurrency"`
	// Dir is where the device databases are; empty when they were in a
	// temporary directory, now removed.
	Dir string `json:"dir,omitempty"`

	// Catalog is what the devices pulled; CatalogSeeded says whether this
	// run loaded it.
	Catalog       simCatalogSize `json:"catalog"`
	CatalogSeeded bool           `json:"catalog_seeded"`
	// SetupSeconds is enrolling the devices and their first pull.
	SetupSeconds float64 `json:"setup_seconds"`

	// Recorded is the operations the devices stored, by kind; Refused the
	// ones a device refused to record, by code (a bug of the generator,
	// or a catalog it does not expect).
	Recorded int            `json:"recorded"`
	ByKind   map[string]int `json:"by_kind"`
	Refused  map[string]int `json:"refused,omitempty"`
	// RecordSeconds is the longest time one device spent inside Record:
	// the devices record in parallel, so it is the recording phase's
	// length when the whole shift is recorded before syncing.
	RecordSeconds float64 `json:"record_seconds"`
	RecordOpsPerS float64 `json:"record_ops_per_second"`
	// WallSeconds runs from the first recorded operation to the end of the
	// last sync; EndToEndOpsPerS is Acknowledged over it.
	WallSeconds     float64 `json:"wall_seconds"`
	EndToEndOpsPerS float64 `json:"end_to_end_ops_per_second"`

	// Acknowledged is the recorded operations the server answered with a
	// result, ByStatus and ByCode ("flagged/negative_stock") break them
	// down, as the devices stored them.
	Acknowledged int            `json:"acknowledged"`
	ByStatus     map[string]int `json:"by_status"`
	ByCode       map[string]int `json:"by_code"`
	Replayed     int            `json:"replayed"`

	// Syncs is the Sync calls that pushed operations; SyncFailures those
	// that returned an error, with the first few errors.
	Syncs        int      `json:"syncs"`
	SyncFailures int      `json:"sync_failures"`
	SyncErrors   []string `json:"sync_errors,omitempty"`
	// Pushes and PullPages are the requests the server answered with 2xx;
	// Attempts every request the devices sent while syncing; Retries the
	// attempts that failed with what the client retries (429, 5xx, a
	// network error).
	Pushes    int64 `json:"pushes"`
	PullPages int64 `json:"pull_pages"`
	Attempts  int   `json:"attempts"`
	Retries   int64 `json:"retries"`
	// SyncP50, SyncP99 and SyncMax are the durations of those Sync calls,
	// in seconds.
	SyncP50 float64 `json:"sync_p50_seconds"`
	SyncP99 float64 `json:"sync_p99_seconds"`
	SyncMax float64 `json:"sync_max_seconds"`

	// Pending lists the devices left with operations the server has not
	// acknowledged.
	Pending []simPending `json:"pending"`
}

// simCatalogSize counts a pulled catalog.
type simCatalogSize struct {
	Items     int `json:"items"`
	Locations int `json:"locations"`
	Batches   int `json:"batches"`
}

// simPending is a device left with unacknowledged operations.
type simPending struct {
	Device  string `json:"device"`
	Dir     string `json:"dir,omitempty"`
	Pending int    `json:"pending"`
	Error   string `json:"last_error,omitempty"`
}

// failure says why the run must exit 1, or "" when it succeeded.
func (r simReport) failure() string {
	var why []string
	if n := len(r.Pending); n > 0 {
		why = append(why, fmt.Sprintf("%d device(s) left with pending operations", n))
	}
	if r.SyncFailures > 0 {
		why = append(why, fmt.Sprintf("%d sync(s) failed", r.SyncFailures))
	}
	if n := sumValues(r.Refused); n > 0 {
		why = append(why, fmt.Sprintf("%d operation(s) refused by the devices", n))
	}
	return strings.Join(why, "; ")
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// print writes the human summary.
func (r simReport) print(w io.Writer) {
	fmt.Fprintf(w, "simulate: %d devices × %d ops against %s, warehouse %s, seed %d (repeat with --seed %d)\n",
		r.Devices, r.OpsPerDevice, r.Server, r.Warehouse, r.Seed, r.Seed)
	seeded := ""
	if r.CatalogSeeded {
		seeded = " (seeded by this run)"
	}
	fmt.Fprintf(w, "catalog: %d items, %d locations, %d batches%s\n", r.Catalog.Items, r.Catalog.Locations, r.Catalog.Batches, seeded)
	fmt.Fprintf(w, "setup: enrolled %d devices and pulled the catalog in %.2fs\n", r.Devices, r.SetupSeconds)
	fmt.Fprintf(w, "recorded: %d ops (%s) in %.2fs: %.0f ops/s\n", r.Recorded, countList(r.ByKind), r.RecordSeconds, r.RecordOpsPerS)
	if n := sumValues(r.Refused); n > 0 {
		fmt.Fprintf(w, "refused by the devices: %d (%s)\n", n, countList(r.Refused))
	}
	every := "the whole shift, then one sync"
	if r.SyncEvery < r.OpsPerDevice {
		every = fmt.Sprintf("a sync every %d ops", r.SyncEvery)
	}
	fmt.Fprintf(w, "synced: %s, at most %d devices syncing at once; end to end %d ops in %.2fs: %.0f ops/s\n",
		every, r.Concurrency, r.Acknowledged, r.WallSeconds, r.EndToEndOpsPerS)
	fmt.Fprintf(w, "results: %d of %d acknowledged: %s\n", r.Acknowledged, r.Recorded, statusList(r.ByStatus))
	for _, k := range slices.Sorted(maps.Keys(r.ByCode)) {
		fmt.Fprintf(w, "  %-40s %d\n", k, r.ByCode[k])
	}
	if r.Replayed > 0 {
		fmt.Fprintf(w, "  replayed (answers lost and sent again): %d\n", r.Replayed)
	}
	fmt.Fprintf(w, "requests: %d syncs (%d failed), %d pushes, %d pull pages, %d attempts, %d retried (429, 5xx, network)\n",
		r.Syncs, r.SyncFailures, r.Pushes, r.PullPages, r.Attempts, r.Retries)
	fmt.Fprintf(w, "sync latency: p50 %s, p99 %s, max %s\n", seconds(r.SyncP50), seconds(r.SyncP99), seconds(r.SyncMax))
	for _, e := range r.SyncErrors {
		fmt.Fprintf(w, "  sync error: %s\n", e)
	}
	if len(r.Pending) == 0 {
		fmt.Fprintf(w, "pending: none, every operation acknowledged\n")
	}
	for _, p := range r.Pending {
		fmt.Fprintf(w, "pending: %s has %d operations not acknowledged", p.Device, p.Pending)
		if p.Dir != "" {
			fmt.Fprintf(w, " (stocksync device status --dir %s)", shellQuote(p.Dir))
		}
		if p.Error != "" {
			fmt.Fprintf(w, ": %s", p.Error)
		}
		fmt.Fprintln(w)
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "device databases: %s\n", r.Dir)
	}
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// countList prints a count map as "3 pick, 2 receive", largest first.
func countList(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// statusList prints statuses in their protocol order, zeros included, so
// a reader sees at a glance that nothing was held or rejected.
func statusList(m map[string]int) string {
	parts := []string{}
	for _, s := range []syncproto.Status{syncproto.StatusApplied, syncproto.StatusFlagged, syncproto.StatusHeld, syncproto.StatusRejected} {
		parts = append(parts, fmt.Sprintf("%d %s", m[string(s)], s))
	}
	return strings.Join(parts, ", ")
}

// simulate runs the simulation cfg describes and reports what happened. A
// failed sync does not stop it: the failure is counted, the operations stay
// pending on their device, and the report says so. The error is for what
// makes the run meaningless: the server unreachable, the key refused, no
// catalog to record against, a device database that cannot be written.
func simulate(ctx context.Context, cfg simulateConfig) (simReport, error) {
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if cfg.Concurrency == 0 || cfg.Concurrency > cfg.Devices {
		cfg.Concurrency = cfg.Devices
	}
	if cfg.SyncEvery == 0 || cfg.SyncEvery > cfg.Ops {
		cfg.SyncEvery = cfg.Ops
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	server, err := client.NormalizeServerURL(cfg.Server)
	if err != nil {
		return simReport{}, err
	}
	rep := simReport{
		Seed: cfg.Seed, Server: server, Warehouse: cfg.Warehouse, Devices: cfg.Devices, OpsPerDevice: cfg.Ops,
		SyncEvery: cfg.SyncEvery, Concurrency: cfg.Concurrency, Dir: cfg.Dir, CatalogSeeded: cfg.SeedCatalog,
		ByKind: map[string]int{}, ByStatus: map[string]int{}, ByCode: map[string]int{}, Pending: []simPending{},
	}

	dir := cfg.Dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "stocksync-simulate-")
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(dir)
	}
	dirs := make([]string, cfg.Devices)
	for i := range dirs {
		dirs[i] = filepath.Join(dir, fmt.Sprintf("device-%03d", i+1))
		if _, err := os.Stat(filepath.Join(dirs[i], deviceDBFile)); err == nil {
			return rep, fmt.Errorf("%s already holds a device database from an earlier run: point --dir at an empty directory", dirs[i])
		}
	}

	// One connection pool for every device, wide enough that the devices
	// syncing at once do not queue for connections.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = cfg.Concurrency + 4
	defer base.CloseIdleConnections()
	counters := &simCounters{}
	api := apiClient{base: server, key: cfg.Key, http: &http.Client{Transport: base, Timeout: 5 * time.Minute}}

	setupStart := time.Now()
	if cfg.SeedCatalog {
		if err := api.call(ctx, "POST", "/v1/catalog", simCatalogFor(cfg, time.Now().UTC()), http.StatusOK, nil); err != nil {
			return rep, keyHint(fmt.Errorf("load the synthetic catalog: %w", err))
		}
	}
	devs := make([]*simDevice, cfg.Devices)
	defer func() {
		for _, d := range devs {
			if d != nil {
				_ = d.c.Close()
			}
		}
	}()
	cat := &pulledCatalog{}
	for i := range devs {
		tr := &simTransport{base: base, counters: counters}
		if i == 0 {
			// The client keeps its catalog to itself; the first device's
			// full download, read off the wire, tells every device what
			// it can scan.
			tr.catalog = cat
		}
		d, err := enrollSimDevice(ctx, cfg, api, server, i, dirs[i], tr)
		if d != nil {
			devs[i] = d
		}
		if err != nil {
			return rep, err
		}
	}
	// Every device pulls its catalog, the first one alone so its download
	// is the one read off the wire.
	if _, err := devs[0].c.Sync(ctx, client.SyncOptions{}); err != nil {
		return rep, fmt.Errorf("%s: first pull: %w", devs[0].name, err)
	}
	devs[0].transport.catalog = nil
	sem := make(chan struct{}, cfg.Concurrency)
	g, gctx := errgroup.WithContext(ctx)
	for _, d := range devs[1:] {
		g.Go(func() error {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := d.c.Sync(gctx, client.SyncOptions{}); err != nil {
				return fmt.Errorf("%s: first pull: %w", d.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	sc := cat.build()
	rep.Catalog = simCatalogSize{Items: len(sc.items), Locations: len(sc.locations), Batches: sc.batches}
	if len(sc.items) == 0 || len(sc.locations) < 2 {
		return rep, fmt.Errorf("warehouse %s has %d items and %d locations: the devices need items and at least two locations to record against; load a catalog (POST /v1/catalog) or pass --seed-catalog",
			cfg.Warehouse, len(sc.items), len(sc.locations))
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	// Only the shift's requests count, not the first pulls.
	pushes0, pulls0, retries0 := counters.pushes.Load(), counters.pulls.Load(), counters.retries.Load()

	// The shift: every device records and syncs on its own goroutine;
	// the semaphore bounds how many sync at once.
	shiftEnd := time.Now().UTC()
	var mu sync.Mutex
	var latencies []time.Duration
	start := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	for _, d := range devs {
		d.cat = sc
		g.Go(func() error {
			return d.run(gctx, cfg, shiftEnd, func(dur time.Duration, sr client.SyncReport, err error) {
				mu.Lock()
				defer mu.Unlock()
				rep.Syncs++
				rep.Attempts += sr.Attempts
				rep.Replayed += sr.Replayed
				latencies = append(latencies, dur)
				if err != nil {
					rep.SyncFailures++
					if len(rep.SyncErrors) < 5 {
						rep.SyncErrors = append(rep.SyncErrors, fmt.Sprintf("%s: %v", d.name, err))
					}
				}
			}, sem)
		})
	}
	err = g.Wait()
	wall := time.Since(start)
	if err != nil {
		return rep, err
	}

	rep.Pushes = counters.pushes.Load() - pushes0
	rep.PullPages = counters.pulls.Load() - pulls0
	rep.Retries = counters.retries.Load() - retries0
	rep.WallSeconds = wall.Seconds()
	var recordTime time.Duration
	for _, d := range devs {
		rep.Recorded += d.recorded
		recordTime = max(recordTime, d.recordTime)
		for k, n := range d.byKind {
			rep.ByKind[k] += n
		}
		for k, n := range d.refused {
			if rep.Refused == nil {
				rep.Refused = map[string]int{}
			}
			rep.Refused[k] += n
		}
	}
	rep.RecordSeconds = recordTime.Seconds()
	if recordTime > 0 {
		rep.RecordOpsPerS = float64(rep.Recorded) / recordTime.Seconds()
	}
	slices.Sort(latencies)
	rep.SyncP50 = percentile(latencies, 0.50).Seconds()
	rep.SyncP99 = percentile(latencies, 0.99).Seconds()
	if len(latencies) > 0 {
		rep.SyncMax = latencies[len(latencies)-1].Seconds()
	}

	// What became of every operation, as each device stored it.
	for i, d := range devs {
		views, err := d.c.Ops(ctx, client.OpsFilter{})
		if err != nil {
			return rep, fmt.Errorf("%s: list operations: %w", d.name, err)
		}
		for _, v := range views {
			if v.Status == "" {
				continue
			}
			rep.Acknowledged++
			rep.ByStatus[string(v.Status)]++
			if v.Code != "" {
				rep.ByCode[string(v.Status)+"/"+string(v.Code)]++
			}
		}
		st, err := d.c.Status(ctx)
		if err != nil {
			return rep, fmt.Errorf("%s: status: %w", d.name, err)
		}
		if st.Pending > 0 {
			p := simPending{Device: d.name, Pending: st.Pending, Error: st.LastError}
			if cfg.Dir != "" {
				p.Dir = dirs[i]
			}
			rep.Pending = append(rep.Pending, p)
		}
	}
	if wall > 0 {
		rep.EndToEndOpsPerS = float64(rep.Acknowledged) / wall.Seconds()
	}
	return rep, nil
}

// percentile returns the q-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// keyHint adds what to do when the management API refused the key.
func keyHint(err error) error {
	switch client.ErrorCode(err) {
	case syncproto.CodeUnauthorized:
		return fmt.Errorf("%w (--key must be an API key of an existing tenant, as 'stocksync tenant create' prints)", err)
	case syncproto.CodeForbidden:
		return fmt.Errorf("%w (--key must be a manager or admin key: 'stocksync tenant key <slug> --role manager')", err)
	}
	return err
}

// enrollSimDevice opens device i's database and enrolls it with a fresh
// code. Enrollment is rate-limited per client address, and every simulated
// device shares one, so a rate-limited enrollment waits and tries again
// with the same code, which the refused attempt did not use up.
func enrollSimDevice(ctx context.Context, cfg simulateConfig, api apiClient, server string, i int, dir string, tr *simTransport) (*simDevice, error) {
	name := fmt.Sprintf("sim %03d (seed %d)", i+1, cfg.Seed)
	var code struct {
		Code string `json:"code"`
	}
	if err := api.call(ctx, "POST", "/v1/devices/codes", map[string]string{"warehouse": cfg.Warehouse}, http.StatusCreated, &code); err != nil {
		return nil, keyHint(fmt.Errorf("enrollment code for %s: %w", name, err))
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
	c, err := client.Open(ctx, filepath.Join(dir, deviceDBFile), client.Options{
		Logger:     cfg.Logger.With(slog.String("device", name)),
		HTTPClient: &http.Client{Transport: tr, Timeout: client.DefaultHTTPTimeout},
		AppVersion: simAppVersion,
		// The client's jitter comes from the seed too, so a run replays
		// as closely as the network lets it.
		Rand: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)+1<<32)),
	})
	if err != nil {
		return nil, err
	}
	d := &simDevice{idx: i, name: name, c: c, transport: tr, rng: rng,
		byKind: map[string]int{}, stock: map[simKey]int64{}, batches: map[string][]syncproto.Batch{}}
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		_, err = c.Enroll(ctx, server, code.Code, name)
		if client.ErrorCode(err) != syncproto.CodeRateLimited {
			break
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(max(wait, tr.lastRetryAfter())):
		}
	}
	if err != nil {
		return d, fmt.Errorf("enroll %s: %w", name, err)
	}
	return d, nil
}

// apiClient calls the management API with an API key.
type apiClient struct {
	base string
	key  string
	http *http.Client
}

// call sends one request with body as JSON and decodes the answer into
// out. A status other than want is an error carrying the server's
// *syncproto.Error, so client.ErrorCode reads its code.
func (a apiClient) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		var eb syncproto.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return fmt.Errorf("%s %s: %w", method, path, eb.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// simCounters count the sync requests of every device.
type simCounters struct {
	pushes, pulls, retries atomic.Int64
}

// simTransport counts a device's sync requests and, for the device that
// reads the catalog, keeps what its pulls carried.
type simTransport struct {
	base     http.RoundTripper
	counters *simCounters
	catalog  *pulledCatalog
	// retryAfter is the last Retry-After seen, in nanoseconds.
	retryAfter atomic.Int64
}

func (t *simTransport) lastRetryAfter() time.Duration { return time.Duration(t.retryAfter.Load()) }

func (t *simTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.counters.retries.Add(1)
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		t.counters.retries.Add(1)
		if s, err := strconv.Atoi(resp.Header.Get(syncproto.HeaderRetryAfter)); err == nil {
			t.retryAfter.Store(int64(time.Duration(s) * time.Second))
		}
		return resp, nil
	}
	if resp.StatusCode/100 != 2 {
		return resp, nil
	}
	switch req.URL.Path {
	case "/v1/sync/push":
		t.counters.pushes.Add(1)
	case "/v1/sync/pull":
		t.counters.pulls.Add(1)
		if t.catalog != nil {
			return t.catalog.tee(resp)
		}
	}
	return resp, nil
}

// pulledCatalog accumulates the catalog rows of pull pages.
type pulledCatalog struct {
	mu        sync.Mutex
	items     map[string]syncproto.Item
	locations map[string]bool
	batches   map[string][]syncproto.Batch
}

// tee reads a pull page, keeps its catalog rows and hands the client an
// identical body.
func (p *pulledCatalog) tee(resp *http.Response) (*http.Response, error) {
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	data := raw
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return resp, nil // the client will say what is wrong with it
		}
		if data, err = io.ReadAll(zr); err != nil {
			return resp, nil
		}
	}
	var page syncproto.PullResponse
	if json.Unmarshal(data, &page) != nil {
		return resp, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if page.Reset || p.items == nil {
		p.items, p.locations, p.batches = map[string]syncproto.Item{}, map[string]bool{}, map[string][]syncproto.Batch{}
	}
	for _, it := range page.Items {
		p.items[it.SKU] = it
	}
	for _, l := range page.Locations {
		p.locations[l.Code] = true
	}
	for _, b := range page.Batches {
		p.batches[b.SKU] = append(p.batches[b.SKU], b)
	}
	return resp, nil
}

// build turns what was pulled into the generator's catalog, sorted so a
// seed picks the same rows every time.
func (p *pulledCatalog) build() *simCatalog {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &simCatalog{bySKU: map[string]*simItem{}, byBarcode: map[string]*simItem{}}
	for _, sku := range slices.Sorted(maps.Keys(p.items)) {
		it := &simItem{Item: p.items[sku]}
		bs := slices.Clone(p.batches[sku])
		slices.SortFunc(bs, func(a, b syncproto.Batch) int { return strings.Compare(a.Code, b.Code) })
		for _, b := range bs {
			// A batch of an expiry-tracked item with no expiry would need
			// one on receipt, and two devices would make up different
			// ones; the simulation leaves such batches alone.
			if !it.ExpiryTracked || b.Expiry != "" {
				it.batches = append(it.batches, b)
			}
		}
		c.batches += len(bs)
		c.items = append(c.items, it)
		c.bySKU[sku] = it
		for _, b := range it.Barcodes {
			c.byBarcode[b] = it
		}
	}
	c.locations = slices.Sorted(maps.Keys(p.locations))
	for _, l := range c.locations {
		switch l {
		case "RETURNS":
			c.returns = l
		case "DOCK-IN":
			c.dockIn = l
		}
	}
	return c
}

// simCatalog is what the devices record against.
type simCatalog struct {
	items     []*simItem
	bySKU     map[string]*simItem
	byBarcode map[string]*simItem
	locations []string
	batches   int
	// returns and dockIn are the returns bay and goods-in dock when the
	// warehouse has bins of those names.
	returns, dockIn string
}

type simItem struct {
	syncproto.Item
	batches []syncproto.Batch
}

// simCatalogFor is the synthetic catalog of --seed-catalog. Codes and
// barcodes depend only on the row's number, so a second run updates the
// same rows instead of moving barcodes around.
func simCatalogFor(cfg simulateConfig, today time.Time) ledger.Catalog {
	wh := cfg.Warehouse
	c := ledger.Catalog{Warehouses: []ledger.WarehouseInput{{Code: wh, Name: "Simulated warehouse " + wh}}}
	for _, code := range []string{"DOCK-IN", "DOCK-OUT", "RETURNS"} {
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: wh, Code: code})
	}
	for i := range cfg.Locations {
		// Aisles of 10 racks of 4 levels: A-01-1 ... the way bins are
		// labelled on a floor.
		code := fmt.Sprintf("%c%02d-%02d-%d", 'A'+rune(i/40%26), i/40/26+1, i/4%10+1, i%4+1)
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: wh, Code: code})
	}
	units := []string{"pcs", "box", "kg", "m", "pail"}
	for i := range cfg.SKUs {
		sku := fmt.Sprintf("SIM-%06d", i+1)
		it := ledger.ItemInput{SKU: sku, Name: fmt.Sprintf("Simulated item %d", i+1), Unit: units[i%len(units)],
			Barcodes: []string{ean13(fmt.Sprintf("200%09d", i+1))}}
		switch i % 8 {
		case 3:
			it.BatchTracked = true
		case 7:
			it.BatchTracked, it.ExpiryTracked = true, true
		}
		c.Items = append(c.Items, it)
		if it.BatchTracked {
			for j := range 2 {
				b := ledger.BatchInput{SKU: sku, Code: fmt.Sprintf("LOT-%06d-%d", i+1, j+1)}
				if it.ExpiryTracked {
					b.Expiry = ledger.FormatDate(today.AddDate(0, 0, 60+30*j+i%30))
				}
				c.Batches = append(c.Batches, b)
			}
		}
	}
	return c
}

// ean13 appends the EAN-13 check digit to 12 digits, so the synthetic
// barcodes look like what a scanner reads.
func ean13(d12 string) string {
	sum := 0
	for i, r := range d12 {
		n := int(r - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return d12 + strconv.Itoa((10-sum%10)%10)
}

// simKey is a stock key as a device sees it.
type simKey struct{ loc, sku, batch string }

// simShipment is an order line a device picked, which it may see returned.
type simShipment struct {
	order, sku, batch string
	left              int64
}

// simDevice is one simulated handheld: its client, its random source, and
// the little it remembers to record plausible operations: the stock it
// sees, the orders it shipped, the lots it received.
type simDevice struct {
	idx       int
	name      string
	c         *client.Client
	transport *simTransport
	rng       *rand.Rand
	cat       *simCatalog

	stock    map[simKey]int64
	keys     []simKey
	shipped  []simShipment
	batches  map[string][]syncproto.Batch // lots this device received, by SKU
	order    string
	lines    int
	orders   int
	receipts int

	recorded   int
	recordTime time.Duration
	byKind     map[string]int
	refused    map[string]int
}

// run records the device's shift, syncing every cfg.SyncEvery operations
// and at the end; onSync hears about every sync.
func (d *simDevice) run(ctx context.Context, cfg simulateConfig, shiftEnd time.Time, onSync func(time.Duration, client.SyncReport, error), sem chan struct{}) error {
	if err := d.refresh(ctx); err != nil {
		return err
	}
	step := simShift / time.Duration(cfg.Ops+1)
	shiftStart := shiftEnd.Add(-simShift)
	doSync := func() error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		t0 := time.Now()
		sr, err := d.c.Sync(ctx, client.SyncOptions{})
		dur := time.Since(t0)
		<-sem
		onSync(dur, sr, err)
		if err != nil {
			return ctx.Err() // keep going: the outbox keeps the operations
		}
		return d.refresh(ctx)
	}
	pending := 0
	for j := range cfg.Ops {
		in := d.next()
		in.OccurredAt = shiftStart.Add(step*time.Duration(j+1) + time.Duration(d.rng.Int64N(int64(step)/2+1)))
		in.Actor = fmt.Sprintf("SIM-%03d", d.idx+1)
		t0 := time.Now()
		rec, err := d.c.Record(ctx, in)
		d.recordTime += time.Since(t0)
		if err != nil {
			var pe *syncproto.Error
			if !errors.As(err, &pe) {
				return fmt.Errorf("%s: record %s: %w", d.name, in.Kind, err)
			}
			if d.refused == nil {
				d.refused = map[string]int{}
			}
			d.refused[string(pe.Code)]++
			cfg.Logger.Warn("simulated operation refused", slog.String("device", d.name), slog.String("kind", in.Kind), slog.Any("error", err))
			continue
		}
		d.recorded++
		d.byKind[in.Kind]++
		d.apply(in, rec)
		pending++
		if pending == cfg.SyncEvery || j == cfg.Ops-1 {
			pending = 0
			if err := doSync(); err != nil {
				return err
			}
		}
	}
	return nil
}

// refresh reloads the stock the device shows: after a sync it includes
// what the other devices synced.
func (d *simDevice) refresh(ctx context.Context) error {
	rows, err := d.c.Stock(ctx, client.StockFilter{})
	if err != nil {
		return fmt.Errorf("%s: stock: %w", d.name, err)
	}
	clear(d.stock)
	d.keys = d.keys[:0]
	for _, r := range rows {
		k := simKey{r.Location, r.SKU, r.Batch}
		if it := d.cat.item(r.SKU); it == nil || it.BatchTracked && r.Batch == "" {
			continue // not something the device can scan as such
		}
		d.setStock(k, r.Stock)
	}
	slices.SortFunc(d.keys, func(a, b simKey) int {
		return strings.Compare(a.loc+"\x00"+a.sku+"\x00"+a.batch, b.loc+"\x00"+b.sku+"\x00"+b.batch)
	})
	return nil
}

func (c *simCatalog) item(sku string) *simItem {
	if c == nil {
		return nil
	}
	return c.bySKU[sku]
}

func (d *simDevice) setStock(k simKey, n int64) {
	if _, ok := d.stock[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.stock[k] = n
}

// apply updates what the device remembers after recording in.
func (d *simDevice) apply(in client.OpInput, rec client.Recorded) {
	sku := in.SKU
	if sku == "" {
		sku = d.skuOf(in.Barcode)
	}
	k := simKey{in.Location, sku, rec.Batch}
	switch in.Kind {
	case syncproto.KindReceive:
		d.setStock(k, d.stock[k]+in.Qty)
		if rec.GeneratedBatch {
			d.batches[sku] = append(d.batches[sku], syncproto.Batch{SKU: sku, Code: rec.Batch, Expiry: in.Expiry})
		}
	case syncproto.KindReturn:
		if k.batch == "" && d.cat.bySKU[sku].BatchTracked {
			// The server matches it to the batch the order shipped.
			for _, s := range d.shipped {
				if s.order == in.Order && s.sku == sku {
					k.batch = s.batch
					break
				}
			}
		}
		d.setStock(k, d.stock[k]+in.Qty)
	case syncproto.KindPick:
		d.setStock(k, d.stock[k]-in.Qty)
		if in.Order != "" {
			d.shipped = append(d.shipped, simShipment{order: in.Order, sku: sku, batch: rec.Batch, left: in.Qty})
		}
	case syncproto.KindTransfer:
		d.setStock(k, d.stock[k]-in.Qty)
		to := simKey{in.ToLocation, sku, rec.Batch}
		d.setStock(to, d.stock[to]+in.Qty)
	case syncproto.KindCount:
		d.setStock(k, in.Qty)
	case syncproto.KindAdjust:
		d.setStock(k, d.stock[k]+in.Qty)
	}
}

func (d *simDevice) skuOf(barcode string) string {
	if it := d.cat.byBarcode[barcode]; it != nil {
		return it.SKU
	}
	return ""
}

// next makes the device's next operation: mostly picks and receipts, some
// transfers, counts, adjustments and returns, always one the device
// accepts given what it knows.
func (d *simDevice) next() client.OpInput {
	r := d.rng.IntN(100)
	switch {
	case r < 42:
		if in, ok := d.pick(); ok {
			return in
		}
	case r < 72:
	case r < 82:
		if in, ok := d.transfer(); ok {
			return in
		}
	case r < 88:
		if in, ok := d.count(); ok {
			return in
		}
	case r < 93:
		if in, ok := d.adjust(); ok {
			return in
		}
	default:
		if in, ok := d.ret(); ok {
			return in
		}
		if in, ok := d.pick(); ok {
			return in
		}
	}
	return d.receive()
}

// scan names the item the way a picker does: usually by its barcode.
func (d *simDevice) scan(in *client.OpInput, it *simItem) {
	if len(it.Barcodes) > 0 && d.rng.IntN(10) < 6 {
		in.Barcode = it.Barcodes[d.rng.IntN(len(it.Barcodes))]
		return
	}
	in.SKU = it.SKU
}

func (d *simDevice) receive() client.OpInput {
	it := d.cat.items[d.rng.IntN(len(d.cat.items))]
	d.receipts++
	in := client.OpInput{Kind: syncproto.KindReceive, Qty: 1 + d.rng.Int64N(48),
		Ref: fmt.Sprintf("PO-%03d-%04d", d.idx+1, (d.receipts+9)/10)}
	in.Location = d.cat.locations[d.rng.IntN(len(d.cat.locations))]
	if d.cat.dockIn != "" && d.rng.IntN(2) == 0 {
		in.Location = d.cat.dockIn
	}
	d.scan(&in, it)
	if !it.BatchTracked {
		return in
	}
	known := append(slices.Clip(it.batches), d.batches[it.SKU]...)
	if len(known) > 0 && d.rng.IntN(10) < 7 {
		b := known[d.rng.IntN(len(known))]
		in.Batch = b.Code
		if it.ExpiryTracked {
			in.Expiry = b.Expiry
		}
		return in
	}
	// A new lot: the device generates its code.
	if it.ExpiryTracked {
		in.Expiry = ledger.FormatDate(time.Now().UTC().AddDate(0, 0, 30+d.rng.IntN(365)))
	}
	return in
}

// stocked picks a key the device sees stock on, or reports none after a
// few tries.
func (d *simDevice) stocked() (simKey, int64, bool) {
	if len(d.keys) == 0 {
		return simKey{}, 0, false
	}
	for range 8 {
		k := d.keys[d.rng.IntN(len(d.keys))]
		if n := d.stock[k]; n > 0 {
			return k, n, true
		}
	}
	return simKey{}, 0, false
}

func (d *simDevice) keyOp(kind string, k simKey) client.OpInput {
	in := client.OpInput{Kind: kind, Location: k.loc, Batch: k.batch}
	d.scan(&in, d.cat.bySKU[k.sku])
	return in
}

func (d *simDevice) pick() (client.OpInput, bool) {
	k, n, ok := d.stocked()
	if !ok {
		return client.OpInput{}, false
	}
	in := d.keyOp(syncproto.KindPick, k)
	in.Qty = 1 + d.rng.Int64N(min(n, 12))
	if d.rng.IntN(30) == 0 {
		in.Qty = n // the last units: another device may be taking them too
	}
	if d.rng.IntN(10) < 8 {
		if d.order == "" || d.lines >= 1+d.rng.IntN(5) {
			d.orders++
			d.order, d.lines = fmt.Sprintf("SO-%03d-%05d", d.idx+1, d.orders), 0
		}
		d.lines++
		in.Order = d.order
	}
	return in, true
}

func (d *simDevice) transfer() (client.OpInput, bool) {
	k, n, ok := d.stocked()
	if !ok {
		return client.OpInput{}, false
	}
	in := d.keyOp(syncproto.KindTransfer, k)
	in.Qty = 1 + d.rng.Int64N(n)
	for in.ToLocation == "" || in.ToLocation == in.Location {
		in.ToLocation = d.cat.locations[d.rng.IntN(len(d.cat.locations))]
	}
	return in, true
}

func (d *simDevice) count() (client.OpInput, bool) {
	if len(d.keys) == 0 {
		return client.OpInput{}, false
	}
	k := d.keys[d.rng.IntN(len(d.keys))]
	in := d.keyOp(syncproto.KindCount, k)
	in.Qty = max(d.stock[k], 0)
	if d.rng.IntN(5) == 0 {
		in.Qty = max(in.Qty+d.rng.Int64N(7)-3, 0) // a miscount, or shrinkage
	}
	return in, true
}

func (d *simDevice) adjust() (client.OpInput, bool) {
	k, _, ok := d.stocked()
	if !ok {
		return client.OpInput{}, false
	}
	in := d.keyOp(syncproto.KindAdjust, k)
	in.Qty, in.Reason = -1, "damaged"
	if d.rng.IntN(10) < 3 {
		in.Qty, in.Reason = 1+d.rng.Int64N(3), "found"
	}
	return in, true
}

func (d *simDevice) ret() (client.OpInput, bool) {
	var open []int
	for i, s := range d.shipped {
		if s.left > 0 {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return client.OpInput{}, false
	}
	s := &d.shipped[open[d.rng.IntN(len(open))]]
	loc := d.cat.returns
	if loc == "" {
		loc = d.cat.locations[d.rng.IntN(len(d.cat.locations))]
	}
	in := d.keyOp(syncproto.KindReturn, simKey{loc, s.sku, s.batch})
	in.Order, in.Reason = s.order, "customer_return"
	in.Qty = 1 + d.rng.Int64N(min(s.left, 3))
	if d.rng.IntN(2) == 0 {
		// The label is gone: the server matches the batch the order
		// shipped.
		in.Batch = ""
	}
	s.left -= in.Qty
	return in, true
}

// runSimSeeds is 'simulate --seeds N': the deterministic fault simulation
// of package sim, in process, one seed after another, on a temporary SQLite
// file or on the --db PostgreSQL database. It prints the faults injected by
// kind, and for every failing seed the command that replays it.
func (m *Main) runSimSeeds(ctx context.Context, cfg simulateConfig) error {
	target, err := parseDB(m.DB)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	dir, err := os.MkdirTemp("", "stocksync-sim-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var store ledger.Store
	kind := "postgres"
	if target.postgres {
		if _, err := m.open(ctx, false); err != nil {
			return err
		}
		store = m.store
	} else {
		kind = "sqlite"
		s, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
	}
	first := cfg.Seed
	if first == 0 {
		first = 1
	}
	ops := 0
	if cfg.Ops != defaultSimOps {
		ops = cfg.Ops
	}
	total, failed, recorded := sim.Faults{}, 0, 0
	start := time.Now()
	for seed := first; seed < first+int64(cfg.Seeds); seed++ {
		rep, err := sim.Run(ctx, sim.Config{Seed: seed, Store: store, Dir: filepath.Join(dir, strconv.FormatInt(seed, 10)), Ops: ops})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		total.Add(rep.Faults)
		recorded += rep.Recorded
		if err != nil {
			failed++
			fmt.Fprintf(m.Stdout, "FAIL %v\n  reproduce: stocksync simulate --seeds 1 --seed %d --db %s   (or: go test ./sim -run 'TestSimulation$' -sim.seed=%d -v)\n",
				err, seed, shellQuote(target.display), seed)
		}
	}
	fmt.Fprintf(m.Stdout, "simulate: %d seeds (%d to %d) on %s in %s: %d operations recorded, %d faults injected, %d seed(s) failed\n",
		cfg.Seeds, first, first+int64(cfg.Seeds)-1, kind, time.Since(start).Round(time.Millisecond), recorded, total.Total(), failed)
	for _, k := range slices.Sorted(maps.Keys(total)) {
		fmt.Fprintf(m.Stdout, "  %-32s %d\n", k, total[k])
	}
	if failed > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %d seeds broke an invariant", failed, cfg.Seeds)}
	}
	return nil
}
