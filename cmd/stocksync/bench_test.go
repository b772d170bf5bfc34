package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// tinyBench is 'stocksync bench' at the size CI runs it.
var tinyBench = []string{"bench", "--devices", "4", "--ops", "200", "--skus", "100", "--locations", "10", "--batch", "50",
	"--device-records", "200", "--device-items", "300", "--device-balances", "1200"}

// TestBenchTiny runs the binary's bench at a tiny size and reads its
// table and its JSON: every scenario ran, or was skipped for want of
// PostgreSQL, and nothing failed. Figures are not judged.
func TestBenchTiny(t *testing.T) {
	t.Parallel()
	pgURL := os.Getenv("STOCKSYNC_TEST_DATABASE_URL")
	env := map[string]string{"STOCKSYNC_DATABASE_URL": pgURL}
	scenarios := "sqlite-merge,replay,device"
	if pgURL != "" {
		scenarios = "pg-merge,sqlite-merge,replay,http,shift-end,hot-keys,device"
	}

	r := run(t, env, slices.Concat(tinyBench, []string{"--scenarios", scenarios, "--dir", t.TempDir()})...)
	if r.code != ExitOK {
		t.Fatalf("exit %d", r.code)
	}
	for _, want := range []string{"scenario", "figure", "baseline", "ratio", "goal", "result", "sqlite-merge", "replay (sqlite)", "invariants: ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "FAILED") || strings.Contains(r.stdout, "INVARIANT BROKEN") {
		t.Error("a scenario failed")
	}
	if !strings.Contains(r.stderr, "bench: sqlite-merge: starting") {
		t.Error("no progress lines on stderr")
	}

	r = run(t, env, slices.Concat(tinyBench, []string{"--scenarios", "sqlite-merge", "--json", "--quiet", "--dir", t.TempDir()})...)
	if r.code != ExitOK {
		t.Fatalf("--json: exit %d", r.code)
	}
	var rep struct {
		Config struct {
			Devices int `json:"devices"`
		} `json:"config"`
		Results []struct {
			Scenario string  `json:"scenario"`
			Figure   float64 `json:"figure"`
			Baseline float64 `json:"baseline"`
			Ratio    float64 `json:"ratio"`
			Goal     string  `json:"goal"`
			Met      bool    `json:"met"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json printed no JSON: %v", err)
	}
	if rep.Config.Devices != 4 || len(rep.Results) != 1 || rep.Results[0].Scenario != "sqlite-merge" ||
		rep.Results[0].Figure <= 0 || rep.Results[0].Baseline <= 0 || rep.Results[0].Ratio <= 0 || rep.Results[0].Goal == "" {
		t.Errorf("--json: %+v", rep)
	}
	if r.stderr != "" {
		t.Errorf("--quiet printed on stderr: %q", r.stderr)
	}
}

// TestBenchPostgresSkipped: without a PostgreSQL database the PostgreSQL
// scenarios are skipped with a message, and that is not a failure.
func TestBenchPostgresSkipped(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{}, slices.Concat(tinyBench, []string{"--scenarios", "pg-merge,http", "--dir", t.TempDir()})...)
	if r.code != ExitOK {
		t.Fatalf("exit %d", r.code)
	}
	if !strings.Contains(r.stdout, "skipped: no PostgreSQL") {
		t.Errorf("stdout does not say why pg-merge was skipped")
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--devices", "0"}, "--devices must be from 1"},
		{[]string{"bench", "--batch", "1001"}, "--batch must be from 1 to 1000"},
		{[]string{"bench", "--scenarios", "pg-merge,warp"}, `unknown scenario "warp"`},
		{[]string{"bench", "--db", "./x.db"}, "--db must be a postgres:// URL"},
		{[]string{"bench", "--uploaders", "0"}, "--uploaders must be from 1"},
		{[]string{"bench", "extra"}, "bench takes no arguments"},
		{[]string{"bench", "--frob"}, "flag provided but not defined"},
	} {
		r := run(t, nil, tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, ExitUsage, tt.want)
		}
	}
	r := run(t, nil, "bench", "-h")
	if r.code != ExitOK || !strings.Contains(r.stderr, "-device-balances") || !strings.Contains(r.stderr, "shift-end") {
		t.Errorf("bench -h: exit %d, stderr %q", r.code, r.stderr)
	}
}
