package main

// End-to-end tests of the device client's recovery paths against the real
// server: restores of the device and of the server, pulls cut short, and
// cursors the server no longer takes.

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"stocksync/client"
	"stocksync/syncproto"
)

// reopenDevice closes dev and opens its file again with opts.
func reopenDevice(t *testing.T, dev *client.Client, opts client.Options) *client.Client {
	t.Helper()
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	return openDevice(t, dev.Path(), opts)
}

// allApplied fails the test unless every entry of the server's op log was
// applied and the log holds want entries.
func allApplied(t *testing.T, tn e2eTenant, want int) {
	t.Helper()
	var log opLog
	tn.call(t, "GET", "/v1/ops", nil, http.StatusOK, &log)
	if len(log.Ops) != want {
		t.Errorf("op log has %d entries, want %d: %+v", len(log.Ops), want, log)
	}
	for _, e := range log.Ops {
		if e.Status != "applied" {
			t.Errorf("op log entry %+v is not applied", e)
		}
	}
}

// TestRestoredDeviceWithABacklogInChunks: a handheld restored from a backup
// that still held unsent operations pushes them in chunks. The first chunk
// replays what the server already has and tells the device the server's
// acked seq; the operations recorded since the restore, in a later chunk,
// sit under seqs the server holds for others and must be renumbered, not
// sent under a seq the device now reports as acked (op_conflict).
func TestRestoredDeviceWithABacklogInChunks(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "restore-chunks", e2eCatalog)
		opts := client.Options{ChunkSize: 2}
		dev := tn.enroll(t, "handheld", opts)
		receive := func(qty int64) client.OpInput {
			return client.OpInput{Kind: "receive", SKU: "BOLT", Qty: qty, Location: "A-01"}
		}
		record(t, dev, receive(1))
		record(t, dev, receive(2))
		dev = reopenDevice(t, dev, opts)
		backup := copyFile(t, dev.Path()) // seqs 1 and 2 not yet sent

		syncOK(t, dev)
		record(t, dev, receive(10)) // seq 3, acked, then forgotten
		syncOK(t, dev)
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}

		restoreFile(t, backup, dev.Path())
		dev = openDevice(t, dev.Path(), opts)
		fresh := []client.Recorded{record(t, dev, receive(100)), record(t, dev, receive(200))} // seqs 3 and 4 again
		rep := syncOK(t, dev)
		if rep.Rejected != 0 || rep.Replayed != 2 || rep.Applied != 4 {
			t.Fatalf("after the restore: %+v; want the 2 old operations replayed and the 2 new ones applied, none rejected", rep)
		}
		ops, err := dev.Ops(context.Background(), client.OpsFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range fresh {
			i := slices.IndexFunc(ops, func(v client.OpView) bool { return v.Op.OpID == r.Op.OpID })
			if i < 0 || ops[i].Status != syncproto.StatusApplied || ops[i].Op.Seq <= 3 {
				t.Errorf("new operation %s: %+v; want it applied under a seq after the server's 3", r.Op.OpID, ops[i])
			}
		}
		allApplied(t, tn, 5)
		if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=313"}) {
			t.Fatalf("stock %v, want 1 + 2 + 10 + 100 + 200", p.Stock)
		}
		checkDB(t, db)
	})
}

// failingPulls is a transport that fails pull requests while broken is
// set, after letting allow more of them through.
type failingPulls struct {
	broken atomic.Bool
	allow  atomic.Int32
}

func (f *failingPulls) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/v1/sync/pull") && f.broken.Load() && f.allow.Add(-1) < 0 {
		return nil, errors.New("network unreachable (injected)")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// stockOf is the device's optimistic stock of one key.
func stockOf(t *testing.T, dev *client.Client, location, sku string) int64 {
	t.Helper()
	rows, err := dev.Stock(context.Background(), client.StockFilter{SKU: sku, Location: location})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Stock
	}
	return n
}

