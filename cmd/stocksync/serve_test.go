package main

import (
	"strings"
	"testing"
)

// TestServeConfigFromEnvironment: every serve flag defaults from its
// STOCKSYNC_* variable, and a bad configuration is reported whole at
// start, before anything is opened.
func TestServeConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STOCKSYNC_ADDR":             "nowhere",
		"STOCKSYNC_SHUTDOWN_TIMEOUT": "soon",
		"STOCKSYNC_DEVICE_RATE":      "fast",
		"STOCKSYNC_LOG_FORMAT":       "xml",
		"STOCKSYNC_DB":               "mysql://x",
	}
	r := run(t, env, "serve")
	if r.code != ExitUsage {
		t.Fatalf("exit %d, want %d", r.code, ExitUsage)
	}
	for _, want := range []string{"--addr must be host:port", "STOCKSYNC_SHUTDOWN_TIMEOUT must be a duration",
		"STOCKSYNC_DEVICE_RATE must be a number", "--log-format must be text or json", `unsupported database "mysql://"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	// Flags win over the environment.
	var m Main
	m.Getenv = func(k string) string {
		return map[string]string{"STOCKSYNC_ADDR": ":1234", "STOCKSYNC_SHUTDOWN_TIMEOUT": "5s"}[k]
	}
	if err := m.ParseFlags(t.Context(), []string{"serve", "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if m.serve.Addr != "127.0.0.1:0" || m.serve.ShutdownTimeout.String() != "5s" {
		t.Errorf("addr %q, shutdown timeout %s; want the flag's address and the environment's timeout", m.serve.Addr, m.serve.ShutdownTimeout)
	}
}
