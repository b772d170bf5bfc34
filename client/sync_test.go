package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// recordN records n picks of one bolt each, a minute apart.
func (f *fixture) recordN(t *testing.T, n int) []Recorded {
	t.Helper()
	var out []Recorded
	for range n {
		f.clock.Advance(time.Minute)
		out = append(out, f.record(t, pick("BOLT", 1, "A1")))
	}
	return out
}

// failPushes makes the server answer the next n pushes with status and
// code (and Retry-After when retryAfter is set), then speak the protocol.
func (f *fixture) failPushes(n int, status int, code syncproto.Code, retryAfter string) *atomic.Int32 {
	var failed atomic.Int32
	f.srv.do(func(s *testServer) {
		s.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v1/sync/push" || failed.Load() >= int32(n) {
				return false
			}
			failed.Add(1)
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeError(w, status, syncproto.Errorf(code, "injected %s", code))
			return true
		}
	})
	return &failed
}

func (f *fixture) assertAllAcked(t *testing.T, n int) {
	t.Helper()
	ops := f.ops(t, OpsFilter{})
	if len(ops) != n {
		t.Fatalf("%d ops on the device, want %d", len(ops), n)
	}
	for _, v := range ops {
		if v.Pending || v.Status == "" {
			t.Fatalf("op seq %d is not acknowledged with a result: %+v", v.Op.Seq, v)
		}
	}
	f.srv.do(func(s *testServer) {
		if s.acked != int64(n) || len(s.results) != n {
			t.Fatalf("server: acked_seq %d with %d operations, want %d", s.acked, len(s.results), n)
		}
	})
}

func TestSyncPushesInChunksAndStoresEveryResult(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.ChunkSize = 3 })
	f.enroll(t)
	f.recordN(t, 10)
	var progress []Progress
	rep, err := f.c.Sync(context.Background(), SyncOptions{Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pushed != 10 || rep.Applied != 10 || rep.Pending != 0 || rep.AckedSeq != 10 {
		t.Fatalf("report %+v", rep)
	}
	var sizes []int
	for _, p := range f.srv.snapshotPushes()[0:] {
		sizes = append(sizes, p.n)
	}
	if want := []int{3, 3, 3, 1}; !equalInts(sizes, want) {
		t.Fatalf("push sizes %v, want %v", sizes, want)
	}
	first := f.srv.snapshotPushes()[0]
	if first.gzip || first.backlog.Pending != 10 || first.backlog.AckedSeq != 0 ||
		first.backlog.OldestUnsent != 9*time.Minute || first.backlog.AppVersion != "test" {
		t.Errorf("first push: %+v; want no gzip for a small body, and the backlog of 10 ops, oldest 9 minutes", first)
	}
	if second := f.srv.snapshotPushes()[1]; second.backlog.AckedSeq != 3 || second.backlog.Pending != 7 {
		t.Errorf("second push: %+v; want the acked seq heard from the first", second)
	}
	last := progress[len(progress)-1]
	if pushDone := progress[len(progress)-2]; pushDone.Phase != PhasePush || pushDone.Sent != 10 || pushDone.Total != 10 || last.Phase != PhasePull {
		t.Errorf("progress %+v", progress)
	}
	f.assertAllAcked(t, 10)
	st := f.status(t)
	if st.Pending != 0 || st.AckedSeq != 10 || st.LastSync == nil || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	// A second sync has nothing to push.
	if rep := f.sync(t); rep.Pushed != 0 || rep.Pages != 1 {
		t.Errorf("idle sync: %+v", rep)
	}
}

func TestSyncKeepsPushesUnderTheBodyLimit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.c.maxPushBytes = 5000 // about four operations with a full note
	note := strings.Repeat("n", syncproto.MaxTextLen)
	for range 10 {
		f.record(t, OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", Note: note})
	}
	f.sync(t)
	pushes := f.srv.snapshotPushes()
	if len(pushes) < 3 {
		t.Fatalf("%d pushes for 10 ops of 1 KiB under a 5000-byte limit", len(pushes))
	}
	for _, p := range pushes {
		if p.n > 4 {
			t.Errorf("a push of %d operations: over the byte limit", p.n)
		}
	}
	f.assertAllAcked(t, 10)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSyncHalvesTheChunkOnTooLarge(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.ChunkSize = 10 })
	f.enroll(t)
	f.srv.do(func(s *testServer) { s.maxOps = 3 })
	f.recordN(t, 10)
	rep := f.sync(t)
	var sizes []int
	for _, p := range f.srv.snapshotPushes() {
		sizes = append(sizes, p.n)
	}
	if want := []int{10, 5, 2, 2, 2, 2, 2}; !equalInts(sizes, want) {
		t.Fatalf("push sizes %v, want %v", sizes, want)
	}
	if p := f.srv.snapshotPushes(); !p[0].gzip {
		t.Errorf("a push of 10 operations was not gzipped")
	}
	if rep.Pushed != 10 {
		t.Fatalf("report %+v", rep)
	}
	f.assertAllAcked(t, 10)
}

