// Command stocksync is the one binary of stocksync, the offline-first
// inventory ledger: it opens the database (embedded SQLite by default,
// PostgreSQL with a postgres:// URL), and runs one subcommand on it.
//
// The program is shaped like Ben Johnson's wtfd: a Main value that parses
// flags, runs and closes, so tests run exactly what the binary runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/sqlite"
)

// DefaultDB is the database used when neither --db nor STOCKSYNC_DB is set:
// an embedded SQLite file, so a fresh checkout works with no server.
const DefaultDB = "./data/stocksync.db"

// Exit codes of the binary.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command failed, or check found discrepancies
	ExitUsage   = 2 // bad command line: unknown command or flag, invalid value
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := NewMain()
	code := m.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// ExitError is returned by ParseFlags and Run when the program must exit with
// a particular code. Err, when set, is printed to stderr; it is nil when the
// message was already printed (as the flag package does for a bad flag).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// usageError is an ExitError with ExitUsage.
func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Main is the program: its configuration, what it opened, and where it
// writes. Set Stdout, Stderr and Getenv before ParseFlags to capture output
// and control the environment in tests.
type Main struct {
	// Stdout receives the command's results; Stderr receives logs, usage
	// and error messages.
	Stdout io.Writer
	Stderr io.Writer
	// Stdin is where 'user create' reads a password when not given a file.
	Stdin io.Reader
	// Getenv reads the environment that flags default from.
	Getenv func(string) string

	// Command is the subcommand: check, migrate or demo.
	Command string
	// DB is a SQLite file path or a postgres:// URL.
	DB string
	// LogFormat is text or json; LogLevel is debug, info, warn or error.
	LogFormat string
	LogLevel  string

	// Tenant limits check to one tenant, by slug; empty checks them all.
	Tenant string
	// JSON makes check print one JSON document instead of text.
	JSON bool

	// Args are the positional words after the command (tenant's action and
	// slug).
	Args []string

	// serve is the configuration of the server; tenant of the tenant
	// commands.
	serve    serveConfig
	tenant   tenantCommand
	user     userCommand
	simulate simulateConfig
	demo     demoConfig

	// Logger is built from LogFormat and LogLevel by ParseFlags.
	Logger *slog.Logger

	// device is the configuration of the device commands.
	device deviceCommand
	// bench is the configuration of 'stocksync bench' (bench.go).
	bench benchConfig

	store  ledger.Store
	ledger *ledger.Ledger
}

// NewMain returns a Main that writes to the process's stdout and stderr and
// reads the process's environment.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
}

// Execute runs the whole program on args (without the program name) the way
// main does, and returns the exit code. It prints the error, if any, to
// Stderr. Tests call it to run exactly what the binary runs.
func (m *Main) Execute(ctx context.Context, args []string) int {
	err := m.ParseFlags(ctx, args)
	if err == nil {
		err = m.Run(ctx)
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close database: %w", cerr)
	}
	return ExitCode(m.Stderr, err)
}

