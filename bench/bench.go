// Package bench is stocksync's benchmark harness (issue 5): it runs the
// shift-end scenarios against the real ledger, stores and server, measures
// each figure next to a baseline timed in the same run on the same
// machine, and checks the ledger's invariants afterwards. 'stocksync bench'
// parses flags, calls Run and prints the Report; tests call Run at a tiny
// size.
//
// A figure that misses its goal is reported as missed, never as an error:
// Run fails a scenario only when it cannot run or an invariant is broken.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order Run runs them.
const (
	ScenarioPGMerge     = "pg-merge"
	ScenarioSQLiteMerge = "sqlite-merge"
	ScenarioReplay      = "replay"
	ScenarioHTTP        = "http"
	ScenarioShiftEnd    = "shift-end"
	ScenarioHotKeys     = "hot-keys"
	ScenarioDevice      = "device"
)

// Scenarios lists every scenario in the order Run runs them.
var Scenarios = []string{ScenarioPGMerge, ScenarioSQLiteMerge, ScenarioReplay, ScenarioHTTP, ScenarioShiftEnd, ScenarioHotKeys, ScenarioDevice}

// DefaultUploaders is how many devices push at once in the HTTP and
// hot-keys scenarios.
const DefaultUploaders = 16

// Options configure Run.
type Options struct {
	Config Config
	// Scenarios to run; empty runs them all.
	Scenarios []string
	// DatabaseURL is the PostgreSQL database; empty skips the scenarios
	// that need it (saying so). Run works in fresh schemas of its own.
	DatabaseURL string
	// Dir is the scratch directory for SQLite files; empty is a temporary
	// directory, removed at the end unless Keep.
	Dir string
	// Keep leaves the PostgreSQL schemas and the scratch directory behind.
	Keep bool
	// Uploaders is the concurrent pushers of the http and hot-keys
	// scenarios; zero is DefaultUploaders.
	Uploaders int
	// Device sizes the device scenario (Dir and DatabaseURL are set by
	// Run).
	Device DeviceConfig
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// AnalyzeEvery: when the PostgreSQL server runs without autovacuum
	// (as CI's does), the planner has no statistics on the bench's tables,
	// which grow from nothing to millions of rows, and picks plans no
	// production server would. The bench then runs ANALYZE on its own
	// schema this often, in the background, as autovacuum would. Zero is
	// DefaultAnalyzeEvery; negative never analyzes.
	AnalyzeEvery time.Duration
}

// DefaultAnalyzeEvery is how often the bench analyzes its schema when the
// server's autovacuum is off.
const DefaultAnalyzeEvery = 30 * time.Second