func TestSyncResendsFromTheServersAckedSeqOnSeqGap(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	recorded := f.recordN(t, 5)
	f.sync(t)
	// The server is restored from a backup that has only seqs 1..3.
	f.srv.do(func(s *testServer) {
		s.acked = 3
		for _, r := range recorded[3:] {
			delete(s.results, r.Op.OpID)
			delete(s.seqs, r.Op.Seq)
		}
	})
	f.recordN(t, 1)
	rep := f.sync(t)
	if rep.Resent != 2 || rep.Pushed != 3 || rep.Replayed != 0 {
		t.Fatalf("report %+v; want 2 resent and 3 pushed", rep)
	}
	pushes := f.srv.snapshotPushes()
	if p := pushes[len(pushes)-1]; p.first != 4 || p.last != 6 {
		t.Errorf("last push seq %d..%d, want 4..6", p.first, p.last)
	}
	f.assertAllAcked(t, 6)
}

func TestSyncRenumbersAfterARestoreFromBackup(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.recordN(t, 1)
	f.sync(t)
	// Back up the device's database file (closed, so it is complete).
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		t.Helper()
		if err := f.c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, backup, 0o600); err != nil {
			t.Fatal(err)
		}
		f.open(t)
	}
	f.open(t)
	f.recordN(t, 3) // seqs 2..4, acknowledged by the server, then lost
	f.sync(t)

	// As many new operations as the device forgot reuse all its seqs.
	restore()
	fresh := f.recordN(t, 3)
	rep := f.sync(t)
	if rep.Renumbered != 3 || rep.Applied != 3 || rep.Rejected != 0 {
		t.Fatalf("report %+v; want 3 renumbered and applied", rep)
	}
	ops := f.ops(t, OpsFilter{})
	if len(ops) != 4 {
		t.Fatalf("%d ops, want 4", len(ops))
	}
	for i, r := range fresh {
		v := ops[i+1]
		if v.Op.OpID != r.Op.OpID || v.Op.Seq != int64(5+i) || v.Pending || v.Status != syncproto.StatusApplied {
			t.Errorf("op %d: %+v; want op %s renumbered to seq %d and applied", i, v, r.Op.OpID, 5+i)
		}
	}
	if next := f.record(t, pick("BOLT", 1, "A1")); next.Op.Seq != 8 {
		t.Errorf("next seq %d, want 8", next.Op.Seq)
	}
	f.sync(t)

	// Restored again, and synced before recording anything: the pull
	// tells the device how far the server got, and new seqs start after.
	restore()
	if rep := f.sync(t); rep.Pushed != 0 {
		t.Fatalf("report %+v", rep)
	}
	if next := f.record(t, pick("BOLT", 1, "A1")); next.Op.Seq != 9 {
		t.Errorf("next seq after a pull %d, want 9", next.Op.Seq)
	}
	if rep := f.sync(t); rep.Applied != 1 || rep.Rejected != 0 {
		t.Fatalf("report %+v", rep)
	}
	f.srv.do(func(s *testServer) {
		if s.acked != 9 || len(s.results) != 9 {
			t.Errorf("server acked %d with %d operations, want 9", s.acked, len(s.results))
		}
	})
}

func TestRenumberKeepsOpIDsAndOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recorded := f.recordN(t, 4)
	n, err := f.c.renumber(context.Background(), 100)
	if err != nil || n != 4 {
		t.Fatalf("renumber: %d, %v", n, err)
	}
	ops := f.ops(t, OpsFilter{})
	for i, v := range ops {
		if v.Op.OpID != recorded[i].Op.OpID || v.Op.Seq != int64(101+i) {
			t.Errorf("op %d: %s at seq %d, want %s at %d", i, v.Op.OpID, v.Op.Seq, recorded[i].Op.OpID, 101+i)
		}
		if v.Op.OccurredAt != recorded[i].Op.OccurredAt || v.Op.Qty != recorded[i].Op.Qty {
			t.Errorf("op %d changed beyond its seq: %+v", i, v.Op)
		}
	}
	if st := f.status(t); st.LastSeq != 104 || st.AckedSeq != 100 {
		t.Errorf("status %+v; want last seq 104, acked 100", st)
	}
}

func TestSyncHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.recordN(t, 2)
	f.failPushes(2, http.StatusTooManyRequests, syncproto.CodeRateLimited, "7")
	before := len(f.waits())
	rep := f.sync(t)
	waits := f.waits()[before:]
	if len(waits) != 2 || waits[0] < 7*time.Second || waits[1] < 7*time.Second {
		t.Fatalf("waits %v; want two of at least Retry-After's 7s", waits)
	}
	if rep.Pushed != 2 || rep.Attempts < 3 {
		t.Fatalf("report %+v", rep)
	}
	f.assertAllAcked(t, 2)
}

func TestSyncBacksOffOnServerErrorsThenGivesUp(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.MaxAttempts = 4 })
	f.enroll(t)
	f.recordN(t, 3)

	// Two failures, then success: backoff grows, jittered under the cap.
	f.failPushes(2, http.StatusInternalServerError, syncproto.CodeInternal, "")
	rep := f.sync(t)
	waits := f.waits()
	if len(waits) != 2 || waits[0] > DefaultBaseDelay || waits[1] > 2*DefaultBaseDelay {
		t.Fatalf("waits %v; want two within the backoff windows 0.5s, 1s", waits)
	}
	if rep.Pushed != 3 {
		t.Fatalf("report %+v", rep)
	}

	// A server that keeps failing: bounded attempts, every op kept.
	f.recordN(t, 2)
	f.failPushes(100, http.StatusServiceUnavailable, syncproto.CodeUnavailable, "")
	rep, err := f.c.Sync(context.Background(), SyncOptions{})
	if ErrorCode(err) != syncproto.CodeUnavailable || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("sync: %v; want unavailable after 4 attempts", err)
	}
	if rep.Attempts != 4 || rep.Pending != 2 {
		t.Fatalf("report %+v; want 4 attempts and 2 pending", rep)
	}
	st := f.status(t)
	if st.Pending != 2 || st.LastErrorCode != string(syncproto.CodeUnavailable) || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
}

func TestSyncRetriesAProxysAnswer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.recordN(t, 1)
	var n atomic.Int32
	f.srv.do(func(s *testServer) {
		s.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if n.Add(1) > 1 {
				return false
			}
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
			return true
		}
	})
	if rep := f.sync(t); rep.Pushed != 1 || rep.Attempts != 3 { // 502, push, pull
		t.Fatalf("report %+v", rep)
	}
}

func TestSyncStopsWhenUnauthorizedOrOutdated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		code   syncproto.Code
	}{
		{"revoked token", http.StatusUnauthorized, syncproto.CodeUnauthorized},
		{"protocol not spoken", http.StatusUpgradeRequired, syncproto.CodeUnsupportedProtocol},
		{"client bug", http.StatusBadRequest, syncproto.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			f.enroll(t)
			f.recordN(t, 3)
			f.failPushes(100, tc.status, tc.code, "")
			rep, err := f.c.Sync(context.Background(), SyncOptions{})
			var pe *syncproto.Error
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Status != tc.status {
				t.Fatalf("sync: %v; want %s (HTTP %d)", err, tc.code, tc.status)
			}
			if rep.Attempts != 1 || len(f.waits()) != 0 {
				t.Errorf("report %+v, waits %v: want one attempt and no retry", rep, f.waits())
			}
			if st := f.status(t); st.Pending != 3 || st.LastErrorCode != string(tc.code) {
				t.Errorf("status %+v; want 3 ops kept and the error recorded", st)
			}
		})
	}
}

