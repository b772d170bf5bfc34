package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/server"
	"stocksync/syncproto"
)

// Defaults of Config.
const (
	DefaultOps = 4
	// maxSkew bounds how far a device clock is from the server's.
	maxSkew = 72 * time.Hour
	// netRate and storeRate are the shares of requests and writes that
	// get a fault while faults are on.
	netRate   = 0.25
	storeRate = 0.2
)

// serverURL is what the devices enroll with; nothing resolves it, the
// transport hands every request to the handler.
const serverURL = "http://stocksync.sim"

// Config is one seed's run.
type Config struct {
	Seed int64
	// Store is the real store the server runs on. Runs may share one:
	// every run makes tenants of its own.
	Store ledger.Store
	// Dir holds the device databases.
	Dir string
	// DevicesPerTenant is 1 or 2, from the seed, when zero.
	DevicesPerTenant int
	// Ops is how many operations each device records (DefaultOps when
	// zero).
	Ops int
	// Logger receives the server's and clients' logs; nil discards them.
	Logger *slog.Logger
}

// Report is what one seed did.
type Report struct {
	Seed     int64
	Workload string
	Devices  int
	Recorded int
	ByStatus map[string]int
	Faults   Faults
	// Fingerprint is the run's outcome without generated IDs or times:
	// balances, each operation's status and code, review kinds per key,
	// faults. The same seed gives the same fingerprint on every store.
	Fingerprint []string
}

// Failure is an invariant a run broke. Its message lists every problem
// found.
type Failure struct {
	Seed     int64
	Problems []string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("seed %d broke %d invariant(s):\n  %s", f.Seed, len(f.Problems), strings.Join(f.Problems, "\n  "))
}

// Run runs one seed and checks the invariants (see the package doc). It
// returns a *Failure when an invariant broke, and another error when the
// run could not be carried out (a store or disk failing for real).
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Ops <= 0 {
		cfg.Ops = DefaultOps
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed5eed))
	if cfg.DevicesPerTenant <= 0 {
		cfg.DevicesPerTenant = 1 + rng.IntN(2)
	}
	r := &run{cfg: cfg, rng: rng, clock: NewClock(), faults: Faults{}, full: rng.IntN(3) == 0}
	r.store = NewFaultStore(cfg.Store, rng, storeRate, r.faults)
	r.l = ledger.New(r.store, ledger.Options{Now: r.clock.Now, Logger: cfg.Logger})
	srv, err := server.New(server.Config{
		Ledger: r.l, Logger: cfg.Logger, Now: r.clock.Now,
		DeviceRate: -1, TenantRate: -1, EnrollRate: -1,
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		return Report{}, err
	}
	r.handler = srv.Handler()
	r.net = &network{handler: r.handler, rng: rng, clock: r.clock, faults: r.faults, rate: netRate}
	defer r.close()

	if err := r.setup(ctx); err != nil {
		return Report{}, fmt.Errorf("seed %d: setup: %w", cfg.Seed, err)
	}
	if err := r.shift(ctx); err != nil {
		return Report{}, fmt.Errorf("seed %d: %w", cfg.Seed, err)
	}
	if err := r.drain(ctx); err != nil {
		return Report{}, fmt.Errorf("seed %d: drain: %w", cfg.Seed, err)
	}
	rep, err := r.check(ctx)
	if err != nil {
		return rep, fmt.Errorf("seed %d: check: %w", cfg.Seed, err)
	}
	if len(r.problems) > 0 {
		return rep, &Failure{Seed: cfg.Seed, Problems: r.problems}
	}
	return rep, nil
}

// run is one seed's world.
type run struct {
	cfg     Config
	rng     *rand.Rand
	clock   *Clock
	faults  Faults
	store   *FaultStore
	l       *ledger.Ledger
	handler http.Handler
	net     *network
	full    bool

	tenants  []*tenant
	devices  []*device
	problems []string
	// decided are the reviews a manager resolved during the run.
	decided []uuid.UUID
}

func (r *run) problemf(format string, args ...any) {
	if len(r.problems) < 50 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *run) close() {
	for _, d := range r.devices {
		if d.c != nil {
			_ = d.c.Close()
		}
	}
}

// tenant is one of the run's two tenants.
type tenant struct {
	idx     int
	id      uuid.UUID
	cat     catalog
	devices []*device
}

// device is one handheld: its real client and what it recorded.
type device struct {
	idx  int
	t    *tenant
	name string
	path string
	c    *client.Client
	tr   *transport
	opts client.Options
	id   uuid.UUID
	skew time.Duration
	// recorded are the operations Record accepted, in order.
	recorded []recorded
	orders   int
	// jumps counts the device clock's jumps back.
	jumps   int
	shipped []shipment
	// pushed are its operations as the device holds them after the drain.
	pushed []syncproto.Op
	// backup is the path of the device's last backup (empty when none is
	// kept), and backupOps how many operations it had recorded then.
	backup    string
	backupOps int
	// lost are operations recorded after a backup and lost when it was
	// restored: gone from the device, perhaps on the server.
	lost []recorded
	// restores counts the restores from a backup.
	restores int
	// views are its operations as the check read them.
	views []client.OpView
}

