// Package scan is the handheld's scanning app: a small web app, served on
// localhost by the device itself (stocksync device serve, or a mobile
// shell's web view), over the device's own database (package client).
//
// Everything it needs is embedded: the page, its script and its styles
// (web/), no CDN, no network. The page talks to the JSON endpoints of App;
// App records through client.Client, so what the page shows survives a
// crash the moment it says "recorded", and syncs in the background when the
// server can be reached.
//
// gs1.go reads what scanners send: GS1 element strings (GS1-128, GS1
// DataMatrix, QR, DataBar), plain EAN/UPC, and a warehouse's own codes.
package scan

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
)

// Defaults of Config.
const (
	DefaultSyncInterval    = 30 * time.Second
	DefaultRefreshInterval = 5 * time.Minute
	DefaultSyncTimeout     = 2 * time.Minute
)

// maxRequestBytes bounds a JSON request from the page.
const maxRequestBytes = 64 << 10

//go:embed web
var webFS embed.FS

// Config configures an App.
type Config struct {
	// Client is the device's database; the App does not close it.
	Client *client.Client
	// Logger receives the background syncs' outcomes; nil discards them.
	Logger *slog.Logger
	// SyncInterval is how often the background loop looks for work: it
	// syncs when operations are pending, when the last sync failed (to
	// notice the server is back), and at least every RefreshInterval
	// (to pull the managers' decisions). Zero is DefaultSyncInterval; a
	// negative value turns background syncing off ("Sync now" still
	// works).
	SyncInterval    time.Duration
	RefreshInterval time.Duration
	// SyncTimeout bounds one sync, background or "Sync now"; zero is
	// DefaultSyncTimeout.
	SyncTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// AllowedHosts are Host header values accepted besides loopback
	// names (localhost, 127.0.0.1, [::1], with any port). The app has no
	// sign-in: it trusts whoever holds the device, so by default it
	// answers only to pages loaded from the device itself, which also
	// stops a web page elsewhere from reaching it through DNS rebinding.
	AllowedHosts []string
}

// App is the scanning app: an http.Handler for the page and its JSON API,
// and a background sync loop (Serve runs both).
type App struct {
	cfg Config
	c   *client.Client
	log *slog.Logger
	mux *http.ServeMux

	mu      sync.Mutex
	syncing int // syncs running (a background one and "Sync now" may overlap)
	last    *syncOutcome

	// undoMu serializes undos and guards undoStack: the operations
	// recorded from this app since it started, oldest first, that have
	// not been undone.
	undoMu    sync.Mutex
	undoStack []uuid.UUID
}

// New returns the app over cfg.Client. It returns an error when Client is
// nil.
func New(cfg Config) (*App, error) {
	if cfg.Client == nil {
		return nil, errors.New("scan: Config.Client is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{cfg: cfg, c: cfg.Client, log: cfg.Logger, mux: http.NewServeMux()}
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(static)
	for _, p := range []string{"/{$}", "/index.html", "/app.js", "/app.css"} {
		a.mux.Handle("GET "+p, files)
	}
	a.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	a.mux.HandleFunc("GET /api/status", a.handleStatus)
	a.mux.HandleFunc("POST /api/enroll", a.handleEnroll)
	a.mux.HandleFunc("POST /api/scan", a.handleScan)
	a.mux.HandleFunc("POST /api/record", a.handleRecord)
	a.mux.HandleFunc("POST /api/undo", a.handleUndo)
	a.mux.HandleFunc("POST /api/sync", a.handleSync)
	a.mux.HandleFunc("GET /api/ops", a.handleOps)
	a.mux.HandleFunc("GET /api/orders/{order}", a.handleOrder)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("nothing at %s %s", r.Method, r.URL.Path))
	})
	return a, nil
}

func (a *App) now() time.Time { return a.cfg.Now().UTC() }

// ServeHTTP answers the page and the JSON API. Every answer carries a
// Content-Security-Policy that allows only the app's own files: no inline
// script or style, nothing from elsewhere.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !a.hostAllowed(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "forbidden", fmt.Sprintf("this app answers on localhost only, not as %q", r.Host))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if msg := crossSite(r); msg != "" {
			writeError(w, http.StatusForbidden, "forbidden", msg)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

func (a *App) hostAllowed(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range a.cfg.AllowedHosts {
		if strings.EqualFold(h, host) || strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// crossSite explains why a state-changing request is refused, or returns
// "". The page sends JSON from its own origin; a form or script on another
// site cannot send application/json without a CORS preflight, which this
// app never grants, and browsers mark its requests cross-site.
func crossSite(r *http.Request) string {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "send JSON (Content-Type: application/json)"
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return "requests from other sites are refused"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return "requests from other origins are refused"
	}
	return ""
}

// apiError is the error body of the app's API, shaped like the server's.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the page went away
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
}

// readJSON decodes the request body into v, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "the request is not the JSON this endpoint takes: "+err.Error())
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid", "the request holds more than one JSON value")
		return false
	}
	return true
}

// internalError answers a failure of the device itself (its database).
func (a *App) internalError(w http.ResponseWriter, what string, err error) {
	a.log.Error(what, slog.Any("error", err))
	writeError(w, http.StatusInternalServerError, "internal", what+": "+err.Error())
}

// Serve answers on ln and runs the background sync loop until ctx is done,
// then lets requests in flight finish (a sync among them is cancelled; its
// operations stay pending) and returns nil.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.AutoSync(runCtx) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var err error
	select {
	case err = <-served:
		// The listener failed.
	case <-ctx.Done():
		// Cancel what runs (a sync, the loop) before waiting for the
		// requests, so none waits on a sync that would run on.
		cancel()
		shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		stop()
		if serr := <-served; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