// TestOptimisticStockAfterAnInterruptedPull: a pull cut short after its
// first page leaves the device half-way through a round of the feed, whose
// rows stop at the change number of that first page. The next sync pushes
// new operations and then finishes the round: the server's acked seq now
// counts operations whose balances the round does not carry (they changed
// after its first page), so the device must keep showing their effect,
// and that of the receipt before them on the same key.
func TestOptimisticStockAfterAnInterruptedPull(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "cut-pull", e2eCatalog)
		net := &failingPulls{}
		opts := client.Options{PullLimit: 1, MaxAttempts: 1, HTTPClient: &http.Client{Transport: net, Timeout: 30 * time.Second}}
		dev := tn.enroll(t, "handheld", opts)
		syncOK(t, dev)

		// More changes than one page: a new item and location, and the
		// device's own receipt.
		tn.call(t, "POST", "/v1/catalog", map[string]any{
			"locations": []map[string]any{{"warehouse": "MAIN", "code": "B-01"}},
			"items":     []map[string]any{{"sku": "NUT", "name": "Nut M8", "unit": "pcs"}},
		}, http.StatusOK, nil)
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 5, Location: "A-01"})
		net.allow.Store(1)
		net.broken.Store(true)
		if _, err := dev.Sync(context.Background(), client.SyncOptions{}); err == nil {
			t.Fatal("the sync whose pull was cut short succeeded")
		}
		net.broken.Store(false)
		if got := stockOf(t, dev, "A-01", "BOLT"); got != 5 {
			t.Fatalf("A-01 after the cut pull: %d, want 5", got)
		}

		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 7, Location: "A-01"})
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 11, Location: "A-02"})
		syncOK(t, dev)
		if got := stockOf(t, dev, "A-01", "BOLT"); got != 12 {
			t.Errorf("A-01 after the next sync: %d, want 5 + 7", got)
		}
		if got := stockOf(t, dev, "A-02", "BOLT"); got != 11 {
			t.Errorf("A-02 after the next sync: %d, want 11", got)
		}
		// And once everything is pulled, the same from the balances alone.
		syncOK(t, dev)
		rows, err := dev.Stock(context.Background(), client.StockFilter{SKU: "BOLT"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Pending != 0 {
				t.Errorf("after a complete pull %+v still has unsynced effects", r)
			}
		}
		if got := stockOf(t, dev, "A-01", "BOLT"); got != 12 {
			t.Errorf("A-01 at rest: %d, want 12", got)
		}
	})
}

// setCursor overwrites the pull cursor stored in a closed device database.
func setCursor(t *testing.T, path, cursor string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `UPDATE device_state SET cursor = ? WHERE id = 1`, cursor); err != nil {
		t.Fatal(err)
	}
}

// TestSyncStartsOverFromACursorTheServerRefuses: a server that no longer
// reads the device's cursor (an upgrade changed its format) answers
// 400 invalid; the protocol says to pull from an empty cursor then, not to
// fail every sync from now on.
func TestSyncStartsOverFromACursorTheServerRefuses(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, db)
		tn := newTenant(t, db, srv.URL, "old-cursor", e2eCatalog)
		dev := tn.enroll(t, "handheld", client.Options{})
		syncOK(t, dev)
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
		setCursor(t, dev.Path(), "v0-cursor-from-an-older-server")
		dev = openDevice(t, dev.Path(), client.Options{})
		record(t, dev, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 3, Location: "A-01"})
		rep := syncOK(t, dev)
		if rep.Applied != 1 || !rep.Reset {
			t.Fatalf("report %+v; want the receipt applied and a full download", rep)
		}
		if st, _ := dev.Status(context.Background()); st.Items != 2 || st.Balances != 1 {
			t.Fatalf("status %+v; want the catalog and the balance pulled again", st)
		}
		if got := stockOf(t, dev, "A-01", "BOLT"); got != 3 {
			t.Errorf("A-01: %d, want 3", got)
		}
	})
}

// copyServerDB copies a stopped SQLite server database with its WAL.
func copyServerDB(t *testing.T, src, dst string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(src + suffix)
		if errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(dst + suffix)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(dst + "-shm")
}