// recorded is one accepted operation with what the model needs.
type recorded struct {
	opID uuid.UUID
	in   client.OpInput
	// sku is the SKU the operation names, its barcode resolved.
	sku string
	// unknown is true when it names a SKU or location the catalog lacks.
	unknown bool
	// jumps is how often the device clock had jumped back when it was
	// recorded.
	jumps int
}

// shipment is a pick on an order that may be returned.
type shipment struct {
	order, sku, batch string
	left              int64
}

// setup makes the tenants, their catalogs and devices, with faults off.
func (r *run) setup(ctx context.Context) error {
	var suffix [4]byte
	if _, err := cryptoRead(suffix[:]); err != nil {
		return err
	}
	for ti := range 2 {
		slug := fmt.Sprintf("sim-%d-%c-%x", r.cfg.Seed, 'a'+ti, suffix)
		tn, err := r.l.CreateTenant(ctx, slug, "Simulated "+slug, nil)
		if err != nil {
			return err
		}
		t := &tenant{idx: ti, id: tn.ID, cat: newCatalog(ti)}
		if _, err := r.l.UpsertCatalog(ctx, t.id, t.cat.input()); err != nil {
			return err
		}
		r.tenants = append(r.tenants, t)
		for range r.cfg.DevicesPerTenant {
			d := &device{idx: len(r.devices), t: t}
			d.name = fmt.Sprintf("sim-%d", d.idx)
			d.path = filepath.Join(r.cfg.Dir, fmt.Sprintf("seed%d-%s.db", r.cfg.Seed, d.name))
			d.skew = time.Duration(r.rng.Int64N(int64(2*maxSkew))) - maxSkew
			d.tr = &transport{net: r.net}
			d.opts = client.Options{
				Now:         func() time.Time { return r.clock.Now().Add(d.skew) },
				Logger:      r.cfg.Logger,
				HTTPClient:  &http.Client{Transport: d.tr},
				AppVersion:  "stocksync-sim",
				MaxAttempts: 4,
				Rand:        rand.New(rand.NewPCG(r.rng.Uint64(), r.rng.Uint64())),
				Sleep: func(ctx context.Context, dl time.Duration) error {
					r.clock.Advance(dl)
					return ctx.Err()
				},
			}
			c, err := client.Open(ctx, d.path, d.opts)
			if err != nil {
				return err
			}
			d.c = c
			_, code, err := r.l.CreateEnrollmentCode(ctx, t.id, "MAIN", 0)
			if err != nil {
				return err
			}
			id, err := c.Enroll(ctx, serverURL, code, d.name)
			if err != nil {
				return fmt.Errorf("enroll %s: %w", d.name, err)
			}
			d.id = id.DeviceID
			if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
				return fmt.Errorf("first sync of %s: %w", d.name, err)
			}
			t.devices = append(t.devices, d)
			r.devices = append(r.devices, d)
		}
	}
	return nil
}

// shift is the faulty phase: a seeded scheduler picks, step by step, which
// device does what, until every device recorded its share.
func (r *run) shift(ctx context.Context) error {
	r.net.armed = true
	r.store.Arm(true)
	maxSteps := 30 * r.cfg.Ops * len(r.devices)
	for step := 0; step < maxSteps; step++ {
		done := true
		for _, d := range r.devices {
			if len(d.recorded) < r.cfg.Ops {
				done = false
			}
		}
		if done {
			break
		}
		d := r.devices[r.rng.IntN(len(r.devices))]
		var err error
		switch x := r.rng.IntN(100); {
		case x < 50:
			if len(d.recorded) < r.cfg.Ops {
				err = r.record(ctx, d)
			} else {
				err = r.sync(ctx, d)
			}
		case x < 72:
			err = r.sync(ctx, d)
		case x < 75:
			r.faults[FaultDeviceCrash]++
			err = r.crash(ctx, d)
		case x < 79:
			err = r.recordCrash(ctx, d)
		case x < 83:
			r.faults[FaultClockJump]++
			d.skew = max(d.skew-time.Duration(1+r.rng.Int64N(int64(6*time.Hour))), -maxSkew)
			d.jumps++
		case x < 88:
			r.net.deliverDelayed()
		case x < 92:
			err = r.backupOrRestore(ctx, d)
		case x < 95:
			err = r.decide(ctx)
		default:
			r.clock.Advance(time.Duration(1 + r.rng.Int64N(int64(10*time.Minute))))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sync runs one Sync that may crash the device mid-request. Failures are
// normal under faults: the outbox keeps the operations.
func (r *run) sync(ctx context.Context, d *device) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.tr.crash = cancel
	_, _ = d.c.Sync(sctx, client.SyncOptions{})
	d.tr.crash = nil
	if d.tr.crashed {
		d.tr.crashed = false
		return r.crash(ctx, d)
	}
	return nil
}

// crash closes the device's database as a dead battery would and opens it
// again, then checks that it kept exactly what Record acknowledged.
func (r *run) crash(ctx context.Context, d *device) error {
	if err := d.c.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.name, err)
	}
	return r.reopen(ctx, d, "a crash")
}