func TestSyncRevokedByTheRealHandler(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.recordN(t, 1)
	f.srv.do(func(s *testServer) { s.token = "ssd_other" })
	_, err := f.c.Sync(context.Background(), SyncOptions{})
	if ErrorCode(err) != syncproto.CodeUnauthorized {
		t.Fatalf("sync: %v", err)
	}
	if ops := f.ops(t, OpsFilter{Pending: true}); len(ops) != 1 {
		t.Fatalf("pending ops %d, want 1 kept", len(ops))
	}
}

func TestPullPagesUntilDoneAndStoresTheCursor(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.PullLimit = 2 })
	ctx := context.Background()
	if _, err := f.c.Enroll(ctx, f.srv.URL(), testCode, "h1"); err != nil {
		t.Fatal(err)
	}
	rep := f.sync(t)
	var changes int
	f.srv.do(func(s *testServer) { changes = len(s.changes) })
	if rep.Pulled != changes || rep.Pages != (changes+1)/2 || !rep.Reset {
		t.Fatalf("report %+v; want %d rows in pages of 2", rep, changes)
	}
	st := f.status(t)
	if st.Items != 3 || st.Locations != 3 || st.Balances != 3 || st.WarehouseName != "Main warehouse" {
		t.Fatalf("status %+v", st)
	}
	it, err := f.c.Item(ctx, "4000002")
	if err != nil || it.SKU != "MILK" || !it.BatchTracked || len(it.Batches) != 1 || len(it.Stock) != 1 {
		t.Fatalf("item by barcode: %+v, %v", it, err)
	}
	if _, err := f.c.Item(ctx, "NOPE"); ErrorCode(err) != syncproto.CodeNotFound {
		t.Fatalf("unknown item: %v", err)
	}
	// The next pull starts at the stored cursor: only the new change.
	f.srv.do(func(s *testServer) { s.putLocation("B7") })
	if rep := f.sync(t); rep.Pulled != 1 || rep.Reset || rep.Pages != 1 {
		t.Fatalf("incremental pull: %+v", rep)
	}
}

func TestPullResetAndLedgerChangeKeepOperations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.record(t, OpInput{Kind: "receive", SKU: "BOLT", Qty: 5, Location: "A1"})
	f.sync(t)
	f.srv.do(func(s *testServer) { s.putItem(syncproto.Item{SKU: "OLD", Name: "gone after the restore", Unit: "pc"}) })
	f.sync(t)
	if _, err := f.c.Item(context.Background(), "OLD"); err != nil {
		t.Fatal(err)
	}

	// The server's database is replaced by a backup that has never seen
	// this device's operation: a new ledger id and acked_seq 0.
	f.srv.do(func(s *testServer) { s.replaceLedger() })
	rep := f.sync(t)
	if !rep.LedgerChanged || !rep.Reset || rep.Resent != 1 || rep.Pushed != 1 {
		t.Fatalf("report %+v; want a new ledger, a reset and the operation pushed again", rep)
	}
	if _, err := f.c.Item(context.Background(), "OLD"); ErrorCode(err) != syncproto.CodeNotFound {
		t.Fatalf("item of the old ledger survived: %v", err)
	}
	f.assertAllAcked(t, 1)
	st := f.status(t)
	var ledger string
	f.srv.do(func(s *testServer) { ledger = s.ledgerID })
	if st.LedgerID != ledger {
		t.Errorf("ledger id %q, want %q", st.LedgerID, ledger)
	}
	if rows := f.stock(t, StockFilter{SKU: "BOLT"}); rows[stockKey{"A1", "BOLT", ""}].Stock != 15 {
		t.Errorf("stock after the new ledger merged the op again: %+v", rows)
	}
}

