package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"stocksync/client"
	"stocksync/mobile/scan"
)

// DefaultDeviceServeAddr is where 'device serve' listens when neither
// --addr nor STOCKSYNC_DEVICE_ADDR is set: loopback only, because the app
// has no sign-in and trusts whoever holds the device.
const DefaultDeviceServeAddr = "127.0.0.1:8090"

// scanAppVersion is what the scanning app reports to the server as its
// app version.
const scanAppVersion = "stocksync-scan"

// deviceServeConfig is the configuration of 'stocksync device serve'.
type deviceServeConfig struct {
	Addr         string
	SyncInterval time.Duration

	envErrs []error

	// addr is announced once the app listens (DeviceServeAddr).
	addr listenAddr
}

func (m *Main) deviceServeFlags(fs *flag.FlagSet) {
	c := &m.device.Serve
	fs.StringVar(&c.Addr, "addr", m.env("STOCKSYNC_DEVICE_ADDR", DefaultDeviceServeAddr),
		"listen address of the scanning app, host:port on loopback (localhost, 127.0.0.1, [::1]): the app has no sign-in (env STOCKSYNC_DEVICE_ADDR)")
	interval := scan.DefaultSyncInterval
	if s := m.Getenv("STOCKSYNC_SYNC_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("STOCKSYNC_SYNC_INTERVAL must be a duration like 30s, got %q", s))
		} else {
			interval = d
		}
	}
	fs.DurationVar(&c.SyncInterval, "sync-interval", interval,
		"how often to sync in the background when operations are pending or the server was unreachable; 0 turns it off (env STOCKSYNC_SYNC_INTERVAL)")
}

// validate reports every problem with the serve flags.
func (c *deviceServeConfig) validate() []error {
	errs := append([]error(nil), c.envErrs...)
	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr must be host:port, got %q", c.Addr))
	} else {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("--addr: port %q is not a number from 0 to 65535", port))
		}
		if !loopbackHost(host) {
			errs = append(errs, fmt.Errorf("--addr %q is not a loopback address: the scanning app has no sign-in, so anyone who reaches it could record stock movements on this device; listen on localhost, 127.0.0.1 or [::1]", c.Addr))
		}
	}
	if c.SyncInterval < 0 || (c.SyncInterval > 0 && c.SyncInterval < time.Second) {
		errs = append(errs, fmt.Errorf("--sync-interval must be 0 (off) or at least 1s, got %s", c.SyncInterval))
	}
	return errs
}

// loopbackHost reports whether host names only this machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// deviceServeClientOptions adapt the device's client to an app a person
// waits on: a sync that cannot reach the server gives up after a few
// seconds and says so, instead of backing off for minutes; the background
// loop tries again at the next interval.
func deviceServeClientOptions(o client.Options) client.Options {
	o.AppVersion = scanAppVersion
	o.MaxAttempts = 3
	o.BaseDelay = 250 * time.Millisecond
	o.MaxDelay = 2 * time.Second
	o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return o
}

// DeviceServeAddr returns the address 'device serve' listens on, once it
// does, waiting at most until ctx is done.
func (m *Main) DeviceServeAddr(ctx context.Context) (string, error) {
	return m.device.Serve.addr.wait(ctx)
}

// deviceServe runs the scanning app on the device's database until ctx is
// cancelled (SIGINT or SIGTERM), then lets requests in flight finish.
func (m *Main) deviceServe(ctx context.Context, c *client.Client) error {
	cfg := &m.device.Serve
	interval := cfg.SyncInterval
	if interval == 0 {
		interval = -1 // scan.Config: negative is off, zero the default
	}
	// validate refused any address but loopback: the app has no sign-in.
	app, err := scan.New(scan.Config{Client: c, Logger: m.Logger, SyncInterval: interval})
	if err != nil {
		return err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	cfg.addr.set(ln)
	st, err := c.Status(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	m.Logger.Info("scanning app serving", slog.String("url", url), slog.String("db", c.Path()),
		slog.Bool("enrolled", st.Enrolled), slog.Int("pending", st.Pending), slog.Duration("sync_interval", cfg.SyncInterval))
	fmt.Fprintf(m.Stdout, "scanning app on %s (Ctrl+C stops it)\n", url)
	if err := app.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve the scanning app: %w", err)
	}
	m.Logger.Info("scanning app stopped")
	return nil
}
