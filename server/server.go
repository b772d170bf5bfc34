// Package server is stocksync's HTTP side (DESIGN.md section 6): the sync
// protocol v1 for handhelds (enroll, push, pull), the management API for
// managers and integrations, health checks and Prometheus metrics.
//
// It turns HTTP into calls on a *ledger.Ledger and keeps gin to itself:
// nothing it exports mentions gin. Wire types of the sync protocol come from
// syncproto; the management API's JSON shapes are defined here, next to the
// handlers that produce them, and documented in docs/openapi.yaml.
//
// A Server keeps no state that correctness depends on. Everything that must
// be serialized (a device's sequence, a tenant's recorded position, balance
// checks) is serialized by the ledger in the database, so any number of
// servers can run against one PostgreSQL. What a Server does keep in memory
// (rate-limit buckets, a cache of tenant slugs for metric labels) only
// shapes load and observability.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// Rate-limit defaults, in requests per second and bucket sizes. A device
// syncing a large backlog sends one push per chunk of operations and one
// pull per page, so ten a second leaves it unhindered while stopping a
// device stuck in a tight retry loop. A tenant's bucket is wide enough for
// hundreds of devices syncing together at shift end. Enrollment is per
// client address and slow on purpose: enrollment codes are short, and the
// limit is what makes guessing one impractical.
const (
	DefaultDeviceRate  = 10
	DefaultDeviceBurst = 40
	DefaultTenantRate  = 500
	DefaultTenantBurst = 1000
	DefaultEnrollRate  = 1
	DefaultEnrollBurst = 20

	// DefaultShutdownTimeout is how long Serve lets in-flight requests
	// finish once its context is done.
	DefaultShutdownTimeout = 30 * time.Second
)

// catalogMaxBytes bounds a catalog upload, which carries a whole catalog
// rather than one push's worth of operations.
const catalogMaxBytes = 32 << 20

// smallBodyBytes bounds the bodies of the management API's small requests
// (codes, keys, resolutions) and of enrollment.
const smallBodyBytes = 64 << 10

// Config configures a Server. Ledger is required; everything else has a
// default.
type Config struct {
	Ledger *ledger.Ledger
	// Logger receives one line per request and every internal error;
	// nil is slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Ready answers /readyz, typically by pinging the database; nil is
	// always ready (until shutdown starts).
	Ready func(ctx context.Context) error

	// Token-bucket rate limits in requests per second and bucket sizes:
	// per device (push and pull), per tenant (every authenticated request)
	// and per client address (enrollment; an IPv6 /64 is one client). Zero
	// picks the Default* value; a negative rate turns that limit off.
	DeviceRate, TenantRate, EnrollRate    float64
	DeviceBurst, TenantBurst, EnrollBurst int
	// TrustedProxies are the addresses (IPs or CIDRs) whose
	// X-Forwarded-For header is believed for the client address; none by
	// default, so a client cannot pick its own enrollment bucket.
	TrustedProxies []string

	// MaxBodyBytes bounds a sync request's body, before and after gzip;
	// zero is syncproto.MaxBodyBytes.
	MaxBodyBytes int64
	// ShutdownTimeout is how long Serve lets in-flight requests finish
	// after its context is done; zero is DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MetricsToken, when set, is required as "Authorization: Bearer
	// <token>" on /metrics.
	MetricsToken string
	// Registry receives the server's metrics; nil creates one with the Go
	// and process collectors.
	Registry *prometheus.Registry

	// The managers' console (the web UI at /, see docs/console.md).
	//
	// SessionTTL is how long a sign-in lasts; zero (or less) is
	// ledger.DefaultSessionTTL, 12 hours. A value outside the ledger's
	// range (1m to ledger.MaxSessionTTL) is clamped into it, with an
	// error in the log.
	SessionTTL time.Duration
	// InsecureCookies drops the Secure attribute from the console's
	// cookies, for a server reached over plain HTTP on a LAN. Browsers
	// keep Secure cookies on http://localhost, so the default suits a
	// local trial as well as HTTPS.
	InsecureCookies bool
	// SignInRate and SignInBurst limit sign-in attempts per client
	// address, like EnrollRate and EnrollBurst: zero picks
	// DefaultSignInRate and DefaultSignInBurst, a negative rate turns the
	// limit off.
	SignInRate  float64
	SignInBurst int
}

// Route is one registered route, its path in OpenAPI syntax
// ("/v1/reviews/{id}").
type Route struct {
	Method string
	Path   string
}

// Server serves stocksync's HTTP API. Create it with New.
type Server struct {
	cfg     Config
	ledger  *ledger.Ledger
	log     *slog.Logger
	now     func() time.Time
	engine  *gin.Engine
	metrics *metrics

	deviceLimit, tenantLimit, enrollLimit *limiter

	// shuttingDown turns /readyz to 503 once Serve starts to shut down, so
	// a load balancer stops sending new work while in-flight pushes finish.
	shuttingDown atomic.Bool

	// slugs caches tenant slugs for metric labels; a slug never changes.
	slugs sync.Map // uuid.UUID -> string
}

var ginMode sync.Once