func TestPullFromAnotherLedgerWithoutResetStartsOver(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.recordN(t, 2)
	// The first answer after the switch continues the old cursor without
	// reset (a server that does not notice); the device must start over.
	var newLedger string
	var answered atomic.Bool
	f.srv.do(func(s *testServer) {
		newLedger = uuid.NewString()
		s.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v1/sync/pull" || answered.Swap(true) {
				return false
			}
			writeJSON(w, http.StatusOK, syncproto.PullResponse{LedgerID: newLedger, Cursor: "x:1", AckedSeq: 2,
				Items: []syncproto.Item{{SKU: "WRONG", Name: "must not be stored", Unit: "pc"}}})
			return true
		}
	})
	f.srv.do(func(s *testServer) { s.ledgerID = newLedger })
	rep := f.sync(t)
	if !rep.LedgerChanged || !rep.Reset || rep.Pages != 2 {
		t.Fatalf("report %+v; want the stray page dropped and a full download", rep)
	}
	if _, err := f.c.Item(context.Background(), "WRONG"); ErrorCode(err) != syncproto.CodeNotFound {
		t.Errorf("the stray page was applied: %v", err)
	}
	if st := f.status(t); st.Items != 3 || st.LedgerID != newLedger || len(f.ops(t, OpsFilter{})) != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSyncStoresDecisions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	f.record(t, pick("BOLT", 12, "A1")) // 10 on hand: negative, flagged
	rep := f.sync(t)
	if rep.Flagged != 1 {
		t.Fatalf("report %+v", rep)
	}
	probs := f.ops(t, OpsFilter{Problems: true})
	if len(probs) != 1 || probs[0].Code != syncproto.CodeNegativeStock || len(probs[0].ReviewIDs) != 1 {
		t.Fatalf("problems %+v", probs)
	}
	reviewID := probs[0].ReviewIDs[0]
	decided := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	f.srv.do(func(s *testServer) {
		s.putDecision(syncproto.Decision{ReviewID: reviewID, Kind: "negative_stock", Status: syncproto.ReviewResolved,
			OpIDs: []uuid.UUID{probs[0].Op.OpID}, Action: "accept", Note: "stock arrived late", DecidedBy: "anna", DecidedAt: &decided})
	})
	f.sync(t)
	probs = f.ops(t, OpsFilter{Problems: true})
	if len(probs[0].Decisions) != 1 {
		t.Fatalf("decisions %+v", probs[0].Decisions)
	}
	d := probs[0].Decisions[0]
	if d.Status != syncproto.ReviewResolved || d.Action != "accept" || d.DecidedBy != "anna" || d.DecidedAt == nil || !d.DecidedAt.Equal(decided) {
		t.Errorf("decision %+v", d)
	}
	if st := f.status(t); st.Problems != 1 || st.OpenReviews != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestSyncCancellation(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.Sleep = nil }) // real waits
	f.enroll(t)
	f.recordN(t, 2)
	started := make(chan struct{}, 1)
	f.srv.do(func(s *testServer) {
		s.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case started <- struct{}{}:
			default:
			}
			// A server that never answers. The body is read first: only
			// then does net/http notice the client hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return true
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	begin := time.Now()
	_, err := f.c.Sync(ctx, SyncOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sync: %v, want context.Canceled", err)
	}
	if time.Since(begin) > 5*time.Second {
		t.Errorf("cancellation took %s", time.Since(begin))
	}
	if st := f.status(t); st.Pending != 2 || st.LastErrorCode != "canceled" {
		t.Errorf("status %+v", st)
	}

	// Cancelled while waiting to retry.
	f.srv.do(func(s *testServer) { s.intercept = nil })
	f.failPushes(100, http.StatusServiceUnavailable, syncproto.CodeUnavailable, "30")
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.c.Sync(ctx, SyncOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync during backoff: %v", err)
	}
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if _, err := f.c.Sync(ctx, SyncOptions{}); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("sync before enrollment: %v", err)
	}
	if _, err := f.c.Enroll(ctx, f.srv.URL(), "WRONG-CODE", "h1"); ErrorCode(err) != syncproto.CodeUnauthorized {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := f.c.Enroll(ctx, "ftp://x", testCode, "h1"); err == nil {
		t.Fatal("ftp server accepted")
	}
	// Operations recorded before enrollment are pushed by the first sync.
	f.recordN(t, 2)
	id, err := f.c.Enroll(ctx, f.srv.URL()+"/", testCode, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Server != f.srv.URL() || id.BatchPrefix != testPrefix || id.Warehouse != "MAIN" || id.DeviceID == uuid.Nil {
		t.Fatalf("identity %+v", id)
	}
	if _, err := f.c.Enroll(ctx, f.srv.URL(), testCode, "h1"); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Fatalf("second enrollment: %v", err)
	}
	f.reopen(t)
	st := f.status(t)
	if !st.Enrolled || st.DeviceID != id.DeviceID.String() || st.DeviceName != "h1" || st.Pending != 2 {
		t.Fatalf("status %+v", st)
	}
	if rep := f.sync(t); rep.Pushed != 2 {
		t.Fatalf("first sync %+v", rep)
	}
}
