package main

// Real crashes and several servers (issue 4): the real binary, built by the
// test without the race detector, runs as a subprocess and is killed with
// SIGKILL at random moments while handhelds (real client instances in the
// test process, each on its own SQLite file) record and sync; and three
// servers share one PostgreSQL schema while the devices of one tenant hop
// between them request by request. After the load stops and every device
// has synced, every operation must be in the op log exactly once and in the
// ledger exactly once, 'stocksync check' must pass, and a SQLite server
// database must pass PRAGMA integrity_check.
//
// Randomness comes from one seed, printed by each test: the operations each
// device records and the moments of the kills. The interleaving of requests
// and kills still depends on timing, so a seed replays the same plan, not
// the same run.
//
// Knobs for longer soaks by hand (CI uses the defaults):
//
//	STOCKSYNC_CRASH_SEED=N        the seed (default: from the clock)
//	STOCKSYNC_CRASH_KILLS=N       SIGKILLs per store in TestCrashUnderLoad (default 20)
//	STOCKSYNC_CRASH_DEVICES=N     handhelds per test (default 6)
//	STOCKSYNC_CRASH_MAX_GAP=D     longest wait before a kill (default 400ms)
//	STOCKSYNC_MULTI_DURATION=D    load time of TestThreeServersOnePostgres (default 8s)
//
// for example:
//
//	STOCKSYNC_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	STOCKSYNC_CRASH_KILLS=200 go test ./cmd/stocksync -run 'Crash|ThreeServers' -v -timeout 1h

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/syncproto"
)

// crashKnobs are the test's sizes, from the environment.
type crashKnobs struct {
	seed     uint64
	kills    int
	devices  int
	maxGap   time.Duration
	duration time.Duration
}

func readCrashKnobs(t *testing.T) crashKnobs {
	t.Helper()
	k := crashKnobs{seed: uint64(time.Now().UnixNano()), kills: 20, devices: 6, maxGap: 400 * time.Millisecond, duration: 8 * time.Second}
	envInt := func(key string, dst *int) {
		if s := os.Getenv(key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s must be a positive number, got %q", key, s)
			}
			*dst = n
		}
	}
	envDur := func(key string, dst *time.Duration) {
		if s := os.Getenv(key); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				t.Fatalf("%s must be a positive duration, got %q", key, s)
			}
			*dst = d
		}
	}
	if s := os.Getenv("STOCKSYNC_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STOCKSYNC_CRASH_SEED must be a number, got %q", s)
		}
		k.seed = n
	}
	envInt("STOCKSYNC_CRASH_KILLS", &k.kills)
	envInt("STOCKSYNC_CRASH_DEVICES", &k.devices)
	envDur("STOCKSYNC_CRASH_MAX_GAP", &k.maxGap)
	envDur("STOCKSYNC_MULTI_DURATION", &k.duration)
	return k
}

// buildBinary builds the real stocksync binary into the test's directory,
// without the race detector whatever the test runs with: the server is the
// thing being crashed, the test process the thing that watches. The build
// cache makes the second build of a run a link only.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stocksync")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procServer is one 'stocksync serve' subprocess on a fixed address, which
// the test kills and starts again on the same address and database.
type procServer struct {
	bin, db, addr string
	log           string // the server's stderr, appended across restarts

	cmd  *exec.Cmd
	done chan error
}

func newProcServer(t *testing.T, bin, db string) *procServer {
	t.Helper()
	s := &procServer{bin: bin, db: db, addr: "127.0.0.1:" + freePort(t), log: filepath.Join(t.TempDir(), "serve.log")}
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			logExit(t, <-s.done)
			s.cmd = nil
		}
	})
	return s
}

// URL is where the server listens.
func (s *procServer) URL() string { return "http://" + s.addr }

// spawn starts the process without waiting for it to listen.
func (s *procServer) spawn(t *testing.T) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("spawn: the server is already running")
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(context.Background(), s.bin, "serve", "--db", s.db, "--addr", s.addr)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "STOCKSYNC_DEVICE_RATE=-1", "STOCKSYNC_TENANT_RATE=-1",
		"STOCKSYNC_ENROLL_RATE=1000", "STOCKSYNC_SHUTDOWN_TIMEOUT=10s", "STOCKSYNC_LOG_LEVEL=warn"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s serve: %v", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
}