// ExitCode maps an error returned by ParseFlags, Run or Close to the exit
// code of the process, printing its message to w: nil and flag.ErrHelp are
// ExitOK, an *ExitError carries its own code, anything else is ExitFailure.
func ExitCode(w io.Writer, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(w, "stocksync: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(w, "stocksync: %v\n", err)
	return ExitFailure
}

// commands are the subcommands that exist, in the order usage lists them.
var commands = []struct{ name, summary string }{
	{"serve", "run the server: sync protocol, management API, metrics"},
	{"tenant", "create a tenant (and its admin API key), list tenants, add API keys, renew ledger IDs"},
	{"user", "create and list the users who sign in to a tenant's web console"},
	{"device", "a handheld from the command line: enroll, record, sync, status, ops, stock, item; serve its scanning app"},
	{"check", "verify that every balance equals the sum of its movements"},
	{"migrate", "create or upgrade the database schema"},
	{"demo", "seed a demo tenant through the server: a catalog, three handhelds, a shift with conflicts"},
	{"simulate", "drive N simulated handhelds against a server, or run the fault simulation (--seeds)"},
	{"bench", "run the shift-end benchmarks: each figure against a baseline timed in the same run, then the invariants"},
}

// plannedCommands are named in DESIGN.md and built by later issues; they get
// a clearer message than an unknown word.
var plannedCommands = []string{}

func (m *Main) usage() {
	w := m.Stderr
	fmt.Fprintf(w, "stocksync is an offline-first inventory ledger.\n\n")
	fmt.Fprintf(w, "Usage:\n  stocksync <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	if len(plannedCommands) > 0 {
		fmt.Fprintf(w, "\nNot built yet: %s.\n", strings.Join(plannedCommands, ", "))
	}
	fmt.Fprintf(w, "\nFlags of every command:\n")
	fmt.Fprintf(w, "  --db          SQLite file path or postgres:// URL (env STOCKSYNC_DB, default %s)\n", DefaultDB)
	fmt.Fprintf(w, "  --log-format  text or json (env STOCKSYNC_LOG_FORMAT, default text)\n")
	fmt.Fprintf(w, "  --log-level   debug, info, warn or error (env STOCKSYNC_LOG_LEVEL, default info)\n")
	fmt.Fprintf(w, "\nRun 'stocksync <command> -h' for the flags of one command.\n")
	fmt.Fprintf(w, "Exit status: 0 ok, 1 failure or discrepancies found, 2 usage error.\n")
}

// ParseFlags reads the subcommand and its flags from args (without the
// program name), fills m from them and from STOCKSYNC_* environment
// variables, validates the result and builds the logger. It returns
// flag.ErrHelp when help was asked for, and an *ExitError with ExitUsage for
// an unknown command, a bad flag or an invalid value.
func (m *Main) ParseFlags(_ context.Context, args []string) error {
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	if m.Getenv == nil {
		m.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		m.usage()
		return usageError("no command given")
	}
	m.Command = args[0]
	switch m.Command {
	case "help", "-h", "-help", "--help":
		m.usage()
		return flag.ErrHelp
	case "device":
		// The device commands run a handheld's own database, not the
		// server's, so they parse their own flags (device.go).
		if err := m.parseDeviceFlags(args[1:]); err != nil {
			return err
		}
		m.Logger = m.newLogger()
		return nil
	case "bench":
		// bench's --db is the PostgreSQL database to benchmark (bench.go).
		if err := m.parseBenchFlags(args[1:]); err != nil {
			return err
		}
		m.Logger = m.newLogger()
		return nil
	case "check", "migrate", "demo", "serve", "tenant", "simulate", "user":
	default:
		for _, p := range plannedCommands {
			if m.Command == p {
				return usageError("%s is not built yet; run 'stocksync help' for the commands there are", p)
			}
		}
		m.usage()
		if strings.HasPrefix(m.Command, "-") {
			return usageError("the command comes first: stocksync <command> [flags]")
		}
		return usageError("unknown command %q", m.Command)
	}

	fs := flag.NewFlagSet("stocksync "+m.Command, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&m.DB, "db", m.env("STOCKSYNC_DB", DefaultDB), "SQLite file path or postgres:// URL")
	fs.StringVar(&m.LogFormat, "log-format", m.env("STOCKSYNC_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&m.LogLevel, "log-level", m.env("STOCKSYNC_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	switch m.Command {
	case "check":
		fs.StringVar(&m.Tenant, "tenant", "", "check only the tenant with this slug (default: every tenant)")
		fs.BoolVar(&m.JSON, "json", false, "print the result as JSON")
	case "serve":
		m.serveFlags(fs)
	case "tenant":
		m.tenantFlags(fs)
	case "user":
		m.userFlags(fs)
	case "simulate":
		m.simulateFlags(fs)
	case "demo":
		m.demoFlags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: stocksync %s%s [flags]\n\nFlags:\n", m.Command, commandArgs[m.Command])
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	m.Args = args
	if m.Command != "tenant" && m.Command != "user" && len(m.Args) > 0 {
		return usageError("%s takes no arguments, got %q", m.Command, m.Args)
	}
	if err := m.Validate(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	m.Logger = m.newLogger()
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional words ("tenant create acme --json"), and returns the words.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// flagError is what a failed flag parse returns: flag.ErrHelp as is, and
// otherwise a usage exit with no message, because the flag package has
// printed the problem and the usage already.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &ExitError{Code: ExitUsage}
}

// commandArgs shows the positional words of the commands that take some.
var commandArgs = map[string]string{"tenant": " create <slug> | list | key <slug> | new-ledger <slug>|--all", "user": " create | list"}

// env returns the environment variable key, or def when it is unset or empty.
func (m *Main) env(key, def string) string {
	if v := m.Getenv(key); v != "" {
		return v
	}
	return def
}

// Validate checks the whole configuration at once and reports every problem.
func (m *Main) Validate() error {
	var errs []error
	if _, err := parseDB(m.DB); err != nil {
		errs = append(errs, err)
	}
	if m.LogFormat != "text" && m.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, got %q", m.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(m.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", m.LogLevel))
	}
	switch m.Command {
	case "serve":
		errs = append(errs, m.serve.validate(m.Getenv)...)
	case "tenant":
		errs = append(errs, m.tenant.validate(m.Args)...)
	case "user":
		errs = append(errs, m.user.validate(m.Args)...)
	case "simulate":
		errs = append(errs, m.simulate.validate()...)
	}
	return errors.Join(errs...)
}

func (m *Main) newLogger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(m.LogLevel)) // validated
	opts := &slog.HandlerOptions{Level: lvl}
	if m.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, opts))
}

