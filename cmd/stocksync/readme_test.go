package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// quickstartHeading names the README section whose shell block
// TestReadmeQuickstart runs.
const quickstartHeading = "## Quickstart: from an offline scan to the ledger"

// readmeQuickstart returns the lines of the first sh block under the
// quickstart heading.
func readmeQuickstart(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), quickstartHeading)
	if !ok {
		t.Fatalf("README.md has no %q section", quickstartHeading)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the quickstart section has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestReadmeQuickstart follows the README's quickstart as written, with the
// binary built by this test and the server on a free port instead of 8080:
// start the server, create a tenant, load the catalog, enroll a handheld,
// record with the server stopped, start it, sync, look at stock and reviews,
// create a console user and fetch the sign-in page.
func TestReadmeQuickstart(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the quickstart needs %s, which is not installed (CI installs it)", tool)
		}
	}
	lines := readmeQuickstart(t)
	dir := t.TempDir()
	// The README runs ./stocksync from the checkout; here the directory is
	// the test's.
	if err := os.Symlink(buildBinary(t), filepath.Join(dir, "stocksync")); err != nil {
		t.Fatal(err)
	}
	catalog, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "docs", "examples"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "examples", "catalog.json"), catalog, 0o644); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	var script []string
	for _, l := range lines {
		if strings.HasPrefix(l, "go build ") {
			continue // built above, into the test's directory
		}
		script = append(script, strings.ReplaceAll(l, "8080", port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "STOCKSYNC_ADDR=:" + port}
	out, err := cmd.CombinedOutput()
	t.Logf("quickstart output:\n%s", out)
	if err != nil {
		t.Fatalf("the README quickstart failed: %v", err)
	}
	for _, want := range []string{
		`"locations":6`,           // the catalog loaded
		"negative_stock",          // the offline pick went below zero
		`"on_hand":-2`,            // 48 received, 50 picked
		`"kind":"negative_stock"`, // the open review
		`"sku":"MILK-UHT-1L"`,     // in the stock listing
		`"status":"open"`,         // waiting for a manager
		"stocksync serving",       // the server's log
		"<title>Sign in",          // the console's sign-in page
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the quickstart's output lacks %s", want)
		}
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