// reopen opens the closed device's database again and checks that it
// holds exactly the operations Record acknowledged (after a restore, those
// the backup had).
func (r *run) reopen(ctx context.Context, d *device, after string) error {
	c, err := client.Open(ctx, d.path, d.opts)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", d.name, err)
	}
	d.c = c
	ops, err := c.Ops(ctx, client.OpsFilter{})
	if err != nil {
		return err
	}
	if len(ops) != len(d.recorded) {
		r.problemf("%s: after %s the device holds %d operations, Record acknowledged %d", d.name, after, len(ops), len(d.recorded))
		return nil
	}
	for i, o := range ops {
		if o.Op.OpID != d.recorded[i].opID {
			r.problemf("%s: after %s operation %d is %s, Record acknowledged %s", d.name, after, i+1, o.Op.OpID, d.recorded[i].opID)
			break
		}
	}
	return nil
}

// recordCrash crashes the device around a Record: before it could write
// (the call fails, so the operation must not exist) or right after it
// returned (the operation must survive).
func (r *run) recordCrash(ctx context.Context, d *device) error {
	if len(d.recorded) >= r.cfg.Ops {
		return nil
	}
	if r.rng.IntN(2) == 0 {
		r.faults[FaultRecordCrashBefore]++
		dead, cancel := context.WithCancel(ctx)
		cancel()
		in, rec := r.nextOp(d)
		if got, err := d.c.Record(dead, in); err == nil {
			// Recorded all the same: it must then be kept.
			rec.opID = got.Op.OpID
			d.recorded = append(d.recorded, rec)
		}
		return r.crash(ctx, d)
	}
	r.faults[FaultRecordCrashAfter]++
	if err := r.record(ctx, d); err != nil {
		return err
	}
	return r.crash(ctx, d)
}

// record records the device's next operation.
func (r *run) record(ctx context.Context, d *device) error {
	in, rec := r.nextOp(d)
	got, err := d.c.Record(ctx, in)
	if err != nil {
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			r.problemf("%s: the device refused %+v: %v (a generator bug, or the client refuses what it should record)", d.name, in, err)
			return nil
		}
		return fmt.Errorf("%s: record: %w", d.name, err)
	}
	rec.opID = got.Op.OpID
	d.recorded = append(d.recorded, rec)
	if in.Kind == syncproto.KindPick && in.Order != "" && !rec.unknown {
		d.shipped = append(d.shipped, shipment{order: in.Order, sku: rec.sku, batch: in.Batch, left: in.Qty})
	}
	return nil
}

// drain stops the faults, lets every delayed request arrive, and syncs
// every device until its outbox is empty; a second round pulls what the
// others pushed.
func (r *run) drain(ctx context.Context) error {
	r.net.armed = false
	r.store.Arm(false)
	for r.net.deliverDelayed() {
	}
	for round := range 2 {
		for _, d := range r.devices {
			var last error
			for range 5 {
				rep, err := d.c.Sync(ctx, client.SyncOptions{})
				last = err
				if err == nil && rep.Pending == 0 {
					break
				}
			}
			if last != nil && round == 1 {
				r.problemf("%s: sync still fails with faults off: %v", d.name, last)
			}
		}
	}
	return nil
}

// push sends a push with a fresh token of the device straight to the
// handler, bypassing the client.
func (r *run) push(ctx context.Context, d *device, ops []syncproto.Op) (syncproto.PushResponse, error) {
	var out syncproto.PushResponse
	token, err := r.l.IssueDeviceToken(ctx, d.t.id, d.id)
	if err != nil {
		return out, err
	}
	body, err := json.Marshal(syncproto.PushRequest{DeviceID: d.id, DeviceTime: r.clock.Now().Add(d.skew), Ops: ops})
	if err != nil {
		return out, err
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, serverURL+"/v1/sync/push", bytes.NewReader(body))
	req.Header.Set(syncproto.HeaderProtocol, strconv.Itoa(syncproto.Version))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return out, fmt.Errorf("push again: HTTP %d: %s", rec.Code, rec.Body.String())
	}
	err = json.Unmarshal(rec.Body.Bytes(), &out)
	return out, err
}

// sortedStrings returns s sorted.
func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
