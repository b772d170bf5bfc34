package mobile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/ledger/sqlite"
	"stocksync/server"
)

// testCatalog: BOLT is not batch-tracked, PAINT is, MILK is batch- and
// expiry-tracked.
var testCatalog = ledger.Catalog{
	Warehouses: []ledger.WarehouseInput{{Code: "MAIN", Name: "Main warehouse"}},
	Locations: []ledger.LocationInput{{Warehouse: "MAIN", Code: "A-01"}, {Warehouse: "MAIN", Code: "A-02"},
		{Warehouse: "MAIN", Code: "COLD"}, {Warehouse: "MAIN", Code: "RETURNS"}},
	Items: []ledger.ItemInput{
		{SKU: "BOLT", Name: "Bolt M8", Unit: "pcs", Barcodes: []string{"4006381333931"}},
		{SKU: "PAINT", Name: "Paint 10 l", Unit: "pail", Barcodes: []string{"4012345000030"}, BatchTracked: true},
		{SKU: "MILK", Name: "UHT milk 1 l", Unit: "carton", BatchTracked: true, ExpiryTracked: true},
	},
	Batches: []ledger.BatchInput{{SKU: "PAINT", Code: "L1"}, {SKU: "PAINT", Code: "L2"}},
}

// env is the real server, in process on a free port, over a SQLite ledger
// with one tenant holding testCatalog.
type env struct {
	l      *ledger.Ledger
	tenant uuid.UUID
	url    string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	l := ledger.New(store, ledger.Options{Logger: slog.New(slog.DiscardHandler)})
	tn, err := l.CreateTenant(ctx, "mobile-test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpsertCatalog(ctx, tn.ID, testCatalog); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Ledger: l, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		DeviceRate: -1, TenantRate: -1, EnrollRate: -1, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{l: l, tenant: tn.ID, url: "http://" + ln.Addr().String()}
}

// code makes an enrollment code for the MAIN warehouse, as a manager does.
func (e *env) code(t *testing.T) string {
	t.Helper()
	_, code, err := e.l.CreateEnrollmentCode(context.Background(), e.tenant, "MAIN", 0)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// openDevice opens a device in a fresh directory, with backoff waits that
// return at once: the retries are client's business, tested there.
func openDevice(t *testing.T) *Device {
	t.Helper()
	d, err := open(t.TempDir(), client.Options{
		MaxAttempts: 2,
		Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// enrolled is openDevice enrolled with serverURL and synced once.
func (e *env) enrolled(t *testing.T, serverURL, name string) *Device {
	t.Helper()
	d := openDevice(t)
	if err := d.Enroll(serverURL, e.code(t), name); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	mustSync(t, d)
	return d
}

func mustSync(t *testing.T, d *Device) *SyncReport {
	t.Helper()
	rep, err := d.Sync()
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep
}

func mustStatus(t *testing.T, d *Device) *Status {
	t.Helper()
	s, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRecord(t *testing.T) func(*Recorded, error) *Recorded {
	return func(r *Recorded, err error) *Recorded {
		t.Helper()
		if err != nil {
			t.Fatalf("record: %v", err)
		}
		return r
	}
}

// wantCode fails unless err carries code, in ErrorCode and in its text.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := ErrorCode(err); got != code {
		t.Fatalf("ErrorCode = %q, want %q (error: %v)", got, code, err)
	}
	if !strings.HasPrefix(err.Error(), code+": ") || ErrorMessage(err) == "" {
		t.Fatalf("error text %q does not read %q then a message", err.Error(), code+": ")
	}
}

// TestDeviceAgainstServer walks a handheld's day through the API a Java or
// Swift app calls: enroll, download, look up, record every kind, sync, see
// the flagged and held operations, and the manager's decision arrive.
func TestDeviceAgainstServer(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	SetAppVersion("stocksync-android/1.4.0") // no other test sets it
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	if s := mustStatus(t, d); s.Enrolled || s.Online || s.LastSyncMillis != 0 || s.DeviceID != "" {
		t.Fatalf("fresh device status %+v", s)
	}
	_, err = d.Sync()
	wantCode(t, err, CodeNotEnrolled)

	if err := d.Enroll(e.url, e.code(t), "handheld 1"); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	before := time.Now().UnixMilli()
	rep := mustSync(t, d)
	if rep.Pulled == 0 || rep.Pushed != 0 || rep.Pending != 0 {
		t.Fatalf("first sync %+v, want the catalog pulled", rep)
	}
	s := mustStatus(t, d)
	if !s.Enrolled || !s.Online || s.DeviceName != "handheld 1" || s.Warehouse != "MAIN" || s.Server != e.url ||
		s.Items != 3 || s.Locations != 4 || s.LastSyncMillis < before || s.LastErrorCode != "" {
		t.Fatalf("status after the first sync %+v", s)
	}
	devID, err := uuid.Parse(s.DeviceID)
	if err != nil {
		t.Fatalf("device id %q: %v", s.DeviceID, err)
	}
	if dev, err := e.l.Device(ctx, e.tenant, devID); err != nil || dev.AppVersion != "stocksync-android/1.4.0" {
		t.Fatalf("server's device %+v (%v), want the app version set with SetAppVersion", dev, err)
	}

	// Look-ups, by barcode and by SKU, offline from the pulled catalog.
	paint, err := d.LookupItem("4012345000030")
	if err != nil {
		t.Fatal(err)
	}
	if paint.SKU != "PAINT" || !paint.BatchTracked || paint.Barcodes.Len() != 1 || paint.Barcodes.Get(0) != "4012345000030" ||
		paint.Batches.Len() != 2 || paint.Batches.Get(0).Code != "L1" || paint.Batches.Get(2) != nil || paint.Total != 0 {
		t.Fatalf("PAINT by barcode: %+v", paint)
	}
	if milk, err := d.LookupItem("MILK"); err != nil || !milk.ExpiryTracked || milk.Unit != "carton" {
		t.Fatalf("MILK by SKU: %+v, %v", milk, err)
	}
	_, err = d.LookupItem("NO-SUCH-THING")
	wantCode(t, err, CodeNotFound)

	// Every kind, through the convenience methods and Record.
	d.SetActor("badge-7")
	rec := mustRecord(t)
	var recs []*Recorded
	recs = append(recs,
		rec(d.Record(&Operation{Kind: KindReceive, Barcode: "4006381333931", Location: "A-01", Qty: 10})), // BOLT, scanned
		rec(d.RecordReceive("PAINT", "A-01", 5, "L1", "")),
		rec(d.RecordPick("PAINT", "A-01", 2, "L1", "SO-1")),
		rec(d.RecordTransfer("BOLT", "A-01", "A-02", 4, "")),
		// A count close in time to other movements of its key would be
		// count_ambiguous; none touch RETURNS.
		rec(d.RecordCount("BOLT", "RETURNS", 0, "")),
		rec(d.RecordAdjust("BOLT", "A-01", -1, "", "damaged")),
	)
	milk := rec(d.Record(&Operation{Kind: KindReceive, SKU: "MILK", Qty: 3, Location: "COLD", Expiry: "2027-01-31", Ref: "PO-9",
		OccurredAtMillis: time.Now().Add(-time.Minute).UnixMilli()}))
	if !milk.GeneratedBatch || milk.Batch == "" || milk.Warnings.Len() != 0 {
		t.Fatalf("MILK receive without a batch: %+v, want a generated batch code", milk)
	}
	// The customer returns a batch SO-1 never shipped: flagged.
	wrongBatch := rec(d.RecordReturn("PAINT", "RETURNS", 1, "L2", "SO-1", "customer"))
	// A barcode the catalog does not know: recorded with a warning, held.
	unknown := rec(d.Record(&Operation{Kind: KindPick, Barcode: "999000111", Location: "A-01", Qty: 1}))
	if unknown.Warnings.Len() != 1 || unknown.Warnings.Get(0).Code != "unknown_reference" || unknown.Warnings.Get(0).Value != "999000111" {
		t.Fatalf("unknown barcode: warnings %+v", unknown.Warnings.items)
	}
	recs = append(recs, milk, wrongBatch, unknown)
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.OpID == "" {
			t.Fatalf("recorded #%d: %+v, want seq %d and an op id", i, r, i+1)
		}
	}
	if s := mustStatus(t, d); s.Pending != len(recs) || s.LastSeq != int64(len(recs)) || s.OldestUnsentSeconds < 0 {
		t.Fatalf("status before the sync: %+v", s)
	}

	// Refused on the device, with the code the server would answer.
	_, err = d.RecordPick("BOLT", "A-01", 0, "", "")
	wantCode(t, err, "invalid_qty")
	_, err = d.RecordPick("PAINT", "A-01", 1, "", "")
	wantCode(t, err, "batch_required")
	_, err = d.Record(&Operation{Kind: "steal", SKU: "BOLT", Location: "A-01", Qty: 1})
	wantCode(t, err, "unknown_kind")
	_, err = d.Record(nil)
	wantCode(t, err, CodeInvalid)

	rep = mustSync(t, d)
	if rep.Pushed != len(recs) || rep.Flagged != 1 || rep.Held != 1 || rep.Applied != len(recs)-2 || rep.Problems != 2 || rep.Pending != 0 {
		t.Fatalf("sync report %+v", rep)
	}
	problems, err := d.Problems()
	if err != nil {
		t.Fatal(err)
	}
	if problems.Len() != 2 || problems.Get(-1) != nil || problems.Get(2) != nil {
		t.Fatalf("%d problems, want the return and the unknown barcode", problems.Len())
	}
	ret, held := problems.Get(0), problems.Get(1)
	if ret.OpID != wrongBatch.OpID || ret.Status != "flagged" || ret.Code != "wrong_batch_return" || ret.Kind != KindReturn ||
		ret.Batch != "L2" || ret.Order != "SO-1" || ret.Actor != "badge-7" || ret.Pending || ret.OpenReviews != 1 ||
		ret.Decisions.Len() != 1 || ret.Decisions.Get(0).Status != "open" || ret.Decisions.Get(0).Kind != "wrong_batch_return" {
		t.Fatalf("the wrong-batch return: %+v", ret)
	}
	if held.OpID != unknown.OpID || held.Status != "held" || held.Code != "unknown_reference" || held.Warnings.Len() != 1 {
		t.Fatalf("the unknown barcode: %+v", held)
	}

	// A manager reassigns the return to the batch SO-1 shipped; the
	// decision reaches the device with its next sync.
	reviewID, err := uuid.Parse(ret.Decisions.Get(0).ReviewID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.ResolveReview(ctx, e.tenant, reviewID, ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L1",
		By: "manager@example.com", Note: "SO-1 shipped L1"}); err != nil {
		t.Fatal(err)
	}
	if rep := mustSync(t, d); rep.Pushed != 0 || rep.Pulled == 0 {
		t.Fatalf("sync after the decision: %+v", rep)
	}
	problems, err = d.Problems()
	if err != nil {
		t.Fatal(err)
	}
	ret = problems.Get(0)
	dec := ret.Decisions.Get(0)
	if ret.OpenReviews != 0 || dec.Status != "resolved" || dec.Action != "reassign_batch" || dec.DecidedBy != "manager@example.com" ||
		dec.Note != "SO-1 shipped L1" || dec.DecidedAtMillis < before {
		t.Fatalf("the return after the decision: %+v, decision %+v", ret, dec)
	}
	if s := mustStatus(t, d); s.Problems != 2 || s.OpenReviews != 1 || s.Pending != 0 || s.AckedSeq != int64(len(recs)) {
		t.Fatalf("status after the decision: %+v", s)
	}

	// Stock as the server now has it: 10 received, 1 written off; 5 - 2
	// picked + 1 returned and moved to L1.
	for _, want := range []struct {
		ref   string
		total int64
	}{{"BOLT", 9}, {"PAINT", 4}, {"MILK", 3}} {
		it, err := d.LookupItem(want.ref)
		if err != nil {
			t.Fatal(err)
		}
		if it.Total != want.total {
			t.Errorf("%s: total %d, want %d; rows %+v", want.ref, it.Total, want.total, it.Stock.items)
		}
		for i := range it.Stock.Len() {
			if r := it.Stock.Get(i); r.Pending != 0 || r.OnHand != r.Stock {
				t.Errorf("%s: row %+v still has effects the server has not counted", want.ref, r)
			}
		}
	}
}

func TestEnrollErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := openDevice(t)

	// What the server answers a code it never issued.
	err := d.Enroll(e.url, "NOPE1-NOPE2", "handheld")
	wantCode(t, err, CodeUnauthorized)
	wantCode(t, d.Enroll("ftp://example.com", "X", "handheld"), CodeInvalid)
	wantCode(t, d.Enroll(e.url, "  ", "handheld"), CodeInvalid)

	// Nothing listens on a port just closed.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	wantCode(t, d.Enroll(dead, e.code(t), "handheld"), CodeNetwork)

	code := e.code(t)
	if err := d.Enroll(e.url, code, "handheld"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.Enroll(e.url, e.code(t), "handheld"), CodeAlreadyEnrolled)
	// A used code, on another device.
	wantCode(t, openDevice(t).Enroll(e.url, code, "second"), CodeUnauthorized)
}

// TestRevokedDevice: a device a manager revoked gets the server's
// unauthorized, and keeps what it recorded.
func TestRevokedDevice(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := e.enrolled(t, e.url, "handheld")
	mustRecord(t)(d.RecordReceive("BOLT", "A-01", 1, "", ""))
	id, err := uuid.Parse(mustStatus(t, d).DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.RevokeDevice(context.Background(), e.tenant, id); err != nil {
		t.Fatal(err)
	}
	_, err = d.Sync()
	wantCode(t, err, CodeUnauthorized)
	if s := mustStatus(t, d); !s.Online || s.LastErrorCode != CodeUnauthorized || s.Pending != 1 {
		t.Fatalf("status of a revoked device: %+v", s)
	}
}

// proxy stands between a device and the server: it can hang every request
// until the client gives up, and be shut down to look like a lost network.
type proxy struct {
	*httptest.Server
	hang    atomic.Bool
	arrived chan struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{arrived: make(chan struct{}, 100)}
	release := make(chan struct{})
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.hang.Load() {
			// The server notices a client that hung up only once the
			// body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			p.arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(release)
		p.Close()
	})
	return p
}

func TestCancelAndTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := newProxy(t, e.url)
	d := e.enrolled(t, p.URL, "handheld")
	mustRecord(t)(d.RecordPick("BOLT", "A-01", 1, "", ""))

	p.hang.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, err := d.Sync()
		errc <- err
	}()
	<-p.arrived
	d.Cancel()
	select {
	case err := <-errc:
		wantCode(t, err, CodeCanceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Sync did not return after Cancel")
	}

	start := time.Now()
	_, err := d.SyncFor(1)
	wantCode(t, err, CodeCanceled)
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("SyncFor(1) took %s", took)
	}
	if s := mustStatus(t, d); s.Online || s.LastErrorCode != CodeCanceled || s.Pending != 1 {
		t.Fatalf("status after a cancelled sync: %+v", s)
	}

	// Cancel ended those calls only.
	p.hang.Store(false)
	if rep := mustSync(t, d); rep.Pushed != 1 || rep.Pending != 0 {
		t.Fatalf("sync after the cancels: %+v", rep)
	}
}

