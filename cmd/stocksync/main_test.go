package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"stocksync/client"
	"stocksync/ledger/postgres/pgtest"
)

// result is what one run of the program left behind.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the real Main on args, with env as its whole environment, the
// way main does, and returns its exit code and output.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := m.Execute(ctx, args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("stocksync %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// corruptBalanceSQL adds one unit to the first balance row without a
// movement, which the consistency check must catch. The balances table has
// no rowid on SQLite (WITHOUT ROWID), so the row is picked by its key; the
// statement runs unchanged on both databases.
const corruptBalanceSQL = `UPDATE balances SET on_hand = on_hand + 1
	WHERE (tenant_id, location_id, item_id, batch_id) =
	      (SELECT tenant_id, location_id, item_id, batch_id FROM balances
	       ORDER BY tenant_id, location_id, item_id, batch_id LIMIT 1)`

// demoKeyRE finds the admin API key in the demo's output.
var demoKeyRE = regexp.MustCompile(`ssk_[A-Za-z0-9_-]+`)

// testDemoThenCheck seeds the demo into db with its handhelds in devDir,
// looks at it the way the demo says to (serve, then the management API with
// the printed key, and the handhelds' databases), checks it clean, corrupts
// a balance and checks that check names it and fails. An empty devDir
// leaves the demo its default place, next to the SQLite database.
func testDemoThenCheck(t *testing.T, db, devDir string, corrupt func(t *testing.T)) {
	t.Helper()
	env := map[string]string{}
	args := []string{"demo", "--db", db}
	if devDir != "" {
		args = append(args, "--devices-dir", devDir)
	} else {
		devDir = filepath.Join(filepath.Dir(db), "demo-devices")
	}

	r := run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("demo: exit %d, want 0; stderr: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		`created tenant "demo"`,
		"catalog: 1 warehouse, 12 locations, 6 items, 5 batches",
		`handheld-1 "Handheld 1 (goods in)": recorded 14 operations offline, synced: 13 applied, 1 flagged, 0 held, 0 rejected`,
		`handheld-2 "Handheld 2 (picking)": recorded 10 operations offline, synced: 10 applied, 0 flagged, 0 held, 0 rejected`,
		`handheld-3 "Handheld 3 (picking)": recorded 5 operations offline, synced: 3 applied, 2 flagged, 0 held, 0 rejected`,
		"flagged: seq 13 count BOLT-M8X40 at A-01-01: count_variance",
		"flagged: seq 2 pick barcode 4012345000030 batch L24-1202 at B-01-02: negative_stock",
		"flagged: seq 5 return PAINT-WHT-10L batch L24-1202 at RETURNS: wrong_batch_return",
		"results: 26 applied, 3 flagged, 0 held, 0 rejected",
		"open reviews: 3 (1 count_variance, 1 negative_stock, 1 wrong_batch_return)",
		"stocksync serve --db ",
		"/v1/reviews?status=open",
		"/v1/stock?warehouse=MAIN",
		"stocksync device status --dir " + filepath.Join(devDir, "handheld-3"),
		"stocksync check --db ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	key := demoKeyRE.FindString(r.stdout)
	if key == "" {
		t.Fatalf("demo output has no admin API key")
	}

	// The handhelds' databases stay behind, enrolled and with nothing
	// left to send.
	for dir, recorded := range map[string]int64{"handheld-1": 14, "handheld-2": 10, "handheld-3": 5} {
		path := filepath.Join(devDir, dir, deviceDBFile)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("handheld database: %v", err)
		}
		dev := openDevice(t, path, client.Options{})
		st, err := dev.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Enrolled || st.Pending != 0 || st.LastSeq != recorded || st.AckedSeq != recorded || st.Items != 6 {
			t.Errorf("%s: status %+v; want enrolled, %d operations all acknowledged, the catalog pulled", dir, st, recorded)
		}
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// What the demo says to look at, with the key it printed.
	srv := startServer(t, db)
	tn := e2eTenant{db: db, url: srv.URL, key: key}
	var reviews struct {
		Reviews []struct{ Kind, Status string } `json:"reviews"`
	}
	tn.call(t, "GET", "/v1/reviews?status=open", nil, http.StatusOK, &reviews)
	var kinds []string
	for _, rv := range reviews.Reviews {
		kinds = append(kinds, rv.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"count_variance", "negative_stock", "wrong_batch_return"}; !slices.Equal(kinds, want) {
		t.Errorf("open reviews %v, want %v", kinds, want)
	}
	var log opLog
	tn.call(t, "GET", "/v1/ops?limit=1000", nil, http.StatusOK, &log)
	statuses := map[string]int{}
	for _, e := range log.Ops {
		statuses[e.Status]++
	}
	if len(log.Ops) != 29 || statuses["applied"] != 26 || statuses["flagged"] != 3 {
		t.Errorf("op log: %d operations %v; want 29: 26 applied, 3 flagged, none held or rejected", len(log.Ops), statuses)
	}
	var stock struct {
		Balances []struct {
			Location, SKU, Batch string
			OnHand               int64 `json:"on_hand"`
		} `json:"balances"`
	}
	tn.call(t, "GET", "/v1/stock?warehouse=MAIN&sku=PAINT-WHT-10L&location=B-01-02", nil, http.StatusOK, &stock)
	if len(stock.Balances) != 1 || stock.Balances[0].OnHand != -2 {
		t.Errorf("paint at B-01-02: %+v; want -2 after both pickers took the last pails", stock.Balances)
	}
	srv.Stop(t)

	r = run(t, env, "check", "--db", db)
	if r.code != 0 {
		t.Fatalf("check after demo: exit %d, want 0; stdout: %s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "ok: 1 tenant checked, no discrepancies") {
		t.Errorf("check after demo: stdout %q lacks the ok line", r.stdout)
	}

	r = run(t, env, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "already exists") {
		t.Errorf("second demo: exit %d, stdout %q; want exit 0 saying the tenant already exists", r.code, r.stdout)
	}

	corrupt(t)

	r = run(t, env, "check", "--db", db)
	if r.code != ExitFailure {
		t.Fatalf("check after corruption: exit %d, want %d", r.code, ExitFailure)
	}
	if !strings.Contains(r.stdout, "balance_mismatch") {
		t.Errorf("check after corruption: stdout does not name balance_mismatch:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 discrepancy found") {
		t.Errorf("check after corruption: stderr %q lacks the count", r.stderr)
	}

	r = run(t, env, "check", "--db", db, "--tenant", "demo", "--json")
	if r.code != ExitFailure {
		t.Fatalf("check --json after corruption: exit %d, want %d", r.code, ExitFailure)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check --json: %v", err)
	}
	if rep.OK || rep.TenantsChecked != 1 || len(rep.Discrepancies) != 1 {
		t.Fatalf("check --json: got %+v, want one discrepancy in one tenant", rep)
	}
	d := rep.Discrepancies[0]
	if d.Kind != "balance_mismatch" || d.Tenant != "demo" || d.Got != d.Want+1 || d.Location == "" || d.SKU == "" {
		t.Errorf("check --json: discrepancy %+v, want a named balance_mismatch one unit over", d)
	}
}

func TestDemoThenCheck_SQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "data", "stocksync.db")
	testDemoThenCheck(t, db, "", func(t *testing.T) {
		raw, err := sql.Open("sqlite", db+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		res, err := raw.ExecContext(context.Background(), corruptBalanceSQL)
		if err != nil {
			t.Fatalf("corrupt a balance: %v", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("corrupt a balance: %d rows changed, want 1", n)
		}
	})
}

func TestDemoThenCheck_Postgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	testDemoThenCheck(t, url, t.TempDir(), func(t *testing.T) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tag, err := conn.Exec(ctx, corruptBalanceSQL)
		if err != nil {
			t.Fatalf("corrupt a balance: %v", err)
		}
		if tag.RowsAffected() != 1 {
			t.Fatalf("corrupt a balance: %d rows changed, want 1", tag.RowsAffected())
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "stocksync.db")
	// The database comes from STOCKSYNC_DB when --db is not given.
	env := map[string]string{"STOCKSYNC_DB": db}

	r := run(t, env, "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "applied ") || !strings.Contains(r.stdout, db) {
		t.Fatalf("first migrate: exit %d, stdout %q; want the applied migrations of %s", r.code, r.stdout, db)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("migrate did not create the database from STOCKSYNC_DB: %v", err)
	}
	r = run(t, env, "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to apply") {
		t.Fatalf("second migrate: exit %d, stdout %q; want nothing to apply", r.code, r.stdout)
	}
	r = run(t, env, "check")
	if r.code != 0 || !strings.Contains(r.stdout, "ok: 0 tenants checked") {
		t.Fatalf("check of an empty database: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr []string
	}{
		{"no command", nil, ExitUsage, []string{"Usage:", "no command given"}},
		{"unknown command", []string{"frobnicate"}, ExitUsage, []string{"Usage:", `unknown command "frobnicate"`}},
		{"bench bad size", []string{"bench", "--devices", "0"}, ExitUsage, []string{"--devices must be from 1"}},
		{"bad serve address", []string{"serve", "--addr", "nowhere"}, ExitUsage, []string{"--addr must be host:port"}},
		{"bad serve port", []string{"serve", "--addr", ":99999"}, ExitUsage, []string{"is not a number from 0 to 65535"}},
		{"tenant without action", []string{"tenant"}, ExitUsage, []string{"tenant needs an action"}},
		{"tenant create without slug", []string{"tenant", "create"}, ExitUsage, []string{"tenant create takes 1 word(s)"}},
		{"tenant key bad role", []string{"tenant", "key", "acme", "--role", "king"}, ExitUsage, []string{"--role must be admin, manager or staff"}},
		{"flag before command", []string{"--db", "x.db", "check"}, ExitUsage, []string{"the command comes first"}},
		{"unknown flag", []string{"check", "--frob"}, ExitUsage, []string{"flag provided but not defined: -frob"}},
		{"stray argument", []string{"check", "extra"}, ExitUsage, []string{"check takes no arguments"}},
		{"bad log format", []string{"check", "--log-format", "xml"}, ExitUsage, []string{"--log-format must be text or json"}},
		{"help", []string{"help"}, ExitOK, []string{"Commands:", "check", "migrate", "demo"}},
		{"command help", []string{"check", "-h"}, ExitOK, []string{"-tenant", "-json", "-db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

func TestBadDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"empty", []string{"check", "--db", ""}, ExitUsage, "--db is empty"},
		{"other scheme", []string{"check", "--db", "mysql://root@127.0.0.1/test"}, ExitUsage, `unsupported database "mysql://"`},
		{"missing file", []string{"check", "--db", filepath.Join(dir, "none.db")}, ExitFailure, "no such file"},
		{"directory", []string{"check", "--db", dir}, ExitFailure, "is a directory"},
		{"not a database", []string{"check", "--db", writeFile(t, dir, "notes.txt", "not a database, just text\n")}, ExitFailure, "open sqlite database"},
		// Port 1 refuses at once; the password must not be printed.
		{"postgres down", []string{"check", "--db", "postgres://stocksync:s3cret@127.0.0.1:1/test?connect_timeout=5"}, ExitFailure, "open postgres database postgres://stocksync:xxxxx@127.0.0.1:1/test"},
		{"migrate postgres down", []string{"migrate", "--db", "postgres://stocksync:s3cret@127.0.0.1:1/test?connect_timeout=5"}, ExitFailure, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, "s3cret") {
				t.Errorf("output shows the database password:\n%s", r.stderr)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
