package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/ledger/sqlite"
)

// TestPanicIsInternal registers a route that panics (no real handler
// should) and checks the client gets a plain 500 while the log gets the
// stack.
func TestPanicIsInternal(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var logs bytes.Buffer
	s, err := New(Config{Ledger: ledger.New(store, ledger.Options{}), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.engine.GET("/boom", func(*gin.Context) { panic("secret detail") })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/boom", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || strings.Contains(rec.Body.String(), "secret") ||
		strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("answer %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "recover_test.go") {
		t.Errorf("log lacks the panic and its stack:\n%s", logs.String())
	}
	// The server keeps answering.
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthz after a panic: %d", rec.Code)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	l := ledger.New(nil, ledger.Options{})
	for name, cfg := range map[string]Config{
		"no ledger":        {},
		"tiny body":        {Ledger: l, MaxBodyBytes: 10},
		"negative timeout": {Ledger: l, ShutdownTimeout: -1},
		"zero burst":       {Ledger: l, DeviceRate: 1, DeviceBurst: -1},
		"bad proxy":        {Ledger: l, TrustedProxies: []string{"not an ip"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