// TestServerTimeout: a server that takes the request and never answers
// times the call out as CodeNetwork, not CodeCanceled: nobody cancelled it.
func TestServerTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := newProxy(t, e.url)
	d, err := open(t.TempDir(), client.Options{
		MaxAttempts: 1,
		HTTPClient:  &http.Client{Timeout: 300 * time.Millisecond},
		Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Enroll(p.URL, e.code(t), "slow handheld"); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	mustRecord(t)(d.RecordPick("BOLT", "A-01", 1, "", ""))
	p.hang.Store(true)
	_, err = d.Sync()
	wantCode(t, err, CodeNetwork)
	_, err = d.SyncFor(30)
	wantCode(t, err, CodeNetwork)

	d2, err := open(t.TempDir(), client.Options{MaxAttempts: 1, HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d2.Close() })
	wantCode(t, d2.Enroll(p.URL, e.code(t), "another"), CodeNetwork)
}

func TestOffline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := newProxy(t, e.url)
	d := e.enrolled(t, p.URL, "handheld")
	p.Close() // out of signal

	rec := mustRecord(t)(d.RecordReceive("BOLT", "A-01", 3, "", ""))
	if rec.Warnings.Len() != 0 {
		t.Fatalf("an offline receive of a known item warns: %+v", rec.Warnings.items)
	}
	_, err := d.Sync()
	wantCode(t, err, CodeNetwork)
	s := mustStatus(t, d)
	if s.Online || s.LastErrorCode != CodeNetwork || s.Pending != 1 || s.LastAttemptMillis < s.LastSyncMillis {
		t.Fatalf("status offline: %+v", s)
	}
	// Optimistic stock counts the unsent receipt.
	if it, err := d.LookupItem("BOLT"); err != nil || it.Total != 3 || it.Stock.Get(0).Pending != 3 {
		t.Fatalf("BOLT offline: %+v, %v", it, err)
	}
}