// start spawns the server and waits until /readyz answers 200.
func (s *procServer) start(t *testing.T) {
	t.Helper()
	s.spawn(t)
	s.waitReady(t)
}

func (s *procServer) waitReady(t *testing.T) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.cmd = nil
			t.Fatalf("serve on %s exited before it was ready: %v\n%s", s.db, err, s.tail())
		default:
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL()+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve on %s not ready within 30s:\n%s", s.db, s.tail())
}

// ready reports whether /readyz answers 200 right now.
func (s *procServer) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *procServer) kill(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	logExit(t, <-s.done)
	s.cmd = nil
}

// stop shuts the server down with SIGTERM and fails the test unless it
// exits cleanly.
func (s *procServer) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve did not exit cleanly after SIGTERM: %v\n%s", err, s.tail())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop within 30s of SIGTERM")
		_ = s.cmd.Process.Kill()
		logExit(t, <-s.done)
	}
	s.cmd = nil
}

// tail is the end of the server's log, for failure messages.
func (s *procServer) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// binTenant creates a tenant with the binary's 'tenant create --json' and
// loads the catalog through the API of the server at url.
func binTenant(t *testing.T, bin, db, url, slug string, catalog any) e2eTenant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "tenant", "create", slug, "--json", "--db", db)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stocksync tenant create: %v\n%s", err, stderr.String())
	}
	var created createdTenant
	if err := json.Unmarshal(out, &created); err != nil || created.APIKey == "" {
		t.Fatalf("tenant create --json printed %q (%v)", out, err)
	}
	tn := e2eTenant{db: db, url: url, key: created.APIKey}
	tn.call(t, "POST", "/v1/catalog", catalog, http.StatusOK, nil)
	return tn
}

// binCheck runs the binary's 'stocksync check' on db and fails the test
// unless it exits 0.
func binCheck(t *testing.T, bin, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--db", db)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("stocksync check: %v\n%s", err, out)
	}
}

// sqliteIntegrity fails the test unless PRAGMA integrity_check of the
// (closed) SQLite database at path answers ok.
func sqliteIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0] != "ok" {
		t.Errorf("PRAGMA integrity_check on %s: %q", path, lines)
	}
}

// crashCatalog has few keys, so devices keep hitting the same ones.
var crashCatalog = e2eCatalog

// randomOp is one operation a picker might scan, from rng. Every reference
// is in the catalog, so nothing is held for a reference; only a return with
// no batch on an order that shipped nothing yet is held, until the shipment
// arrives. Counts are rare, as on a real floor: a count opens
// count_ambiguous with every movement on its bin within the clock
// uncertainty, and a review's operations are rewritten on every merge that
// touches it (see the report of issue 4).
func randomOp(rng *rand.Rand, dev int) client.OpInput {
	bins := []string{"A-01", "A-02"}
	bin := bins[rng.IntN(2)]
	lots := []string{"L1", "L2"}
	order := fmt.Sprintf("SO-%d", rng.IntN(8))
	note := fmt.Sprintf("dev %d", dev)
	switch n := rng.IntN(100); {
	case n < 25:
		return client.OpInput{Kind: "receive", SKU: "BOLT", Qty: int64(1 + rng.IntN(20)), Location: bin, Note: note}
	case n < 37:
		in := client.OpInput{Kind: "receive", SKU: "PAINT", Qty: int64(1 + rng.IntN(5)), Location: "A-02", Note: note}
		if rng.IntN(4) > 0 {
			in.Batch = lots[rng.IntN(2)]
		} // else a batch generated on the device
		return in
	case n < 57:
		return client.OpInput{Kind: "pick", Barcode: "4006381333931", Qty: int64(1 + rng.IntN(5)), Location: bin, Order: order, Note: note}
	case n < 67:
		return client.OpInput{Kind: "pick", SKU: "PAINT", Batch: lots[rng.IntN(2)], Qty: int64(1 + rng.IntN(2)), Location: "A-02", Order: order, Note: note}
	case n < 73:
		in := client.OpInput{Kind: "return", SKU: "PAINT", Qty: 1, Location: "RETURNS", Order: order, Note: note}
		if rng.IntN(2) == 0 {
			in.Batch = lots[rng.IntN(2)]
		}
		return in
	case n < 86:
		return client.OpInput{Kind: "transfer", SKU: "BOLT", Qty: int64(1 + rng.IntN(3)), Location: bin, ToLocation: bins[1-slices.Index(bins, bin)], Note: note}
	case n < 97:
		q := int64(1 + rng.IntN(3))
		if rng.IntN(2) == 0 {
			q = -q
		}
		return client.OpInput{Kind: "adjust", SKU: "BOLT", Qty: q, Location: bin, Reason: "damaged", Note: note}
	default:
		return client.OpInput{Kind: "count", SKU: "BOLT", Qty: int64(rng.IntN(40)), Location: bin, Note: note}
	}
}

