package bench

// The Device scenario of issue 5: how a handheld feels on the floor.
//
//   - First pull: a server tenant seeded with the catalog and the balances
//     (untimed, through the ledger's public API), then a freshly enrolled
//     device downloads its whole scope, timed, with its peak resident
//     memory.
//   - Record latency: the same device, now holding the whole pulled
//     catalog and enrolled against the real server, records operations one
//     at a time, a realistic mix of kinds scanned mostly by barcode; every
//     call is timed, p50 and p99 reported. Every one must be in the outbox
//     afterwards, and the server must take them all.
//
// The device runs in child processes (this executable again, see
// RunChildIfRequested), as on a handheld where the app is alone: its
// memory is its own, and its latency is not the server's garbage
// collector's, which would share the process otherwise.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/sqlite"
	"stocksync/server"
	"stocksync/syncproto"
)

// Defaults of DeviceConfig.
const (
	DefaultDeviceRecords  = 10_000
	DefaultDeviceItems    = 50_000
	DefaultDeviceBalances = 200_000
)

// DeviceConfig sizes the Device scenario. Zero fields take the defaults.
type DeviceConfig struct {
	Records  int    // operations recorded one by one for the latency figure (default 10,000)
	Items    int    // catalog items on the server for the first pull (default 50,000)
	Balances int    // balances on the server for the first pull (default 200,000)
	Dir      string // scratch directory
	// DatabaseURL is PostgreSQL for the server side (a URL whose
	// search_path is already a fresh schema); "" = embedded SQLite file
	// under Dir.
	DatabaseURL string
}

// DeviceResult is what the Device scenario measured.
type DeviceResult struct {
	RecordP50, RecordP99        time.Duration
	PullTime                    time.Duration
	PullPeakRSS                 int64 // bytes
	PulledItems, PulledBalances int
	// FsyncP50 and FsyncP99 are the baseline of the record latency, taken
	// side by side with it: a raw durable write of what one Record adds
	// to the WAL (deviceSyncProbeBytes to a plain file in the same
	// directory, then fsync), once every deviceSyncProbeEvery records.
	// No durable Record can beat it; on a shared or busy disk it is what
	// the record p99 follows.
	FsyncP50, FsyncP99 time.Duration
}

// Shape of the seeded catalog.
const (
	deviceWarehouse = "MAIN"
	// deviceMinLocations is the bins of the warehouse (the issue's
	// workload has 50); more when the balances need them.
	deviceMinLocations = 50
	// Every deviceBatchEvery-th item is batch-tracked, every
	// deviceExpiryEvery-th also expiry-tracked: the pull carries batches.
	deviceBatchEvery  = 10
	deviceExpiryEvery = 20
	deviceExpiry      = "2031-06-30"
	// deviceSeedBatch is the operations per seeding merge.
	deviceSeedBatch = 1000
	// deviceCatalogChunk is the items per catalog upsert.
	deviceCatalogChunk = 5000
	// deviceSyncProbeBytes is what one Record writes to the WAL: six
	// 4 KiB pages (the ops row, its four indexes, device_state).
	deviceSyncProbeBytes = 6 << 12
	deviceSyncProbeEvery = 10
)

func (c DeviceConfig) withDefaults() DeviceConfig {
	if c.Records <= 0 {
		c.Records = DefaultDeviceRecords
	}
	if c.Items <= 0 {
		c.Items = DefaultDeviceItems
	}
	if c.Balances <= 0 {
		c.Balances = DefaultDeviceBalances
	}
	return c
}

// deviceShape places the balances: balance k is item k mod Items in slot
// k / Items, and slot s of item i is at location (i + s) mod Locations
// with batch "LOT-s" when the item is batch-tracked, so every balance key
// is distinct.
type deviceShape struct {
	items, balances, locations int
}

func newDeviceShape(cfg DeviceConfig) deviceShape {
	slots := (cfg.Balances + cfg.Items - 1) / cfg.Items
	return deviceShape{items: cfg.Items, balances: cfg.Balances, locations: max(deviceMinLocations, slots)}
}

