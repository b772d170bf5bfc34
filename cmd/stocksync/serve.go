package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/server"
)

// DefaultAddr is where serve listens when neither --addr nor STOCKSYNC_ADDR
// is set.
const DefaultAddr = ":8080"

// serveConfig is the configuration of 'stocksync serve'. Every flag
// defaults from a STOCKSYNC_* environment variable.
type serveConfig struct {
	Addr            string
	ShutdownTimeout time.Duration
	DeviceRate      float64
	TenantRate      float64
	EnrollRate      float64
	// MetricsToken protects /metrics when set; it may also come from the
	// file named by STOCKSYNC_METRICS_TOKEN_FILE.
	MetricsToken string
	// SessionTTL and InsecureCookies configure the web console's sign-in
	// (server.Config).
	SessionTTL      time.Duration
	InsecureCookies bool

	// parse errors of environment defaults, reported by validate.
	envErrs []error

	// addr is announced once serve listens (ListenAddr).
	addr listenAddr
}

func (m *Main) serveFlags(fs *flag.FlagSet) {
	c := &m.serve
	fs.StringVar(&c.Addr, "addr", m.env("STOCKSYNC_ADDR", DefaultAddr), "listen address, host:port (env STOCKSYNC_ADDR)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.envDuration(m, "STOCKSYNC_SHUTDOWN_TIMEOUT", 30*time.Second),
		"how long in-flight requests may finish after SIGTERM (env STOCKSYNC_SHUTDOWN_TIMEOUT)")
	fs.Float64Var(&c.DeviceRate, "device-rate", c.envFloat(m, "STOCKSYNC_DEVICE_RATE", 0),
		"sync requests per second per device, 0 for the default, negative for no limit (env STOCKSYNC_DEVICE_RATE)")
	fs.Float64Var(&c.TenantRate, "tenant-rate", c.envFloat(m, "STOCKSYNC_TENANT_RATE", 0),
		"requests per second per tenant, 0 for the default, negative for no limit (env STOCKSYNC_TENANT_RATE)")
	fs.Float64Var(&c.EnrollRate, "enroll-rate", c.envFloat(m, "STOCKSYNC_ENROLL_RATE", 0),
		"enrollment attempts per second per client address, 0 for the default (env STOCKSYNC_ENROLL_RATE)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.envDuration(m, "STOCKSYNC_SESSION_TTL", 12*time.Hour),
		"how long a sign-in to the web console lasts (env STOCKSYNC_SESSION_TTL)")
	fs.BoolVar(&c.InsecureCookies, "insecure-cookies", c.envBool(m, "STOCKSYNC_INSECURE_COOKIES"),
		"let the console's cookies travel over plain HTTP, for a LAN without TLS; browsers accept them on localhost anyway (env STOCKSYNC_INSECURE_COOKIES)")
	fs.StringVar(&c.MetricsToken, "metrics-token", m.env("STOCKSYNC_METRICS_TOKEN", ""),
		"bearer token /metrics requires; empty leaves it open (env STOCKSYNC_METRICS_TOKEN or STOCKSYNC_METRICS_TOKEN_FILE)")
	if f := m.Getenv("STOCKSYNC_METRICS_TOKEN_FILE"); f != "" && c.MetricsToken == "" {
		b, err := os.ReadFile(f)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("STOCKSYNC_METRICS_TOKEN_FILE: %w", err))
		}
		c.MetricsToken = strings.TrimSpace(string(b))
	}
}

func (c *serveConfig) envDuration(m *Main, key string, def time.Duration) time.Duration {
	s := m.Getenv(key)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s must be a duration like 30s, got %q", key, s))
		return def
	}
	return d
}

func (c *serveConfig) envBool(m *Main, key string) bool {
	s := m.Getenv(key)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s must be true or false, got %q", key, s))
	}
	return b
}

func (c *serveConfig) envFloat(m *Main, key string, def float64) float64 {
	s := m.Getenv(key)
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s must be a number, got %q", key, s))
		return def
	}
	return f
}

// validate reports every problem with the serve configuration.
func (c *serveConfig) validate(func(string) string) []error {
	errs := append([]error(nil), c.envErrs...)
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr must be host:port or :port, got %q", c.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("--addr: port %q is not a number from 0 to 65535", port))
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > ledger.MaxSessionTTL {
		errs = append(errs, fmt.Errorf("--session-ttl must be between 1m and %s, got %s", ledger.MaxSessionTTL, c.SessionTTL))
	}
	if c.ShutdownTimeout < 0 || c.ShutdownTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--shutdown-timeout must be between 0 and 10m, got %s", c.ShutdownTimeout))
	}
	return errs
}

// ListenAddr returns the address serve listens on, once it does (tests use
// port 0), waiting at most until ctx is done.
func (m *Main) ListenAddr(ctx context.Context) (string, error) {
	return m.serve.addr.wait(ctx)
}

// runServe opens the database (migrating it), listens and serves until ctx
// is cancelled (SIGINT or SIGTERM), then lets in-flight requests finish.
func (m *Main) runServe(ctx context.Context) error {
	t, err := m.open(ctx, false)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Ledger:          m.ledger,
		Logger:          m.Logger,
		Ready:           m.ping,
		DeviceRate:      m.serve.DeviceRate,
		TenantRate:      m.serve.TenantRate,
		EnrollRate:      m.serve.EnrollRate,
		ShutdownTimeout: m.serve.ShutdownTimeout,
		MetricsToken:    m.serve.MetricsToken,
		SessionTTL:      m.serve.SessionTTL,
		InsecureCookies: m.serve.InsecureCookies,
	})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", m.serve.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.serve.Addr, err)
	}
	m.serve.addr.set(ln)
	m.Logger.Info("stocksync serving", slog.String("addr", ln.Addr().String()), slog.String("db", t.display))
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	m.Logger.Info("stocksync stopped")
	return nil
}

// ping is the readiness check: the database answers a read. It looks up a
// tenant that cannot exist, one indexed row read, rather than listing
// tenants, which grows with the server.
func (m *Main) ping(ctx context.Context) error {
	_, err := m.ledger.Tenant(ctx, uuid.Nil)
	if ledger.ErrorCode(err) == ledger.CodeNotFound {
		return nil
	}
	return err
}