// TestServerRestoredFromBackup: the server's database is restored from a
// backup older than the device's last sync, losing a location a manager
// added and a receipt the device had pushed. The device pushes the receipt
// again (seq_gap) with new ones, and its next pull must not continue from
// its cursor, a position in the history the server lost: the restored
// server, having committed as far again, takes it for its own and sends
// only what changed after it, leaving the device with the lost location.
//
// SQLite only: restoring the server means copying its database file.
func TestServerRestoredFromBackup(t *testing.T) {
	db := e2eDBs[0].url(t)
	srv := startServer(t, db)
	addr := strings.TrimPrefix(srv.URL, "http://")
	tn := newTenant(t, db, srv.URL, "server-restore", e2eCatalog)
	// One operation per push: each is a transaction of its own, so the
	// restored server soon commits past the device's cursor.
	dev := tn.enroll(t, "handheld", client.Options{ChunkSize: 1})
	receive := func(qty int64, location string) client.OpInput {
		return client.OpInput{Kind: "receive", SKU: "BOLT", Qty: qty, Location: location}
	}
	record(t, dev, receive(1, "A-01"))
	syncOK(t, dev)

	srv.Stop(t)
	serverBackup := db + ".backup"
	copyServerDB(t, db, serverBackup)
	srv = startServerAt(t, db, addr)
	tn.call(t, "POST", "/v1/catalog", map[string]any{
		"locations": []map[string]any{{"warehouse": "MAIN", "code": "B-01"}},
	}, http.StatusOK, nil)
	record(t, dev, receive(10, "A-01"))
	syncOK(t, dev)
	if st, _ := dev.Status(context.Background()); st.Locations != 4 {
		t.Fatalf("the device has %d locations before the restore, want 4", st.Locations)
	}

	srv.Stop(t)
	copyServerDB(t, serverBackup, db)
	startServerAt(t, db, addr)
	for _, qty := range []int64{100, 200, 300} {
		record(t, dev, receive(qty, "A-02"))
	}
	rep := syncOK(t, dev)
	if rep.Applied != 4 || rep.Resent != 1 {
		t.Fatalf("report %+v; want the lost receipt sent again and all 4 applied", rep)
	}
	allApplied(t, tn, 5)
	if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=11", "A-02/BOLT/=600"}) {
		t.Fatalf("stock %v", p.Stock)
	}
	if st, _ := dev.Status(context.Background()); st.Locations != 3 {
		t.Errorf("the device has %d locations, want the 3 the restored server has", st.Locations)
	}
	if rows, _ := dev.Stock(context.Background(), client.StockFilter{}); len(rows) != 2 || rows[0].Stock != 11 || rows[1].Stock != 600 {
		t.Errorf("the device's stock %+v; want 11 at A-01 and 600 at A-02", rows)
	}
	checkDB(t, db)
}

// TestDeviceAndServerBothRestored: a handheld restored from a backup
// learns from a pull that the server acked seqs it has forgotten, and
// numbers its next operation after them; then the server's database is
// restored from a backup older than those seqs. The server asks for the
// operations after its acked seq, and the device, which has none under
// the next seq, must renumber its pending operation into the gap rather
// than fail every sync from then on.
//
// SQLite only: restoring the server means copying its database file.
func TestDeviceAndServerBothRestored(t *testing.T) {
	db := e2eDBs[0].url(t)
	srv := startServer(t, db)
	addr := strings.TrimPrefix(srv.URL, "http://")
	tn := newTenant(t, db, srv.URL, "double-restore", e2eCatalog)
	dev := tn.enroll(t, "handheld", client.Options{})
	receive := func(qty int64) client.OpInput {
		return client.OpInput{Kind: "receive", SKU: "BOLT", Qty: qty, Location: "A-01"}
	}
	record(t, dev, receive(1))
	record(t, dev, receive(2))
	syncOK(t, dev) // the server holds seqs 1 and 2

	srv.Stop(t)
	serverBackup := db + ".backup"
	copyServerDB(t, db, serverBackup)
	srv = startServerAt(t, db, addr)
	dev = reopenDevice(t, dev, client.Options{})
	deviceBackup := copyFile(t, dev.Path())

	record(t, dev, receive(10))
	record(t, dev, receive(20))
	syncOK(t, dev) // seqs 3 and 4, lost by both restores below
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	restoreFile(t, deviceBackup, dev.Path())
	dev = openDevice(t, dev.Path(), client.Options{})
	syncOK(t, dev) // learns acked seq 4
	x := record(t, dev, receive(100))
	if x.Op.Seq != 5 {
		t.Fatalf("the operation after the pull got seq %d, want 5", x.Op.Seq)
	}

	srv.Stop(t)
	copyServerDB(t, serverBackup, db)
	startServerAt(t, db, addr)
	rep, err := dev.Sync(context.Background(), client.SyncOptions{})
	if err != nil {
		t.Fatalf("sync after the server's restore: %v (report %+v)", err, rep)
	}
	if rep.Applied != 1 || rep.Pending != 0 {
		t.Fatalf("report %+v; want the new receipt applied", rep)
	}
	ops, err := dev.Ops(context.Background(), client.OpsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	last := ops[len(ops)-1]
	if last.Op.OpID != x.Op.OpID || last.Op.Seq != 3 || last.Status != syncproto.StatusApplied {
		t.Fatalf("the new receipt is %+v; want it renumbered to seq 3 and applied", last)
	}
	allApplied(t, tn, 3)
	if p := tn.picture(t); !slices.Equal(p.Stock, []string{"A-01/BOLT/=103"}) {
		t.Fatalf("stock %v, want 1 + 2 + 100", p.Stock)
	}
	if got := stockOf(t, dev, "A-01", "BOLT"); got != 103 {
		t.Errorf("the device shows %d, want 103", got)
	}
	if next := record(t, dev, receive(1)); next.Op.Seq != 4 {
		t.Errorf("next seq %d, want 4", next.Op.Seq)
	}
	checkDB(t, db)
}