// Run opens the database and runs the command. It returns an *ExitError
// with ExitFailure when check finds discrepancies.
func (m *Main) Run(ctx context.Context) error {
	switch m.Command {
	case "migrate":
		return m.runMigrate(ctx)
	case "check":
		return m.runCheck(ctx)
	case "demo":
		return m.runDemo(ctx)
	case "device":
		return m.runDevice(ctx)
	case "serve":
		return m.runServe(ctx)
	case "tenant":
		return m.runTenant(ctx)
	case "user":
		return m.runUser(ctx)
	case "simulate":
		return m.runSimulate(ctx)
	case "bench":
		return m.runBench(ctx)
	}
	return usageError("unknown command %q", m.Command)
}

// Close closes the database if Run opened it. It is safe to call more than
// once, and when nothing was opened.
func (m *Main) Close() error {
	if m.store == nil {
		return nil
	}
	err := m.store.Close()
	m.store, m.ledger = nil, nil
	return err
}

// dbTarget is a parsed --db value.
type dbTarget struct {
	postgres bool
	// dsn is what the store's Open takes: the URL or the file path.
	dsn string
	// display is safe to print: the URL without its password.
	display string
}

// parseDB tells a PostgreSQL URL from a SQLite path. Any other URL scheme is
// refused rather than taken for an odd file name.
func parseDB(s string) (dbTarget, error) {
	switch {
	case s == "":
		return dbTarget{}, errors.New("--db is empty; give a SQLite file path or a postgres:// URL")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil {
			// url.Error repeats the URL, password included; say less.
			return dbTarget{}, errors.New("--db is not a valid postgres:// URL")
		}
		return dbTarget{postgres: true, dsn: s, display: u.Redacted()}, nil
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		return dbTarget{}, fmt.Errorf("--db: unsupported database %q: use a SQLite file path or a postgres:// URL", scheme+"://")
	}
	return dbTarget{dsn: s, display: s}, nil
}

// open opens the database named by --db (applying any pending migrations)
// and the ledger over it. mustExist refuses to create a missing SQLite file,
// for commands that only read.
func (m *Main) open(ctx context.Context, mustExist bool) (dbTarget, error) {
	t, err := parseDB(m.DB)
	if err != nil {
		return t, &ExitError{Code: ExitUsage, Err: err}
	}
	log := m.Logger.With(slog.String("db", t.display))
	if t.postgres {
		log.Debug("opening database", slog.String("backend", "postgres"))
		s, err := postgres.Open(ctx, t.dsn)
		if err != nil {
			return t, fmt.Errorf("open postgres database %s: %w", t.display, err)
		}
		m.store = s
	} else {
		fi, err := os.Stat(t.dsn)
		switch {
		case err == nil && fi.IsDir():
			return t, fmt.Errorf("open sqlite database %s: it is a directory, not a database file", t.dsn)
		case errors.Is(err, os.ErrNotExist) && mustExist:
			return t, fmt.Errorf("open sqlite database %s: no such file (create it with 'stocksync migrate' or 'stocksync demo', or point --db at an existing one)", t.dsn)
		}
		log.Debug("opening database", slog.String("backend", "sqlite"))
		s, err := sqlite.Open(ctx, t.dsn)
		if err != nil {
			return t, fmt.Errorf("open sqlite database %s: %w", t.dsn, err)
		}
		m.store = s
	}
	m.ledger = ledger.New(m.store, ledger.Options{Logger: m.Logger})
	return t, nil
}