// New validates cfg and returns a Server with every route registered.
func New(cfg Config) (*Server, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("server: Config.Ledger is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = syncproto.MaxBodyBytes
	}
	if cfg.MaxBodyBytes < 1024 {
		return nil, fmt.Errorf("server: MaxBodyBytes must be at least 1024, got %d", cfg.MaxBodyBytes)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("server: ShutdownTimeout must not be negative, got %s", cfg.ShutdownTimeout)
	}
	var err error
	s := &Server{cfg: cfg, ledger: cfg.Ledger, log: cfg.Logger, now: cfg.Now}
	if s.deviceLimit, err = newLimiter("device", cfg.DeviceRate, cfg.DeviceBurst, DefaultDeviceRate, DefaultDeviceBurst, cfg.Now); err != nil {
		return nil, err
	}
	if s.tenantLimit, err = newLimiter("tenant", cfg.TenantRate, cfg.TenantBurst, DefaultTenantRate, DefaultTenantBurst, cfg.Now); err != nil {
		return nil, err
	}
	if s.enrollLimit, err = newLimiter("enroll", cfg.EnrollRate, cfg.EnrollBurst, DefaultEnrollRate, DefaultEnrollBurst, cfg.Now); err != nil {
		return nil, err
	}
	if s.metrics, err = newMetrics(cfg.Registry, s); err != nil {
		return nil, err
	}

	// gin's mode is a process-wide variable; debug mode prints every route
	// on stdout, which a server's logs do not want.
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	e := gin.New()
	// An API answers a wrong path with 404, never with a redirect a client
	// would have to follow for a POST.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server: TrustedProxies: %w", err)
	}
	s.engine = e
	s.routes()
	return s, nil
}

// routes registers every route. The roles follow ledger.Role: staff look,
// managers also change the catalog, enroll devices and decide reviews,
// admins also revoke devices and manage API keys.
func (s *Server) routes() {
	e := s.engine
	e.Use(s.observe, s.recover)
	e.NoRoute(func(c *gin.Context) {
		s.fail(c, syncproto.Errorf(syncproto.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		// The code stays not_found, as docs/protocol.md promises; the
		// status and the Allow header say the path exists.
		s.failStatus(c, http.StatusMethodNotAllowed, syncproto.Errorf(syncproto.CodeNotFound,
			"%s is not allowed on %s; allowed: %s", c.Request.Method, c.Request.URL.Path, c.Writer.Header().Get("Allow")))
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.serveMetrics)

	proto := e.Group("/v1", s.requireProtocol)
	proto.POST("/devices/enroll", s.limitEnroll, s.enroll)
	dev := proto.Group("/sync", s.authDevice)
	dev.POST("/push", s.push)
	dev.GET("/pull", s.pull)
	dev.GET("/orders/*order", s.order)

	staff := e.Group("/v1", s.authKey(ledger.RoleStaff))
	manager := e.Group("/v1", s.authKey(ledger.RoleManager))
	admin := e.Group("/v1", s.authKey(ledger.RoleAdmin))

	manager.POST("/catalog", s.postCatalog)
	manager.POST("/devices/codes", s.postCode)
	staff.GET("/devices", s.listDevices)
	staff.GET("/devices/:id", s.getDevice)
	admin.POST("/devices/:id/revoke", s.revokeDevice)
	staff.GET("/stock", s.getStock)
	staff.GET("/movements", s.listMovements)
	staff.GET("/reviews", s.listReviews)
	staff.GET("/reviews/:id", s.getReview)
	manager.POST("/reviews/:id/resolve", s.resolveReview)
	staff.GET("/ops", s.listOps)
	admin.GET("/keys", s.listKeys)
	admin.POST("/keys", s.createKey)
	admin.POST("/keys/:id/revoke", s.revokeKey)

	s.consoleRoutes()
}

// Handler returns the server's http.Handler, for callers that run their
// own http.Server (or httptest).
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists every registered route with its path in OpenAPI syntax, so
// tests can hold docs/openapi.yaml to what the server serves.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.engine.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, Route{Method: r.Method, Path: strings.Join(parts, "/")})
	}
	return out
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: /readyz turns 503, the listener closes, and in-flight
// requests (a push being merged) get up to ShutdownTimeout to finish before
// their connections are closed. It returns nil after a clean shutdown and
// an error when the listener fails or shutdown timed out.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests must not inherit ctx's cancellation: a push being merged
	// when shutdown starts is meant to finish, not to be rolled back.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		// A full push is 4 MiB: two minutes carry it over a poor cellular
		// link and still free the connection of a client that stalls.
		// WriteTimeout runs from the request's headers, so it covers the
		// body, the merge (which may queue behind other devices' merges at
		// shift end) and the answer; a push cut off by it is rolled back
		// or committed whole, and the device's retry is a replay.
		ReadTimeout:  2 * time.Minute,
		WriteTimeout: 3 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		BaseContext:  func(net.Listener) context.Context { return base },
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.shuttingDown.Store(false)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.shuttingDown.Store(true)
	s.log.Info("shutting down", "addr", ln.Addr().String(), "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Out of time: cancel what is still running (its transaction rolls
		// back, and the device pushes again) and drop the connections.
		cancelBase()
		_ = srv.Close()
		err = fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serve %s: %w", ln.Addr(), serr)
	}
	return err
}

// tenantSlug returns the slug of a tenant for metric labels, from the cache
// or the ledger; the tenant ID stands in when the lookup fails.
func (s *Server) tenantSlug(ctx context.Context, id uuid.UUID) string {
	if v, ok := s.slugs.Load(id); ok {
		return v.(string)
	}
	t, err := s.ledger.Tenant(ctx, id)
	if err != nil {
		return id.String()
	}
	s.slugs.Store(id, t.Slug)
	return t.Slug
}