// Result is one scenario's outcome.
type Result struct {
	Scenario string `json:"scenario"`
	// Store is the ledger's store, for the scenarios that run on either.
	Store string `json:"store,omitempty"`
	// Skipped says why the scenario did not run; Error why it failed.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
	// Figure and Baseline are in Unit; Ratio is Figure/Baseline.
	Figure   float64 `json:"figure"`
	Baseline float64 `json:"baseline"`
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"`
	// FigureText, BaselineText and RatioText are how a person reads them.
	FigureText   string `json:"figure_text"`
	BaselineText string `json:"baseline_text"`
	RatioText    string `json:"ratio_text"`
	// Goal is the goal; Met whether the run reached it.
	Goal string `json:"goal"`
	Met  bool   `json:"met"`
	// Metrics are the figures behind the detail lines, by name.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Details []string           `json:"details,omitempty"`
	// Problems are broken invariants: any makes the run fail.
	Problems []string `json:"problems,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// Name is the scenario with its store, e.g. "replay (sqlite)".
func (r Result) Name() string {
	if r.Store != "" && r.Scenario == ScenarioReplay {
		return r.Scenario + " (" + r.Store + ")"
	}
	return r.Scenario
}

// Failed reports whether the scenario failed to run or broke an invariant.
func (r Result) Failed() bool { return r.Error != "" || len(r.Problems) > 0 }

// Status is "met", "missed", "skipped" or "FAILED".
func (r Result) Status() string {
	switch {
	case r.Failed():
		return "FAILED"
	case r.Skipped != "":
		return "skipped"
	case r.Met:
		return "met"
	}
	return "missed"
}

// Report is a whole run.
type Report struct {
	Config    Config    `json:"config"`
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	GoVersion string    `json:"go_version"`
	CPUs      int       `json:"cpus"`
	// PostgreSQL is the server's version, when one was used, and
	// PostgreSQLSettings the settings that shape its figures.
	PostgreSQL         string            `json:"postgresql,omitempty"`
	PostgreSQLSettings map[string]string `json:"postgresql_settings,omitempty"`
	// Analyzed says how the bench kept the planner's statistics when the
	// server's autovacuum is off; empty when it is on.
	Analyzed string `json:"analyzed,omitempty"`
	// Schemas are the PostgreSQL schemas the run worked in, dropped at
	// the end unless Keep; Kept lists what Keep left behind.
	Schemas []string `json:"schemas,omitempty"`
	Kept    []string `json:"kept,omitempty"`
	Results []Result `json:"results"`
}

// Failed lists the scenarios that failed to run or broke an invariant.
func (r *Report) Failed() []string {
	var out []string
	for _, res := range r.Results {
		if res.Failed() {
			out = append(out, res.Name())
		}
	}
	return out
}

// ParseScenarios splits a comma-separated list and checks every name.
func ParseScenarios(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			return slices.Clone(Scenarios), nil
		}
		if !slices.Contains(Scenarios, name) {
			return nil, fmt.Errorf("unknown scenario %q: use %s", name, strings.Join(Scenarios, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario given: use %s", strings.Join(Scenarios, ","))
	}
	return out, nil
}

// Run runs the scenarios opts names and returns their results. It returns
// an error only when it cannot start (a bad configuration, a database it
// cannot reach); a scenario that fails is reported in its Result, and the
// others still run.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if len(opts.Scenarios) == 0 {
		opts.Scenarios = slices.Clone(Scenarios)
	}
	for _, s := range opts.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q", s)
		}
	}
	if opts.Uploaders <= 0 {
		opts.Uploaders = DefaultUploaders
	}
	e := &env{opts: opts, log: opts.Progress, pgBase: opts.DatabaseURL, merged: map[string]*mergeState{}}
	if e.log == nil {
		e.log = io.Discard
	}
	rep := &Report{Config: opts.Config, Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	cleanup, err := e.setup(ctx, rep)
	defer func() {
		if cerr := cleanup(); cerr != nil {
			e.progress("cleanup: %v", cerr)
		}
	}()
	if err != nil {
		return nil, err
	}

	for _, name := range Scenarios {
		if !slices.Contains(opts.Scenarios, name) {
			continue
		}
		if ctx.Err() != nil {
			rep.Seconds = time.Since(rep.Started).Seconds()
			return rep, ctx.Err()
		}
		rep.Results = append(rep.Results, e.run(ctx, name)...)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep, nil
}

// setup makes the scratch directory and opens the stores the scenarios
// need. The cleanup it returns closes and removes them (unless Keep); it
// is never nil.
func (e *env) setup(ctx context.Context, rep *Report) (func() error, error) {
	var cleanups []func() error
	cleanup := func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	needs := func(names ...string) bool {
		for _, n := range names {
			if slices.Contains(e.opts.Scenarios, n) {
				return true
			}
		}
		return false
	}

	dir := e.opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "stocksync-bench-")
		if err != nil {
			return cleanup, err
		}
		dir = d
		if !e.opts.Keep {
			cleanups = append(cleanups, func() error { return os.RemoveAll(d) })
		}
	} else {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return cleanup, err
		}
		d, err := os.MkdirTemp(dir, "run-")
		if err != nil {
			return cleanup, err
		}
		dir = d
	}
	e.dir = dir
	if e.opts.Keep {
		rep.Kept = append(rep.Kept, "directory "+dir)
	}

	if e.pgBase != "" && needs(ScenarioPGMerge, ScenarioReplay, ScenarioHTTP, ScenarioShiftEnd, ScenarioHotKeys, ScenarioDevice) {
		var version string
		if err := pgQueryRow(ctx, e.pgBase, "SHOW server_version", &version); err != nil {
			return cleanup, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		rep.PostgreSQL = version
		rep.PostgreSQLSettings = map[string]string{}
		for _, name := range []string{"autovacuum", "shared_buffers", "synchronous_commit", "max_wal_size", "work_mem"} {
			var v string
			if err := pgQueryRow(ctx, e.pgBase, "SHOW "+name, &v); err != nil {
				return cleanup, fmt.Errorf("PostgreSQL: SHOW %s: %w", name, err)
			}
			rep.PostgreSQLSettings[name] = v
		}
		cleanups = append(cleanups, func() error {
			if e.opts.Keep {
				return nil
			}
			return e.dropSchemas()
		})
		if needs(ScenarioPGMerge, ScenarioReplay, ScenarioHTTP, ScenarioShiftEnd, ScenarioHotKeys) {
			t, err := e.openPG(ctx)
			if err != nil {
				return cleanup, err
			}
			e.pg = t
			cleanups = append(cleanups, func() error { t.close(); return nil })
			if every := e.opts.AnalyzeEvery; rep.PostgreSQLSettings["autovacuum"] == "off" && every >= 0 {
				if every == 0 {
					every = DefaultAnalyzeEvery
				}
				stop := e.analyzeEvery(ctx, t, every)
				cleanups = append(cleanups, func() error {
					runs, took := stop()
					rep.Analyzed = fmt.Sprintf("autovacuum is off on this server: the bench ran ANALYZE on its schema every %s in the background, %d times, %s in all",
						every, runs, took.Round(time.Millisecond))
					return nil
				})
			} else if rep.PostgreSQLSettings["autovacuum"] == "off" {
				rep.Analyzed = "autovacuum is off on this server and the bench did not analyze: the planner had no statistics on the growing tables"
			}
		}
	}
	if needs(ScenarioSQLiteMerge, ScenarioReplay) {
		t, err := e.openSQLite(ctx)
		if err != nil {
			return cleanup, err
		}
		e.sq = t
		cleanups = append(cleanups, func() error { t.close(); return nil })
	}
	// The schemas are named once they exist; list them at the end.
	cleanups = append([]func() error{func() error {
		rep.Schemas = slices.Clone(e.schemas)
		if e.opts.Keep {
			for _, s := range e.schemas {
				rep.Kept = append(rep.Kept, "schema "+s)
			}
		}
		return nil
	}}, cleanups...)
	return cleanup, nil
}

// goals are the goals, by scenario.
var goals = map[string]string{
	ScenarioPGMerge:     ">= 0.5 (stretch 0.7)",
	ScenarioSQLiteMerge: ">= 0.5",
	ScenarioReplay:      ">= 3 (replay/first)",
	ScenarioHTTP:        ">= 0.85",
	ScenarioShiftEnd:    ">= 0.9, p99 <= 10 x p50",
	ScenarioHotKeys:     ">= 0.8, retries <= 1% of pushes",
	ScenarioDevice:      "record p99 < 2 ms; first pull < 15 s, < 150 MB",
}

// noPG is why a PostgreSQL scenario is skipped.
const noPG = "no PostgreSQL: give --db postgres://... or set STOCKSYNC_DATABASE_URL"

// run runs one scenario (replay once per store) and times it.
func (e *env) run(ctx context.Context, name string) []Result {
	type job struct {
		store string
		fn    func(context.Context) (Result, error)
	}
	var jobs []job
	pgJob := func(fn func(context.Context, *target) (Result, error)) {
		if e.pg == nil {
			jobs = append(jobs, job{"postgres", nil})
			return
		}
		jobs = append(jobs, job{"postgres", func(ctx context.Context) (Result, error) { return fn(ctx, e.pg) }})
	}
	switch name {
	case ScenarioPGMerge:
		pgJob(func(ctx context.Context, t *target) (Result, error) { return e.runMerge(ctx, t, ScenarioPGMerge) })
	case ScenarioSQLiteMerge:
		jobs = append(jobs, job{"sqlite", func(ctx context.Context) (Result, error) { return e.runMerge(ctx, e.sq, ScenarioSQLiteMerge) }})
	case ScenarioReplay:
		pgJob(e.runReplay)
		jobs = append(jobs, job{"sqlite", func(ctx context.Context) (Result, error) { return e.runReplay(ctx, e.sq) }})
	case ScenarioHTTP:
		pgJob(e.runHTTP)
	case ScenarioShiftEnd:
		pgJob(e.runShiftEnd)
	case ScenarioHotKeys:
		pgJob(e.runHotKeys)
	case ScenarioDevice:
		jobs = append(jobs, job{"", e.runDevice})
	}
	var out []Result
	for _, j := range jobs {
		res := Result{Scenario: name, Store: j.store, Goal: goals[name]}
		if j.fn == nil {
			res.Skipped = noPG
			e.progress("%s: skipped: %s", res.Name(), noPG)
			out = append(out, res)
			continue
		}
		e.progress("%s: starting", res.Name())
		start := time.Now()
		r, err := j.fn(ctx)
		r.Scenario, r.Store, r.Goal = name, j.store, goals[name]
		if err != nil {
			r.Error = err.Error()
		}
		r.Seconds = time.Since(start).Seconds()
		e.progress("%s: %s in %s", r.Name(), r.Status(), since(start))
		out = append(out, r)
	}
	return out
}

// rate is n operations over d, per second.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// setRatio fills the ratio fields of a throughput result and judges it
// against goal (met when the ratio is at least goal and ok holds).
func (r *Result) setRatio(figure, baseline, goal float64, ok bool) {
	r.Unit = "ops/s"
	r.Figure, r.Baseline = figure, baseline
	r.FigureText, r.BaselineText = opsText(figure), opsText(baseline)
	if baseline > 0 {
		r.Ratio = figure / baseline
	}
	r.RatioText = fmt.Sprintf("%.2f", r.Ratio)
	r.Met = ok && r.Ratio >= goal
}

func (r *Result) metric(name string, v float64) {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	r.Metrics[name] = v
}

func (r *Result) detail(format string, args ...any) {
	r.Details = append(r.Details, fmt.Sprintf(format, args...))
}

// opsText prints a rate with thousands separators: "12,345 ops/s".
func opsText(v float64) string { return thousands(int64(math.Round(v))) + " ops/s" }

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// quantile of sorted durations, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms prints a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