// floorClock is a device's time on the floor: shifts that started sixty
// days ago, one scan every 20 s to 3 min, so tens of thousands of scans
// before it reaches the present (where it stays, a minute back: a device
// refuses a time in the future). Operations recorded at the test's pace but
// all at the same instant would be one long count_ambiguous.
type floorClock struct {
	at time.Time
}

func newFloorClock() *floorClock {
	return &floorClock{at: time.Now().Add(-60 * 24 * time.Hour).Truncate(time.Second)}
}

func (c *floorClock) next(rng *rand.Rand) time.Time {
	c.at = c.at.Add(time.Duration(20+rng.IntN(160)) * time.Second)
	if limit := time.Now().Add(-time.Minute); c.at.After(limit) {
		c.at = limit
	}
	return c.at
}

// loadStats counts what the load did.
type loadStats struct {
	recorded   atomic.Int64
	syncs      atomic.Int64
	syncErrors atomic.Int64
	replayed   atomic.Int64 // results the server already had: a lost answer
}

// pushWatch watches the pushes the devices send: how many the server
// holds right now (sent in full, no answer yet; the server answers after
// it committed), and how many a kill cut off.
type pushWatch struct {
	base     http.RoundTripper
	inServer atomic.Int64
	cut      atomic.Int64
}

func (w *pushWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v1/sync/push" {
		return w.base.RoundTrip(req)
	}
	var wrote atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil && !wrote.Swap(true) {
				w.inServer.Add(1)
			}
		},
	})
	resp, err := w.base.RoundTrip(req.WithContext(ctx))
	if wrote.Load() {
		w.inServer.Add(-1)
		if err != nil && req.Context().Err() == nil {
			w.cut.Add(1)
		}
	}
	return resp, err
}

// driveDevice records and syncs on dev until ctx is done: a recorder that
// scans at a picker's pace and a syncer that syncs whenever it can, at the
// same time, the way a handheld does.
func driveDevice(ctx context.Context, t *testing.T, dev *client.Client, idx int, seed uint64, st *loadStats) error {
	rng := rand.New(rand.NewPCG(seed, uint64(idx)))
	syncRng := rand.New(rand.NewPCG(seed, uint64(idx)+1000))
	var wg sync.WaitGroup
	var recErr error
	wg.Go(func() {
		clock := newFloorClock()
		for ctx.Err() == nil {
			in := randomOp(rng, idx)
			in.OccurredAt = clock.next(rng)
			// Record on a context of its own: a picker's scan does not
			// depend on the load's life, and a Record cut short by a
			// cancelled context would make the count uncertain.
			if _, err := dev.Record(context.Background(), in); err != nil {
				recErr = fmt.Errorf("device %d: record: %w", idx, err)
				return
			}
			st.recorded.Add(1)
			sleepCtx(ctx, time.Duration(5+rng.IntN(30))*time.Millisecond)
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			rep, err := dev.Sync(ctx, client.SyncOptions{})
			st.syncs.Add(1)
			st.replayed.Add(int64(rep.Replayed))
			if err != nil && ctx.Err() == nil {
				st.syncErrors.Add(1)
				if c := client.ErrorCode(err); c == syncproto.CodeUnauthorized || c == syncproto.CodeForbidden || c == syncproto.CodeInvalid {
					t.Errorf("device %d: sync refused for good: %v", idx, err)
					return
				}
			}
			sleepCtx(ctx, time.Duration(syncRng.IntN(30))*time.Millisecond)
		}
	})
	wg.Wait()
	return recErr
}

func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// drain syncs dev until nothing is pending, and fails the test when the
// device stays stuck.
func drain(t *testing.T, dev *client.Client, name string) {
	t.Helper()
	var last error
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := dev.Sync(ctx, client.SyncOptions{})
		cancel()
		if err == nil && rep.Pending == 0 {
			return
		}
		last = fmt.Errorf("%w (report %+v)", err, rep)
	}
	st, _ := dev.Status(context.Background())
	t.Errorf("%s is stuck: 10 syncs left operations pending: %v; status %+v", name, last, st)
}

