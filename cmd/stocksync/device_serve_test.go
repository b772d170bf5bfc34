package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeviceServe runs 'stocksync device serve' on port 0 with a fresh
// device directory: the page and /api/status answer, and cancelling the
// context (SIGTERM) stops it cleanly.
func TestDeviceServe(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "handheld")
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- m.Execute(ctx, []string{"device", "serve", "--dir", dir, "--addr", "127.0.0.1:0", "--sync-interval", "1s"})
	}()

	waitCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	addr, err := m.DeviceServeAddr(waitCtx)
	stop()
	if err != nil {
		cancel()
		t.Fatalf("no listen address: %v\nstderr:\n%s", err, stderr.String())
	}
	base := "http://" + addr
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, body
	}

	status, header, body := get("/")
	if status != http.StatusOK || !strings.Contains(string(body), "Enroll this handheld") {
		t.Errorf("GET /: %d %.300s", status, body)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q", csp)
	}
	status, _, body = get("/api/status")
	var st struct {
		Enrolled   bool   `json:"enrolled"`
		Connection string `json:"connection"`
		Pending    int    `json:"pending"`
	}
	if err := json.Unmarshal(body, &st); err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/status: %d %s: %v", status, body, err)
	}
	if st.Enrolled || st.Connection != "not_enrolled" || st.Pending != 0 {
		t.Errorf("status of a new device: %+v", st)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d, want %d\nstderr:\n%s", code, ExitOK, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("device serve did not stop after its context was cancelled")
	}
	if !strings.Contains(stdout.String(), "scanning app on "+base+"/") {
		t.Errorf("stdout %q does not say where the app is", stdout.String())
	}
}

// TestDeviceServeFlags: bad flags are reported together, before anything
// is opened.
func TestDeviceServeFlags(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "handheld")
	r := run(t, map[string]string{"STOCKSYNC_SYNC_INTERVAL": "often"}, "device", "serve", "--dir", dir, "--addr", "localhost")
	if r.code != ExitUsage {
		t.Fatalf("exit %d, want %d", r.code, ExitUsage)
	}
	for _, want := range []string{"STOCKSYNC_SYNC_INTERVAL must be a duration", "--addr must be host:port"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	// The app has no sign-in: it listens on loopback only.
	for _, addr := range []string{"0.0.0.0:8090", ":8090", "192.168.1.20:8090", "handheld.local:8090"} {
		r = run(t, nil, "device", "serve", "--dir", dir, "--addr", addr)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "is not a loopback address") {
			t.Errorf("--addr %s: exit %d, stderr %q", addr, r.code, r.stderr)
		}
	}
	r = run(t, nil, "device", "serve", "--dir", dir, "--sync-interval", "10ms")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--sync-interval must be 0 (off) or at least 1s") {
		t.Errorf("--sync-interval 10ms: exit %d, stderr %q", r.code, r.stderr)
	}
}