// TestConcurrentUse records from several threads while syncs run, as an
// app's UI and its background sync do.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := e.enrolled(t, e.url, "handheld")
	const workers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each+10)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := d.RecordReceive("BOLT", "A-01", 1, "", ""); err != nil {
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
				}
				if _, err := d.Status(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := d.Sync(); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustSync(t, d)
	if s := mustStatus(t, d); s.Pending != 0 || s.AckedSeq != workers*each {
		t.Fatalf("status after concurrent use: %+v", s)
	}
	if it, err := d.LookupItem("BOLT"); err != nil || it.Total != workers*each {
		t.Fatalf("BOLT: %+v, %v", it, err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	d := openDevice(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := d.Status()
	wantCode(t, err, CodeClosed)
	_, err = d.RecordPick("BOLT", "A-01", 1, "", "")
	wantCode(t, err, CodeClosed)
	d.Cancel()

	// What a no-argument constructor would make.
	var zero Device
	_, err = zero.Sync()
	wantCode(t, err, CodeClosed)
	zero.Cancel()
	if err := zero.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open("")
	wantCode(t, err, CodeInvalid)
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		err         error
		code, msage string
	}{
		{"nil", nil, "", ""},
		{"ours", newError(CodeNotFound, "no item X"), CodeNotFound, "no item X"},
		{"wrapped", fmt.Errorf("lookup: %w", newError(CodeNotFound, "no item X")), CodeNotFound, "no item X"},
		// An error that crossed into Java or Swift and came back as text.
		{"text", errors.New("wrong_batch_return: SO-1 never shipped L2"), "wrong_batch_return", "SO-1 never shipped L2"},
		{"other", errors.New("java.io.IOException: disk"), "", "java.io.IOException: disk"},
		{"plain", errors.New("boom"), "", "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := ErrorMessage(tc.err); got != tc.msage {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.msage)
			}
		})
	}
}