// crashDevice is an enrolled handheld of the test.
type crashDevice struct {
	name string
	id   uuid.UUID
	c    *client.Client
}

// enrollDevices enrolls n handhelds with opts on tn.
func enrollDevices(t *testing.T, tn e2eTenant, n int, opts client.Options) []crashDevice {
	t.Helper()
	devs := make([]crashDevice, n)
	for i := range devs {
		name := fmt.Sprintf("handheld-%02d", i)
		c := tn.enroll(t, name, opts)
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		devs[i] = crashDevice{name: name, id: uuid.MustParse(st.DeviceID), c: c}
	}
	return devs
}

// crashClientOptions are client options for a flaky server: few, quick
// retries, so a device notices the server back within milliseconds.
func crashClientOptions(rt http.RoundTripper) client.Options {
	return client.Options{
		MaxAttempts: 4,
		BaseDelay:   10 * time.Millisecond,
		MaxDelay:    200 * time.Millisecond,
		ChunkSize:   50,
		HTTPClient:  &http.Client{Transport: rt, Timeout: 20 * time.Second},
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleepCtx(ctx, d)
			return ctx.Err()
		},
	}
}

// opEntry is one op log entry as GET /v1/ops shows it.
type opEntry struct {
	DeviceID   uuid.UUID `json:"device_id"`
	Seq        int64     `json:"seq"`
	OpID       uuid.UUID `json:"op_id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Code       string    `json:"code"`
	Posted     bool      `json:"posted"`
	Conflict   bool      `json:"conflict"`
	Renumbered bool      `json:"renumbered"`
}

// movementEntry is one movement as GET /v1/movements shows it.
type movementEntry struct {
	Position int64      `json:"position"`
	Kind     string     `json:"kind"`
	Qty      int64      `json:"qty"`
	OpID     *uuid.UUID `json:"op_id"`
	Corrects *uuid.UUID `json:"corrects"`
}

// verifyExactlyOnce checks, through the management API, that every
// operation each device recorded is in the op log exactly once, under
// contiguous seqs, applied or flagged and posted; and that the ledger holds
// exactly the movements each posted operation makes, once. It returns the
// number of operations and the counts by status.
func verifyExactlyOnce(t *testing.T, tn e2eTenant, devs []crashDevice) (int, map[string]int) {
	t.Helper()
	ctx := context.Background()
	want := map[uuid.UUID]syncproto.Op{} // every op recorded, by op_id
	for _, d := range devs {
		ops, err := d.c.Ops(ctx, client.OpsFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range ops {
			if v.Pending {
				t.Errorf("%s: op %d %s still pending after the drain", d.name, v.Op.Seq, v.Op.OpID)
			}
			if v.Status != syncproto.StatusApplied && v.Status != syncproto.StatusFlagged && !heldReturn(v.Op, string(v.Status)) {
				t.Errorf("%s: op %d %s (%s) came back %s %s: %s", d.name, v.Op.Seq, v.Op.OpID, v.Op.Kind, v.Status, v.Code, v.Message)
			}
			if _, dup := want[v.Op.OpID]; dup {
				t.Errorf("%s: op_id %s recorded twice on the devices", d.name, v.Op.OpID)
			}
			want[v.Op.OpID] = v.Op
		}
	}

	byStatus := map[string]int{}
	seen := map[uuid.UUID]bool{}
	posted := map[uuid.UUID]bool{}
	for _, d := range devs {
		after := int64(0)
		for {
			var page struct {
				Ops []opEntry `json:"ops"`
			}
			tn.call(t, "GET", fmt.Sprintf("/v1/ops?limit=1000&device_id=%s&after_seq=%d", d.id, after), nil, http.StatusOK, &page)
			if len(page.Ops) == 0 {
				break
			}
			for _, e := range page.Ops {
				if e.Seq != after+1 {
					t.Errorf("%s: op log seq %d follows %d: not contiguous", d.name, e.Seq, after)
				}
				after = e.Seq
				if e.Conflict || e.Renumbered {
					t.Errorf("%s: op log entry %+v is a conflict or a renumbering; none was expected", d.name, e)
					continue
				}
				op, ok := want[e.OpID]
				switch {
				case !ok:
					t.Errorf("%s: op log entry %+v was never recorded by a device", d.name, e)
				case seen[e.OpID]:
					t.Errorf("%s: op %s is in the op log twice", d.name, e.OpID)
				case op.Kind != e.Kind || op.Seq != e.Seq:
					t.Errorf("%s: op log entry %+v differs from the device's op %d %s", d.name, e, op.Seq, op.Kind)
				}
				if held := heldReturn(op, e.Status); !held && (!e.Posted || (e.Status != "applied" && e.Status != "flagged")) {
					t.Errorf("%s: op log entry %+v: want applied or flagged, and posted", d.name, e)
				}
				seen[e.OpID] = true
				posted[e.OpID] = e.Posted
				byStatus[e.Status]++
			}
		}
	}
	for id, op := range want {
		if !seen[id] {
			t.Errorf("op %s (seq %d, %s) recorded on a device is missing from the op log", id, op.Seq, op.Kind)
		}
	}

	// The ledger: each posted operation's own movements, once.
	type effect struct {
		rows   int
		sum    int64
		counts int
	}
	effects := map[uuid.UUID]*effect{}
	after := int64(0)
	for {
		var page struct {
			Movements []movementEntry `json:"movements"`
		}
		tn.call(t, "GET", fmt.Sprintf("/v1/movements?limit=1000&after=%d", after), nil, http.StatusOK, &page)
		if len(page.Movements) == 0 {
			break
		}
		for _, m := range page.Movements {
			if m.Position != after+1 {
				t.Errorf("movement position %d follows %d: not gap-free", m.Position, after)
			}
			after = m.Position
			switch m.Kind {
			case "count_correction", "return_rematch", "resolution":
				continue // corrections of an earlier operation, not an operation's own effect
			}
			if m.OpID == nil {
				t.Errorf("movement %+v has no operation", m)
				continue
			}
			e := effects[*m.OpID]
			if e == nil {
				e = &effect{}
				effects[*m.OpID] = e
			}
			e.rows++
			e.sum += m.Qty
			if m.Kind == "count" {
				e.counts++
			}
		}
	}
	for id, op := range want {
		e := effects[id]
		if !posted[id] {
			if e != nil {
				t.Errorf("op %s (%s), not posted, has %d movements", id, op.Kind, e.rows)
			}
			continue
		}
		if e == nil {
			t.Errorf("op %s (%s) posted no movement", id, op.Kind)
			continue
		}
		var ok bool
		switch op.Kind {
		case "receive", "return":
			ok = e.sum == op.Qty && e.rows >= 1 && (op.Kind == "return" || e.rows == 1)
		case "pick":
			ok = e.rows == 1 && e.sum == -op.Qty
		case "transfer":
			ok = e.rows == 2 && e.sum == 0
		case "adjust":
			ok = e.rows == 1 && e.sum == op.Qty
		case "count":
			ok = e.rows == 1 && e.counts == 1
		}
		if !ok {
			t.Errorf("op %s (%s qty %d) posted %d movements summing to %d: not its effect exactly once", id, op.Kind, op.Qty, e.rows, e.sum)
		}
	}
	for id := range effects {
		if _, ok := want[id]; !ok {
			t.Errorf("movements of op %s, which no device recorded", id)
		}
	}
	return len(want), byStatus
}

// heldReturn reports whether an operation came back held the one way this
// load can hold one: a return with no batch, of a batch-tracked item, on an
// order with no known shipment yet. It is posted once a pick ships the order
// (then posted is set, the stored result stays held).
func heldReturn(op syncproto.Op, status string) bool {
	return status == string(syncproto.StatusHeld) && op.Kind == "return" && op.Batch == ""
}

// TestCrashUnderLoad: the real server is killed with SIGKILL at random
// moments while handhelds record and sync, and restarted on the same port
// and database each time. Once the load stops and every device synced,
// nothing is lost or doubled, check passes, and SQLite's file is intact.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	k := readCrashKnobs(t)
	t.Logf("seed %d (replay the plan with STOCKSYNC_CRASH_SEED=%d), %d kills, %d devices", k.seed, k.seed, k.kills, k.devices)
	bin := buildBinary(t)
	forEachDB(t, func(t *testing.T, db string) {
		started := time.Now()
		srv := newProcServer(t, bin, db)
		srv.start(t)
		tn := binTenant(t, bin, db, srv.URL(), "crash", crashCatalog)
		transport := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(transport.CloseIdleConnections)
		watch := &pushWatch{base: transport}
		devs := enrollDevices(t, tn, k.devices, crashClientOptions(watch))

		var st loadStats
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errs := make(chan error, len(devs))
		for i, d := range devs {
			wg.Go(func() { errs <- driveDevice(ctx, t, d.c, i, k.seed, &st) })
		}

		rng := rand.New(rand.NewPCG(k.seed, 0xC0FFEE))
		survived, duringStart, startNotReady, midPush := 0, 0, 0, 0
		for range k.kills {
			if rng.IntN(5) == 0 {
				// Kill it while it starts: a process spawned a moment
				// ago, opening the database, migrating, or just
				// listening. (The server running now was started and
				// waited for by the last kill: killing it here would be
				// a kill of a running server, not of one starting.)
				srv.kill(t)
				srv.spawn(t)
				sleepCtx(context.Background(), time.Duration(rng.IntN(20))*time.Millisecond)
				if !srv.ready() {
					startNotReady++
				}
				srv.kill(t)
				survived++
				duringStart++
				srv.spawn(t)
				srv.waitReady(t)
			} else {
				sleepCtx(context.Background(), time.Duration(rng.Int64N(int64(k.maxGap))))
				if watch.inServer.Load() > 0 {
					midPush++ // a push sent in full and not yet answered: being merged
				}
				srv.kill(t)
				srv.spawn(t)
				srv.waitReady(t)
			}
			survived++
		}
		// A last stretch of load on a server that stays up.
		sleepCtx(context.Background(), 300*time.Millisecond)
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		loadTime := time.Since(started)

		for _, d := range devs {
			drain(t, d.c, d.name)
		}
		t.Logf("drained after %v", time.Since(started))
		n, byStatus := verifyExactlyOnce(t, tn, devs)
		t.Logf("verified after %v", time.Since(started))
		srv.stop(t)
		binCheck(t, bin, db)
		if !strings.Contains(db, "://") {
			sqliteIntegrity(t, db)
		}
		t.Logf("%d SIGKILLs survived (%d while starting, %d of those before /readyz answered; %d while the server held a push), %d operations recorded by %d devices, checked against the op log and the ledger (%v); "+
			"%d syncs, %d ended in an error; %d pushes cut off by a kill, %d results replayed (a kill after commit, before the answer); load %v, total %v",
			survived, duringStart, startNotReady, midPush, n, len(devs), byStatus, st.syncs.Load(), st.syncErrors.Load(), watch.cut.Load(), st.replayed.Load(),
			loadTime.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
		// The point of the test is kills that land while the server holds
		// a push: without one, it proves nothing about a crash mid-merge.
		if k.kills >= 10 && midPush == 0 {
			t.Errorf("none of the %d SIGKILLs landed while the server held a push: nothing was killed mid-merge", survived)
		}
		if int64(n) != st.recorded.Load() {
			t.Errorf("the devices hold %d operations, the load recorded %d", n, st.recorded.Load())
		}
	})
}

// hopTransport sends each request to one of several servers at random: a
// load balancer with no affinity.
type hopTransport struct {
	mu    sync.Mutex
	rng   *rand.Rand
	hosts []string
	base  http.RoundTripper
	sent  []atomic.Int64
}

func (h *hopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	i := h.rng.IntN(len(h.hosts))
	h.mu.Unlock()
	h.sent[i].Add(1)
	r := req.Clone(req.Context())
	u := *req.URL
	u.Host = h.hosts[i]
	r.URL, r.Host = &u, h.hosts[i]
	return h.base.RoundTrip(r)
}

// TestThreeServersOnePostgres: three servers on one PostgreSQL schema,
// started at the same time (their migrations race for the lock), and the
// handhelds of one tenant sending every request to any of them, two of them
// on exactly the same keys, while one server at a time is killed and
// restarted. Servers are stateless: the invariants hold as with one, and
// each device's seqs in the op log are contiguous.
func TestThreeServersOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	db := pgtest.URL(t) // skips without STOCKSYNC_TEST_DATABASE_URL, saying how to run it
	k := readCrashKnobs(t)
	t.Logf("seed %d (replay the plan with STOCKSYNC_CRASH_SEED=%d), %d devices, %v of load", k.seed, k.seed, k.devices, k.duration)
	bin := buildBinary(t)
	started := time.Now()

	srvs := make([]*procServer, 3)
	for i := range srvs {
		srvs[i] = newProcServer(t, bin, db)
		srvs[i].spawn(t)
	}
	for _, s := range srvs {
		s.waitReady(t)
	}
	tn := binTenant(t, bin, db, srvs[0].URL(), "three", crashCatalog)

	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	hop := &hopTransport{rng: rand.New(rand.NewPCG(k.seed, 3)), base: base, sent: make([]atomic.Int64, len(srvs))}
	for _, s := range srvs {
		hop.hosts = append(hop.hosts, s.addr)
	}
	// Enrolled through server 0; every later request goes anywhere.
	devs := enrollDevices(t, tn, k.devices, crashClientOptions(hop))

	var st loadStats
	ctx, cancel := context.WithTimeout(context.Background(), k.duration)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(devs)+2)
	for i, d := range devs {
		wg.Go(func() { errs <- driveDevice(ctx, t, d.c, i, k.seed, &st) })
	}
	// Two more devices on one key only: the same bin, the same item,
	// picking and receiving against each other.
	pair := enrollDevices(t, tn, 2, crashClientOptions(hop))
	for i := range pair {
		pair[i].name = fmt.Sprintf("same-key-%d", i)
	}
	for i, d := range pair {
		wg.Go(func() { errs <- driveSameKey(ctx, d.c, i, k.seed, &st) })
	}
	// Meanwhile one server at a time dies and comes back, while the other
	// two carry on: a device whose request went to it retries, and its
	// next request may land anywhere.
	rng := rand.New(rand.NewPCG(k.seed, 0xDEAD))
	kills := 0
	for ctx.Err() == nil {
		sleepCtx(ctx, time.Duration(rng.Int64N(int64(3*k.maxGap))))
		if ctx.Err() != nil {
			break
		}
		s := srvs[rng.IntN(len(srvs))]
		s.kill(t)
		s.spawn(t)
		s.waitReady(t)
		kills++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	devs = append(devs, pair...)
	for _, d := range devs {
		drain(t, d.c, d.name)
	}
	n, byStatus := verifyExactlyOnce(t, tn, devs)
	for _, s := range srvs {
		s.stop(t)
	}
	binCheck(t, bin, db)
	var sent []int64
	for i := range hop.sent {
		sent = append(sent, hop.sent[i].Load())
	}
	t.Logf("3 servers, %d SIGKILLs of one of them survived, %d devices, %d operations checked against the op log and the ledger (%v); requests per server %v; %d syncs, %d ended in an error; %v",
		kills, len(devs), n, byStatus, sent, st.syncs.Load(), st.syncErrors.Load(), time.Since(started).Round(time.Millisecond))
	for i, c := range sent {
		if c == 0 {
			t.Errorf("server %d got no request", i)
		}
	}
}

// driveSameKey is driveDevice on one key: BOLT at A-01, picks and receipts.
func driveSameKey(ctx context.Context, dev *client.Client, idx int, seed uint64, st *loadStats) error {
	rng := rand.New(rand.NewPCG(seed, uint64(idx)+5000))
	clock := newFloorClock()
	for ctx.Err() == nil {
		for range 1 + rng.IntN(5) {
			in := client.OpInput{Kind: "pick", SKU: "BOLT", Qty: int64(1 + rng.IntN(3)), Location: "A-01"}
			if rng.IntN(3) == 0 {
				in = client.OpInput{Kind: "receive", SKU: "BOLT", Qty: int64(1 + rng.IntN(6)), Location: "A-01"}
			}
			in.OccurredAt = clock.next(rng)
			if _, err := dev.Record(context.Background(), in); err != nil {
				return fmt.Errorf("same-key device %d: record: %w", idx, err)
			}
			st.recorded.Add(1)
		}
		if _, err := dev.Sync(ctx, client.SyncOptions{}); err != nil && ctx.Err() == nil {
			st.syncErrors.Add(1)
		}
		st.syncs.Add(1)
		sleepCtx(ctx, time.Duration(rng.IntN(50))*time.Millisecond)
	}
	return nil
}

// logExit logs how a killed server process exited: after SIGKILL its exit
// status ("signal: killed") says nothing worth failing over.
func logExit(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Logf("serve exited: %v", err)
	}
}