func (s deviceShape) sku(i int) string      { return fmt.Sprintf("SKU-%06d", i) }
func (s deviceShape) barcode(i int) string  { return fmt.Sprintf("20%011d", i) }
func (s deviceShape) location(l int) string { return fmt.Sprintf("BIN-%03d", l) }
func (s deviceShape) batchTracked(i int) bool {
	return i%deviceBatchEvery == 0
}
func (s deviceShape) expiryTracked(i int) bool { return i%deviceExpiryEvery == 0 }

// slots is how many balances item i has.
func (s deviceShape) slots(i int) int {
	n := s.balances / s.items
	if i < s.balances%s.items {
		n++
	}
	return n
}

func (s deviceShape) slotLocation(i, slot int) string { return s.location((i + slot) % s.locations) }
func (s deviceShape) slotBatch(i, slot int) string {
	if !s.batchTracked(i) {
		return ""
	}
	return "LOT-" + strconv.Itoa(slot)
}

// Device runs the Device scenario: it seeds a server, measures the first
// pull of a fresh device in a child process, then records cfg.Records
// operations one at a time on that device. log gets progress lines.
func Device(ctx context.Context, cfg DeviceConfig, log io.Writer) (_ DeviceResult, err error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = io.Discard
	}
	var res DeviceResult
	base := cfg.Dir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o750); err != nil {
		return res, fmt.Errorf("device bench: %w", err)
	}
	dir, err := os.MkdirTemp(base, "device-bench-")
	if err != nil {
		return res, fmt.Errorf("device bench: %w", err)
	}
	defer os.RemoveAll(dir)

	srv, err := startDeviceServer(ctx, cfg, dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := srv.stop(); serr != nil && err == nil {
			err = fmt.Errorf("device bench: stop the server: %w", serr)
		}
	}()
	shape := newDeviceShape(cfg)
	if err := srv.seed(ctx, shape, log); err != nil {
		return res, err
	}

	// The first pull, in a child process.
	devPath := filepath.Join(dir, "handheld.db")
	if err := srv.enroll(ctx, devPath, "handheld-1"); err != nil {
		return res, err
	}
	fmt.Fprintf(log, "device: first pull of %d items and %d balances in a child process\n", cfg.Items, cfg.Balances)
	parentRSS := procStatus("VmRSS")
	pull, rusageRSS, err := runChild(ctx, childJob{Mode: "pull", DB: devPath})
	if err != nil {
		return res, err
	}
	// The kernel's rusage of a child started the way Go starts one (clone
	// with CLONE_VM|CLONE_VFORK, then exec) folds in the resident set of
	// the parent whose memory it shared until the exec: this process, with
	// the server and its seeded ledger. The child's own high-water mark
	// (VmHWM) is the honest figure where the system reports it.
	res.PullTime, res.PullPeakRSS = pull.Duration, rusageRSS
	if pull.PeakRSS > 0 {
		res.PullPeakRSS = pull.PeakRSS
		fmt.Fprintf(log, "device: the pull child's own peak RSS is %.1f MiB; rusage says %.1f MiB, this process's %.1f MiB at the spawn folded in\n",
			mib(pull.PeakRSS), mib(rusageRSS), mib(parentRSS))
	}
	fmt.Fprintf(log, "device: pulled %d rows in %d pages in %s, peak RSS %.1f MiB\n",
		pull.Pulled, pull.Pages, pull.Duration.Round(time.Millisecond), mib(res.PullPeakRSS))

	st, err := deviceStatus(ctx, devPath)
	if err != nil {
		return res, err
	}
	res.PulledItems, res.PulledBalances = st.Items, st.Balances
	if st.Items != cfg.Items || st.Balances != cfg.Balances || st.Locations != shape.locations {
		return res, fmt.Errorf("device bench: the device pulled %d items, %d balances and %d locations; the server has %d, %d and %d",
			st.Items, st.Balances, st.Locations, cfg.Items, cfg.Balances, shape.locations)
	}

	// Record latency on the device that now holds the whole catalog.
	fmt.Fprintf(log, "device: recording %d operations one at a time in a child process\n", cfg.Records)
	rec, _, err := runChild(ctx, childJob{Mode: "record", DB: devPath, Records: cfg.Records, Items: cfg.Items, Balances: cfg.Balances})
	if err != nil {
		return res, err
	}
	res.RecordP50, res.RecordP99, res.FsyncP50, res.FsyncP99 = rec.P50, rec.P99, rec.FsyncP50, rec.FsyncP99
	fmt.Fprintf(log, "device: record p50 %s, p99 %s, max %s; side by side, a raw write+fsync of %d KiB: p50 %s, p99 %s, max %s\n",
		rec.P50, rec.P99, rec.Max, deviceSyncProbeBytes>>10, rec.FsyncP50, rec.FsyncP99, rec.FsyncMax)

	// Every operation is in the outbox, and the server takes them all:
	// the mix is what a floor would send.
	dev, err := client.Open(ctx, devPath, client.Options{AppVersion: "bench"})
	if err != nil {
		return res, fmt.Errorf("device bench: reopen the device: %w", err)
	}
	defer dev.Close()
	if st, err = dev.Status(ctx); err != nil {
		return res, err
	}
	if st.Pending != cfg.Records || st.LastSeq != int64(cfg.Records) {
		return res, fmt.Errorf("device bench: the outbox holds %d pending operations up to seq %d after %d records", st.Pending, st.LastSeq, cfg.Records)
	}
	rep, err := dev.Sync(ctx, client.SyncOptions{})
	if err != nil {
		return res, fmt.Errorf("device bench: push the recorded operations: %w", err)
	}
	if rep.Pushed != cfg.Records || rep.Rejected+rep.Held != 0 {
		return res, fmt.Errorf("device bench: of %d recorded operations the server took %d, rejected %d and held %d",
			cfg.Records, rep.Pushed, rep.Rejected, rep.Held)
	}
	fmt.Fprintf(log, "device: the server merged all %d (%d applied, %d flagged)\n", rep.Pushed, rep.Applied, rep.Flagged)
	return res, dev.Close()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// deviceStatus reads the status of the device database at path.