// TestGobind generates the Java and Objective-C bindings of this package
// with gobind, as gomobile bind does, and fails when gobind skips anything
// (a type it cannot carry) or a class or method an app calls is missing.
// When a JDK is installed it compiles the Java bindings, and a small
// caller written against them, with javac.
func TestGobind(t *testing.T) {
	if testing.Short() {
		t.Skip("gobind takes a minute; not in -short")
	}
	t.Parallel()
	tmp := t.TempDir()
	gobind := filepath.Join(tmp, "gobind")
	run(t, "", "go", "build", "-o", gobind, "golang.org/x/mobile/cmd/gobind")
	out := filepath.Join(tmp, "out")
	output := run(t, "", gobind, "-lang=go,java,objc", "-outdir", out, "stocksync/mobile")
	if strings.TrimSpace(output) != "" {
		t.Errorf("gobind printed:\n%s", output)
	}

	files := map[string]string{}
	err := filepath.WalkDir(out, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		files[filepath.ToSlash(rel)] = string(body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		body := files[name]
		switch filepath.Ext(name) {
		case ".java", ".h", ".m", ".go", ".c":
		default:
			continue
		}
		for i, line := range strings.Split(body, "\n") {
			if strings.Contains(line, "skipped") {
				t.Errorf("%s:%d: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}

	// What an app calls, as Java sees it.
	want := map[string][]string{
		"java/mobile/Mobile.java": {
			"public static native Device open(String dir) throws Exception;",
			"public static native void setAppVersion(String version);",
			"public static native String errorCode(java.lang.Exception err);",
			"public static native String errorMessage(java.lang.Exception err);",
			`public static final String CodeNetwork = "network";`,
			`public static final String KindReceive = "receive";`,
		},
		"java/mobile/Device.java": {
			"public Device(String dir) {",
			"public native void enroll(String serverURL, String code, String name) throws Exception;",
			"public native Recorded record(Operation op) throws Exception;",
			"public native Recorded recordReceive(String sku, String location, long qty, String batch, String expiry) throws Exception;",
			"public native Recorded recordPick(String sku, String location, long qty, String batch, String order) throws Exception;",
			"public native Recorded recordReturn(String sku, String location, long qty, String batch, String order, String reason) throws Exception;",
			"public native Recorded recordTransfer(String sku, String location, String toLocation, long qty, String batch) throws Exception;",
			"public native Recorded recordCount(String sku, String location, long qty, String batch) throws Exception;",
			"public native Recorded recordAdjust(String sku, String location, long qty, String batch, String reason) throws Exception;",
			"public native Item lookupItem(String barcodeOrSKU) throws Exception;",
			"public native SyncReport sync() throws Exception;",
			"public native SyncReport syncFor(long seconds) throws Exception;",
			"public native void cancel();",
			"public native Status status() throws Exception;",
			"public native OpList problems() throws Exception;",
			"public native void close() throws Exception;",
			"public native void setActor(String badge);",
		},
		"java/mobile/Operation.java": {"public Operation()", "public final native void setSKU(String v);",
			"public final native void setQty(long v);", "public final native void setOccurredAtMillis(long v);"},
		"java/mobile/Recorded.java":    {"public final native String getOpID();", "public final native long getSeq();", "public final native WarningList getWarnings();"},
		"java/mobile/WarningList.java": {"public native long len();", "public native Warning get(long i);"},
		"java/mobile/Status.java": {"public final native boolean getOnline();", "public final native long getPending();",
			"public final native long getOldestUnsentSeconds();", "public final native long getLastSyncMillis();", "public final native String getDeviceID();"},
		"java/mobile/OpList.java":       {"public native long len();", "public native OpView get(long i);"},
		"java/mobile/OpView.java":       {"public final native String getCode();", "public final native DecisionList getDecisions();"},
		"java/mobile/DecisionList.java": {"public native Decision get(long i);"},
		"java/mobile/Decision.java":     {"public final native String getAction();", "public final native long getDecidedAtMillis();"},
		"java/mobile/Item.java":         {"public final native StockList getStock();", "public final native long getTotal();"},
		"java/mobile/SyncReport.java":   {"public final native long getFlagged();"},
		"src/gobind/Mobile.objc.h": {"@interface MobileDevice : NSObject <goSeqRefInterface>",
			"- (nullable instancetype)init:(NSString* _Nullable)dir;",
			"- (MobileSyncReport* _Nullable)sync:(NSError* _Nullable* _Nullable)error;",
			"FOUNDATION_EXPORT MobileDevice* _Nullable MobileOpen(NSString* _Nullable dir, NSError* _Nullable* _Nullable error);",
			"FOUNDATION_EXPORT NSString* _Nonnull MobileErrorCode(NSError* _Nullable err);"},
	}
	for name, decls := range want {
		body, ok := files[name]
		if !ok {
			t.Errorf("gobind wrote no %s", name)
			continue
		}
		for _, decl := range decls {
			if !strings.Contains(body, decl) {
				t.Errorf("%s lacks %q", name, decl)
			}
		}
	}
	if _, ok := files["java/mobile/Device.java"]; ok && strings.Contains(files["java/mobile/Device.java"], "public Device() {") {
		t.Error("Device.java has a constructor without arguments, which would make a Device without a database")
	}
	if t.Failed() {
		return
	}
	compileJava(t, tmp, filepath.Join(out, "java"))
}

// javaCaller is how an Android app calls the bindings; it only has to
// compile (running it needs the Go library built for Android).
const javaCaller = `package example;

import mobile.Device;
import mobile.Mobile;
import mobile.OpList;
import mobile.OpView;
import mobile.Operation;
import mobile.Recorded;
import mobile.Status;

public final class Caller {
	static String shift(String dir, String server, String code) {
		Mobile.setAppVersion("example/1.0");
		try {
			Device device = new Device(dir);
			try {
				device.enroll(server, code, "handheld 1");
				device.sync();
				Operation op = new Operation();
				op.setKind(Mobile.KindPick);
				op.setBarcode("4006381333931");
				op.setLocation("A-01");
				op.setQty(2);
				Recorded rec = device.record(op);
				for (long i = 0; i < rec.getWarnings().len(); i++) {
					System.out.println(rec.getWarnings().get(i).getMessage());
				}
				device.recordReturn("PAINT", "RETURNS", 1, "L2", "SO-1", "customer");
				device.syncFor(60);
				OpList problems = device.problems();
				for (long i = 0; i < problems.len(); i++) {
					OpView v = problems.get(i);
					System.out.println(v.getCode() + " " + v.getDecisions().len());
				}
				Status s = device.status();
				return s.getOnline() + " " + s.getPending() + " " + s.getLastSyncMillis();
			} finally {
				device.close();
			}
		} catch (Exception e) {
			if (Mobile.CodeUnauthorized.equals(Mobile.errorCode(e))) {
				return "enroll again: " + Mobile.errorMessage(e);
			}
			return e.getMessage();
		}
	}
}
`

// compileJava compiles the generated Java and javaCaller with javac,
// against a stub of the one Android class the bindings use: go/Seq.java
// takes an android.content.Context to load the native library.
func compileJava(t *testing.T, tmp, javaDir string) {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		if os.Getenv("STOCKSYNC_REQUIRE_JDK") == "1" {
			t.Fatalf("javac is not on PATH and STOCKSYNC_REQUIRE_JDK=1: install a JDK (Debian: default-jdk-headless)")
		}
		t.Skip("javac is not on PATH: the generated Java was not compiled (install default-jdk-headless, or set STOCKSYNC_REQUIRE_JDK=1 to fail instead)")
	}
	stubs := filepath.Join(tmp, "stubs")
	write := func(path, body string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(stubs, "android", "content", "Context.java"), "package android.content;\n\npublic class Context {}\n")
	write(filepath.Join(stubs, "example", "Caller.java"), javaCaller)
	var sources []string
	for _, dir := range []string{javaDir, stubs} {
		err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() && strings.HasSuffix(path, ".java") {
				sources = append(sources, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	classes := filepath.Join(tmp, "classes")
	args := append([]string{"-d", classes}, sources...)
	run(t, "", javac, args...)
	for _, class := range []string{"mobile/Device.class", "mobile/Mobile.class", "go/Seq.class", "example/Caller.class"} {
		if _, err := os.Stat(filepath.Join(classes, class)); err != nil {
			t.Errorf("javac wrote no %s: %v", class, err)
		}
	}
}

// run runs a command and returns its combined output, failing the test
// when it fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
