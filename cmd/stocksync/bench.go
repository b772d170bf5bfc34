package main

// 'stocksync bench': the benchmarks of issue 5. The scenarios, their
// baselines and the invariant checks live in package bench; this file
// parses the flags and prints the report.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"

	"stocksync/bench"
)

// benchConfig is the configuration of 'stocksync bench'.
type benchConfig struct {
	opts      bench.Options
	scenarios string
	quiet     bool
	// cpuProfile is a file for a CPU profile of the whole run.
	cpuProfile string
}

// parseBenchFlags parses bench's own flags: its --db is the PostgreSQL
// database to benchmark (default $STOCKSYNC_DATABASE_URL), not the
// server's database that --db means for the other commands.
func (m *Main) parseBenchFlags(args []string) error {
	c := &m.bench
	m.LogFormat = m.env("STOCKSYNC_LOG_FORMAT", "text")
	m.LogLevel = m.env("STOCKSYNC_LOG_LEVEL", "info")
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("stocksync bench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.IntVar(&cfg.Devices, "devices", cfg.Devices, "handhelds pushing their shift")
	fs.IntVar(&cfg.OpsPerDevice, "ops", cfg.OpsPerDevice, "operations each handheld recorded")
	fs.IntVar(&cfg.SKUs, "skus", cfg.SKUs, "items in the catalog (a fifth batch-tracked), each stocked in two locations")
	fs.IntVar(&cfg.Locations, "locations", cfg.Locations, "locations of the one warehouse")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "operations per push (at most 1000)")
	fs.Float64Var(&cfg.DuplicateRate, "duplicates", cfg.DuplicateRate, "share of pushes delivered twice, as after a lost answer")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the workload: the same seed sends the same operations")
	fs.StringVar(&c.scenarios, "scenarios", strings.Join(bench.Scenarios, ","), "comma-separated scenarios to run, or all")
	fs.StringVar(&c.opts.DatabaseURL, "db", m.Getenv("STOCKSYNC_DATABASE_URL"),
		"PostgreSQL database, postgres://... (env STOCKSYNC_DATABASE_URL); the bench works in fresh schemas it drops at the end; empty skips the PostgreSQL scenarios")
	fs.StringVar(&c.opts.Dir, "dir", "", "scratch directory for the SQLite files (default: a temporary directory, removed at the end)")
	fs.BoolVar(&c.opts.Keep, "keep", false, "keep the PostgreSQL schemas and the scratch files, to look at them afterwards")
	fs.IntVar(&c.opts.Uploaders, "uploaders", bench.DefaultUploaders, "devices pushing at once in the http and hot-keys scenarios")
	fs.IntVar(&c.opts.Device.Records, "device-records", bench.DefaultDeviceRecords,
		"device scenario: operations recorded one by one (default scaled down with --ops below 3000)")
	fs.IntVar(&c.opts.Device.Items, "device-items", bench.DefaultDeviceItems,
		"device scenario: items of the first pull (default scaled down with --skus below 10000)")
	fs.IntVar(&c.opts.Device.Balances, "device-balances", bench.DefaultDeviceBalances,
		"device scenario: balances of the first pull (default scaled down with --skus below 10000)")
	fs.DurationVar(&c.opts.AnalyzeEvery, "analyze-every", 0,
		"when the PostgreSQL server's autovacuum is off, ANALYZE the bench's schema this often, as autovacuum would (0: every 30s; negative: never)")
	fs.BoolVar(&m.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress lines on stderr")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (server, ledger and stores run in this process) to this file, for go tool pprof")
	fs.StringVar(&m.LogFormat, "log-format", m.LogFormat, "log format: text or json")
	fs.StringVar(&m.LogLevel, "log-level", m.LogLevel, "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: stocksync bench [flags]\n\n"+
			"Runs the shift-end benchmarks and prints, for each scenario, the figure, the baseline measured\n"+
			"side by side in the same run, their ratio and the goal, then checks the ledger's invariants.\n"+
			"Scenarios: %s.\nExit status: 0 ok (a missed goal included), 1 a scenario failed or an invariant broke, 2 usage.\n\nFlags:\n",
			strings.Join(bench.Scenarios, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError("bench takes no arguments, got %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// A smaller workload gets a smaller device scenario, unless sized.
	scale := func(def int, f float64, least int) int { return max(least, int(math.Round(float64(def)*min(1, f)))) }
	if !set["device-records"] {
		c.opts.Device.Records = scale(bench.DefaultDeviceRecords, float64(cfg.OpsPerDevice)/3000, 100)
	}
	if !set["device-items"] {
		c.opts.Device.Items = scale(bench.DefaultDeviceItems, float64(cfg.SKUs)/10_000, 100)
	}
	if !set["device-balances"] {
		c.opts.Device.Balances = scale(bench.DefaultDeviceBalances, float64(cfg.SKUs)/10_000, 400)
	}

	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	c.opts.Config = cfg
	var err error
	if c.opts.Scenarios, err = bench.ParseScenarios(c.scenarios); err != nil {
		errs = append(errs, fmt.Errorf("--scenarios: %w", err))
	}
	if u := c.opts.DatabaseURL; u != "" {
		if t, err := parseDB(u); err != nil || !t.postgres {
			errs = append(errs, errors.New("--db must be a postgres:// URL (the SQLite scenarios use files under --dir)"))
		}
	}
	if c.opts.Uploaders < 1 || c.opts.Uploaders > 10_000 {
		errs = append(errs, fmt.Errorf("--uploaders must be from 1 to 10000, got %d", c.opts.Uploaders))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--device-records", c.opts.Device.Records}, {"--device-items", c.opts.Device.Items}, {"--device-balances", c.opts.Device.Balances}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", f.name, f.v))
		}
	}
	if m.LogFormat != "text" && m.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, got %q", m.LogFormat))
	}
	if err := errors.Join(errs...); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return nil
}