func deviceStatus(ctx context.Context, path string) (client.Status, error) {
	dev, err := client.Open(ctx, path, client.Options{AppVersion: "bench"})
	if err != nil {
		return client.Status{}, fmt.Errorf("device bench: open the device: %w", err)
	}
	defer dev.Close()
	return dev.Status(ctx)
}

// percentile of sorted durations, nearest rank: the smallest value with
// at least p of them at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// deviceServer is a real server on a free 127.0.0.1 port over a real store.
type deviceServer struct {
	store  ledger.Store
	ledger *ledger.Ledger
	url    string
	tenant uuid.UUID
	cancel context.CancelFunc
	done   chan error
}

func startDeviceServer(ctx context.Context, cfg DeviceConfig, dir string) (*deviceServer, error) {
	var store ledger.Store
	var err error
	if cfg.DatabaseURL != "" {
		store, err = postgres.Open(ctx, cfg.DatabaseURL)
	} else {
		store, err = sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	}
	if err != nil {
		return nil, fmt.Errorf("device bench: open the server's database: %w", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	l := ledger.New(store, ledger.Options{Logger: quiet})
	srv, err := server.New(server.Config{Ledger: l, Logger: quiet, DeviceRate: -1, TenantRate: -1, EnrollRate: -1})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("device bench: %w", err)
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("device bench: listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &deviceServer{store: store, ledger: l, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(sctx, ln) }()
	return s, nil
}

// stop shuts the server down and closes its database.
func (s *deviceServer) stop() error {
	s.cancel()
	err := <-s.done
	return errors.Join(err, s.store.Close())
}

// seed creates the tenant with the catalog and the balances: items in
// catalog upserts, balances as receipts merged from a seeding device in
// batches of deviceSeedBatch, as devices would have pushed them.
func (s *deviceServer) seed(ctx context.Context, shape deviceShape, log io.Writer) error {
	start := time.Now()
	t, err := s.ledger.CreateTenant(ctx, "bench-device", "Device benchmark", nil)
	if err != nil {
		return fmt.Errorf("device bench: create tenant: %w", err)
	}
	s.tenant = t.ID
	cat := ledger.Catalog{Warehouses: []ledger.WarehouseInput{{Code: deviceWarehouse, Name: "Main warehouse"}}}
	for l := range shape.locations {
		cat.Locations = append(cat.Locations, ledger.LocationInput{Warehouse: deviceWarehouse, Code: shape.location(l)})
	}
	if _, err := s.ledger.UpsertCatalog(ctx, t.ID, cat); err != nil {
		return fmt.Errorf("device bench: seed the locations: %w", err)
	}
	for lo := 0; lo < shape.items; lo += deviceCatalogChunk {
		cat := ledger.Catalog{}
		var batches []ledger.BatchInput
		for i := lo; i < min(lo+deviceCatalogChunk, shape.items); i++ {
			cat.Items = append(cat.Items, ledger.ItemInput{SKU: shape.sku(i), Name: fmt.Sprintf("Article %d", i), Unit: "pc",
				Barcodes: []string{shape.barcode(i)}, BatchTracked: shape.batchTracked(i), ExpiryTracked: shape.expiryTracked(i)})
			if shape.expiryTracked(i) {
				for slot := range shape.slots(i) {
					batches = append(batches, ledger.BatchInput{SKU: shape.sku(i), Code: shape.slotBatch(i, slot), Expiry: deviceExpiry})
				}
			}
		}
		cat.Batches = batches
		if _, err := s.ledger.UpsertCatalog(ctx, t.ID, cat); err != nil {
			return fmt.Errorf("device bench: seed the items: %w", err)
		}
	}
	fmt.Fprintf(log, "device: seeded %d items and %d locations in %s\n", shape.items, shape.locations, time.Since(start).Round(time.Millisecond))

	seeder, err := s.ledger.RegisterDevice(ctx, t.ID, ledger.DeviceInput{Warehouse: deviceWarehouse, Name: "seeder"})
	if err != nil {
		return fmt.Errorf("device bench: register the seeding device: %w", err)
	}
	start = time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	occurred := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	ops := make([]ledger.Operation, 0, deviceSeedBatch)
	var seq int64
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		resp, err := s.ledger.Merge(ctx, ledger.MergeRequest{TenantID: t.ID, DeviceID: seeder.ID, DeviceTime: time.Now(), Ops: ops})
		if err != nil {
			return fmt.Errorf("device bench: seed the balances: %w", err)
		}
		for _, r := range resp.Results {
			if r.Status != ledger.StatusApplied {
				return fmt.Errorf("device bench: seeding receipt %d came back %s: %s %s", r.Seq, r.Status, r.Code, r.Message)
			}
		}
		ops = ops[:0]
		return nil
	}
	for k := range shape.balances {
		i, slot := k%shape.items, k/shape.items
		seq++
		ops = append(ops, ledger.Operation{OpID: uuid.Must(uuid.NewV7()), Seq: seq, Kind: ledger.KindReceive, OccurredAt: occurred,
			SKU: shape.sku(i), Batch: shape.slotBatch(i, slot), Qty: 20 + rng.Int64N(200), Location: shape.slotLocation(i, slot), Ref: "PO-SEED"})
		if len(ops) == deviceSeedBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if k > 0 && k%50_000 == 0 {
			fmt.Fprintf(log, "device: seeded %d balances in %s\n", k, time.Since(start).Round(time.Millisecond))
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(log, "device: seeded %d balances in %s\n", shape.balances, time.Since(start).Round(time.Millisecond))
	return s.analyze(ctx, log)
}

// analyze brings PostgreSQL's planner statistics up to date with the
// seeded rows, as autovacuum does on a running server before the devices
// of a newly loaded tenant enroll. Right after a bulk load the tables have
// none, and the pull feed's balance query is then planned from the
// warehouse's locations outward: every page joins and sorts all the
// balances left in the feed, and a first pull turns quadratic (about
// 0.75 s a page at full size, whatever the page size). ANALYZE writes
// statistics only, no rows.
func (s *deviceServer) analyze(ctx context.Context, log io.Writer) error {
	pg, ok := s.store.(*postgres.Store)
	if !ok {
		return nil
	}
	start := time.Now()
	if _, err := pg.Pool().Exec(ctx, `ANALYZE warehouses, locations, items, barcodes, batches, balances`); err != nil {
		return fmt.Errorf("device bench: analyze the seeded tables: %w", err)
	}
	fmt.Fprintf(log, "device: analyzed the seeded tables in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// enroll creates a device database at path enrolled in the warehouse with
// a fresh enrollment code, as a handheld does.
func (s *deviceServer) enroll(ctx context.Context, path, name string) error {
	_, code, err := s.ledger.CreateEnrollmentCode(ctx, s.tenant, deviceWarehouse, 0)
	if err != nil {
		return fmt.Errorf("device bench: enrollment code: %w", err)
	}
	dev, err := client.Open(ctx, path, client.Options{AppVersion: "bench"})
	if err != nil {
		return fmt.Errorf("device bench: open the device: %w", err)
	}
	if _, err := dev.Enroll(ctx, s.url, code, name); err != nil {
		dev.Close()
		return fmt.Errorf("device bench: enroll: %w", err)
	}
	return dev.Close()
}

// recordMix records n operations one at a time on dev and returns the
// latency of each Record call. The mix is a floor's: picks, receipts,
// transfers, counts, adjustments and returns, scanned by barcode three
// times in four, on keys that hold stock.
//
// After every deviceSyncProbeEvery-th record, probe takes one raw durable
// write, so the baseline sees the same disk at the same moments.
func recordMix(ctx context.Context, dev *client.Client, shape deviceShape, n int, lastSeq int64, probe *syncProbe) ([]time.Duration, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, 0, n)
	for r := range n {
		i := rng.IntN(shape.items)
		slot := rng.IntN(max(shape.slots(i), 1))
		in := client.OpInput{Location: shape.slotLocation(i, slot), Batch: shape.slotBatch(i, slot), Actor: "badge-" + strconv.Itoa(1+rng.IntN(40))}
		if rng.IntN(4) == 0 {
			in.SKU = shape.sku(i)
		} else {
			in.Barcode = shape.barcode(i)
		}
		switch p := rng.IntN(100); {
		case p < 45:
			in.Kind, in.Qty = syncproto.KindPick, 1+rng.Int64N(3)
			if rng.IntN(2) == 0 {
				in.Order = fmt.Sprintf("SO-%05d", rng.IntN(5000))
			}
		case p < 65:
			in.Kind, in.Qty, in.Ref = syncproto.KindReceive, 1+rng.Int64N(48), fmt.Sprintf("PO-%05d", rng.IntN(2000))
		case p < 80:
			in.Kind, in.Qty = syncproto.KindTransfer, 1+rng.Int64N(5)
			in.ToLocation = shape.location((i + slot + 1 + rng.IntN(shape.locations-1)) % shape.locations)
		case p < 90:
			in.Kind, in.Qty = syncproto.KindCount, 20+rng.Int64N(200)
		case p < 96:
			in.Kind, in.Qty, in.Reason = syncproto.KindAdjust, -1-rng.Int64N(2), "damaged"
		default:
			in.Kind, in.Qty, in.Reason = syncproto.KindReturn, 1, "customer_return"
			in.Order = fmt.Sprintf("SO-%05d", rng.IntN(5000))
		}
		start := time.Now()
		rec, err := dev.Record(ctx, in)
		lat = append(lat, time.Since(start))
		if err != nil {
			return nil, fmt.Errorf("device bench: record %d (%+v): %w", r, in, err)
		}
		if len(rec.Warnings) > 0 {
			return nil, fmt.Errorf("device bench: record %d (%+v) warned %+v: the pulled catalog should know it", r, in, rec.Warnings)
		}
		if want := lastSeq + int64(r) + 1; rec.Op.Seq != want {
			return nil, fmt.Errorf("device bench: record %d got seq %d, want %d", r, rec.Op.Seq, want)
		}
		if r%deviceSyncProbeEvery == deviceSyncProbeEvery-1 {
			if err := probe.sample(); err != nil {
				return nil, fmt.Errorf("device bench: fsync probe: %w", err)
			}
		}
	}
	return lat, nil
}

// The device child: the current executable run again with childEnv set to
// a childJob in JSON. It does the job on the device database and prints one
// line on stdout, childPrefix and a childReport in JSON.
const (
	childEnv    = "STOCKSYNC_BENCH_DEVICE_CHILD"
	childPrefix = "stocksync-bench-device-child: "
	// pullProfileEnv, when set in the benchmark's environment, names a
	// file the pull child writes its CPU profile to; recordProfileEnv the
	// same for the record child.
	pullProfileEnv   = "STOCKSYNC_BENCH_DEVICE_PULL_CPUPROFILE"
	recordProfileEnv = "STOCKSYNC_BENCH_DEVICE_RECORD_CPUPROFILE"
)

// childJob is what a device child does: "pull" syncs once (the first
// pull of an enrolled device); "record" records Records operations over
// the catalog shaped by Items and Balances.
type childJob struct {
	Mode     string `json:"mode"`
	DB       string `json:"db"`
	Records  int    `json:"records,omitempty"`
	Items    int    `json:"items,omitempty"`
	Balances int    `json:"balances,omitempty"`
}

type childReport struct {
	// Pull: how long the Sync took, the rows and pages it pulled.
	Duration time.Duration `json:"duration_ns,omitempty"`
	Pulled   int           `json:"pulled,omitempty"`
	Pages    int           `json:"pages,omitempty"`
	// Record: latency percentiles of the Record calls, and of the raw
	// durable writes taken side by side.
	P50      time.Duration `json:"p50_ns,omitempty"`
	P99      time.Duration `json:"p99_ns,omitempty"`
	Max      time.Duration `json:"max_ns,omitempty"`
	FsyncP50 time.Duration `json:"fsync_p50_ns,omitempty"`
	FsyncP99 time.Duration `json:"fsync_p99_ns,omitempty"`
	FsyncMax time.Duration `json:"fsync_max_ns,omitempty"`
	// PeakRSS is the child's own high-water resident set in bytes
	// (VmHWM), 0 where the system does not report it.
	PeakRSS int64 `json:"peak_rss,omitempty"`
}

// init makes every binary that links this package (the stocksync binary,
// its test binaries, this package's) able to serve as the device child, so
// a re-executed process needs no cooperation from main or TestMain.
func init() { RunChildIfRequested() }

// RunChildIfRequested does the Device scenario's child job and exits when
// this process was started as a device child (childEnv is set), and
// returns at once otherwise. It runs from this package's init; calling it
// again, early in main or TestMain, is harmless.
func RunChildIfRequested() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	rep, err := runChildJob(context.Background(), spec)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(rep); err == nil {
			fmt.Fprintf(os.Stdout, "%s%s\n", childPrefix, b)
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, "device bench child:", err)
	os.Exit(1)
}

func runChildJob(ctx context.Context, spec string) (childReport, error) {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		return childReport{}, fmt.Errorf("%s: %w", childEnv, err)
	}
	profile := ""
	switch job.Mode {
	case "pull":
		profile = os.Getenv(pullProfileEnv)
	case "record":
		profile = os.Getenv(recordProfileEnv)
	default:
		return childReport{}, fmt.Errorf("%s: unknown mode %q", childEnv, job.Mode)
	}
	dev, err := client.Open(ctx, job.DB, client.Options{AppVersion: "bench"})
	if err != nil {
		return childReport{}, err
	}
	defer dev.Close()
	if profile != "" {
		out, err := os.Create(profile)
		if err != nil {
			return childReport{}, err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return childReport{}, err
		}
		defer pprof.StopCPUProfile()
	}
	var rep childReport
	if job.Mode == "pull" {
		rep, err = pullChild(ctx, dev)
	} else {
		rep, err = recordChild(ctx, dev, job)
	}
	if err != nil {
		return rep, err
	}
	rep.PeakRSS = procStatus("VmHWM")
	return rep, dev.Close()
}

// pullChild times the device's first Sync: a full pull.
func pullChild(ctx context.Context, dev *client.Client) (childReport, error) {
	var rep childReport
	start := time.Now()
	sr, err := dev.Sync(ctx, client.SyncOptions{})
	rep.Duration = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("sync: %w", err)
	}
	if !sr.Reset {
		return rep, errors.New("the first pull was not a full download")
	}
	rep.Pulled, rep.Pages = sr.Pulled, sr.Pages
	return rep, nil
}

// recordChild records the job's operations and reports their latency,
// with the raw durable writes side by side.
func recordChild(ctx context.Context, dev *client.Client, job childJob) (childReport, error) {
	st, err := dev.Status(ctx)
	if err != nil {
		return childReport{}, err
	}
	probe, err := newSyncProbe(filepath.Dir(job.DB))
	if err != nil {
		return childReport{}, err
	}
	defer probe.close()
	shape := newDeviceShape(DeviceConfig{Items: job.Items, Balances: job.Balances}.withDefaults())
	lat, err := recordMix(ctx, dev, shape, max(job.Records, 1), st.LastSeq, probe)
	if err != nil {
		return childReport{}, err
	}
	if len(probe.lat) == 0 {
		if err := probe.sample(); err != nil {
			return childReport{}, err
		}
	}
	slices.Sort(lat)
	slices.Sort(probe.lat)
	return childReport{P50: percentile(lat, 0.50), P99: percentile(lat, 0.99), Max: lat[len(lat)-1],
		FsyncP50: percentile(probe.lat, 0.50), FsyncP99: percentile(probe.lat, 0.99), FsyncMax: probe.lat[len(probe.lat)-1]}, probe.close()
}

// syncProbe measures raw durable writes: deviceSyncProbeBytes written in
// place into a preallocated file, as SQLite reuses its WAL after a
// checkpoint, then fsync, the call SQLite makes on commit.
type syncProbe struct {
	f   *os.File
	buf []byte
	off int64
	lat []time.Duration
}

const syncProbeFileBytes = 4 << 20 // about the WAL's size between checkpoints

func newSyncProbe(dir string) (*syncProbe, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return nil, err
	}
	p := &syncProbe{f: f, buf: make([]byte, deviceSyncProbeBytes)}
	for off := int64(0); off < syncProbeFileBytes; off += int64(len(p.buf)) {
		if _, err := f.WriteAt(p.buf, off); err != nil {
			p.close()
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *syncProbe) sample() error {
	for i := range p.buf {
		p.buf[i] = byte(len(p.lat) + i)
	}
	start := time.Now()
	if _, err := p.f.WriteAt(p.buf, p.off); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	p.lat = append(p.lat, time.Since(start))
	p.off = (p.off + int64(len(p.buf))) % (syncProbeFileBytes - int64(len(p.buf)))
	return nil
}

func (p *syncProbe) close() error {
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	if rerr := os.Remove(p.f.Name()); err == nil {
		err = rerr
	}
	p.f = nil
	return err
}

// runChild runs job in a device child and returns its report and the peak
// resident set size the kernel's rusage gives for it, in bytes (see
// Device on what that includes).
func runChild(ctx context.Context, job childJob) (childReport, int64, error) {
	var rep childReport
	exe, err := os.Executable()
	if err != nil {
		return rep, 0, fmt.Errorf("device bench: find this executable to run the device child: %w", err)
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return rep, 0, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	found := false
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), childPrefix); ok {
			if err := json.Unmarshal([]byte(line), &rep); err != nil {
				return rep, 0, fmt.Errorf("device bench: the %s child printed %q: %w", job.Mode, line, err)
			}
			found = true
		}
	}
	if runErr != nil {
		return rep, 0, fmt.Errorf("device bench: the %s child (%s) failed: %w: %s", job.Mode, exe, runErr, tail(stderr.String()+stdout.String()))
	}
	if !found {
		return rep, 0, fmt.Errorf("device bench: the %s child (%s) printed no report: %s", job.Mode, exe, tail(stderr.String()+stdout.String()))
	}
	rss, ok := maxRSS(cmd.ProcessState)
	if !ok {
		return rep, 0, fmt.Errorf("device bench: the kernel reports no peak memory for the %s child on %s", job.Mode, runtime.GOOS)
	}
	return rep, rss, nil
}

// maxRSS is a finished process's peak resident set size in bytes, from its
// rusage: ProcessState.SysUsage().(*syscall.Rusage).Maxrss, kilobytes on
// Linux and the BSDs, bytes on macOS. The field is read by name because
// syscall.Rusage has no Maxrss on Windows, where a direct reference would
// keep the stocksync binary from building.
func maxRSS(ps *os.ProcessState) (int64, bool) {
	v := reflect.ValueOf(ps.SysUsage())
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	f := v.Elem().FieldByName("Maxrss")
	if !f.IsValid() || !f.CanInt() {
		return 0, false
	}
	rss := f.Int()
	if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
		rss *= 1024
	}
	return rss, rss > 0
}

// procStatus reads a size field (kB) of /proc/self/status in bytes, 0
// where there is none (not Linux).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}