// runBench runs the scenarios and prints the report. A missed goal is not
// a failure; a scenario that could not run or broke an invariant is.
func (m *Main) runBench(ctx context.Context) error {
	opts := m.bench.opts
	if !m.bench.quiet {
		opts.Progress = m.Stderr
	}
	if f := m.bench.cpuProfile; f != "" {
		out, err := os.Create(f)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, opts)
	if rep != nil && err != nil {
		// Interrupted: what ran is still worth printing.
		printBenchReport(m.Stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if m.JSON {
		if err := m.printJSON(rep); err != nil {
			return err
		}
	} else {
		printBenchReport(m.Stdout, rep)
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("bench: %s failed (see above)", strings.Join(failed, ", "))}
	}
	return nil
}

// printBenchReport prints the results table, then each scenario's details.
func printBenchReport(w io.Writer, rep *bench.Report) {
	c := rep.Config
	fmt.Fprintf(w, "stocksync bench: %d devices × %d ops, %d SKUs, %d locations, pushes of %d, %.0f%% delivered twice, seed %d\n",
		c.Devices, c.OpsPerDevice, c.SKUs, c.Locations, c.BatchSize, 100*c.DuplicateRate, c.Seed)
	pg := "no PostgreSQL"
	if rep.PostgreSQL != "" {
		pg = "PostgreSQL " + rep.PostgreSQL
	}
	if len(rep.PostgreSQLSettings) > 0 {
		keys := slices.Sorted(maps.Keys(rep.PostgreSQLSettings))
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+rep.PostgreSQLSettings[k])
		}
		pg += " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintf(w, "%s, %d CPUs, %s; %.1f s\n", rep.GoVersion, rep.CPUs, pg, rep.Seconds)
	if rep.Analyzed != "" {
		fmt.Fprintf(w, "%s\n", rep.Analyzed)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tbaseline\tratio\tgoal\tresult")
	for _, r := range rep.Results {
		fig, base, ratio := r.FigureText, r.BaselineText, r.RatioText
		if r.Skipped != "" || r.Error != "" {
			fig, base, ratio = "-", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name(), fig, base, ratio, r.Goal, r.Status())
	}
	tw.Flush()

	for _, r := range rep.Results {
		fmt.Fprintf(w, "\n%s (%.1f s):\n", r.Name(), r.Seconds)
		if r.Skipped != "" {
			fmt.Fprintf(w, "  skipped: %s\n", r.Skipped)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "  ERROR: %s\n", r.Error)
		}
		for _, d := range r.Details {
			fmt.Fprintf(w, "  %s\n", d)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  INVARIANT BROKEN: %s\n", p)
		}
		if r.Skipped == "" && r.Error == "" && len(r.Problems) == 0 {
			fmt.Fprintf(w, "  invariants: ok\n")
		}
	}
	for _, k := range rep.Kept {
		fmt.Fprintf(w, "\nkept: %s\n", k)
	}
}
