package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/ledger/sqlite"
)

// runStdin is run with stdin: the real Main, as main runs it.
func runStdin(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: stdin, Getenv: func(string) string { return "" }}
	code := m.Execute(ctx, args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("stocksync %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// testUserCommand creates users on db the ways an operator would, lists
// them, and signs in as them through the ledger on the same database: the
// password the command stored is exactly the one given, line ending and
// all stripped.
func testUserCommand(t *testing.T, db string, open func(t *testing.T) ledger.Store) {
	if r := run(t, nil, "tenant", "create", "acme", "--db", db); r.code != 0 {
		t.Fatalf("tenant create: exit %d", r.code)
	}
	dir := t.TempDir()

	// From a file whose line ends in CRLF, as an editor on Windows saves it.
	pwFile := writeFile(t, dir, "alice.pw", "  alice's long password\r\n")
	r := runStdin(t, nil, "user", "create", "--db", db, "--tenant", "acme", "--login", "Alice", "--name", "Alice Admin",
		"--role", "admin", "--password-file", pwFile)
	if r.code != 0 || !strings.Contains(r.stdout, `created admin "alice" (Alice Admin) in tenant "acme"`) {
		t.Fatalf("user create from a file: exit %d, stdout %q", r.code, r.stdout)
	}
	// From stdin, one line, flags after the action or before it.
	r = runStdin(t, strings.NewReader("bob's long password\nignored second line\n"), "user", "--db", db, "create",
		"--tenant", "acme", "--login", "bob", "--role", "staff", "--json")
	if r.code != 0 {
		t.Fatalf("user create from stdin: exit %d", r.code)
	}
	var bob map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &bob); err != nil {
		t.Fatalf("user create --json: %v", err)
	}
	if bob["login"] != "bob" || bob["name"] != "bob" || bob["role"] != "staff" || bob["tenant"] != "acme" ||
		bob["user_id"] == "" || bob["disabled_at"] != "" {
		t.Errorf("user create --json = %v", bob)
	}

	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"login taken", "another long password\n", []string{"--login", "ALICE", "--role", "staff"}, ExitFailure, `login "alice" is taken`},
		{"short password", "short\n", []string{"--login", "carol", "--role", "staff"}, ExitUsage, "a password must be 10-1000 bytes"},
		{"empty stdin", "", []string{"--login", "carol", "--role", "staff"}, ExitUsage, "no password on the first line of stdin"},
		{"no stdin", "-", []string{"--login", "carol", "--role", "staff"}, ExitUsage, "no password: give --password-file"},
		{"two-line file", "", []string{"--login", "carol", "--role", "staff", "--password-file",
			writeFile(t, dir, "two.pw", "first line password\nsecond line\n")}, ExitUsage, "has more than one line"},
		{"missing file", "", []string{"--login", "carol", "--role", "staff", "--password-file",
			filepath.Join(dir, "none.pw")}, ExitFailure, "read the password"},
		{"bad login", "a long enough password\n", []string{"--login", "carol smith", "--role", "staff"}, ExitUsage, "login must be"},
		{"unknown tenant", "a long enough password\n", []string{"--tenant", "globex", "--login", "carol", "--role", "staff"}, ExitFailure, `tenant "globex"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdin io.Reader = strings.NewReader(tc.stdin)
			if tc.stdin == "-" {
				stdin = nil
			}
			args := append([]string{"user", "create", "--db", db, "--tenant", "acme"}, tc.args...)
			r := runStdin(t, stdin, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}

	r = runStdin(t, nil, "user", "list", "--db", db, "--tenant", "acme")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "LOGIN") ||
		!strings.HasPrefix(lines[1], "alice ") || !strings.Contains(lines[1], "Alice Admin") || !strings.Contains(lines[1], "admin") ||
		!strings.HasPrefix(lines[2], "bob ") || !strings.Contains(lines[2], "staff") || !strings.Contains(lines[2], "enabled") {
		t.Errorf("user list: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	r = runStdin(t, nil, "user", "list", "--db", db, "--tenant", "acme", "--json")
	var list struct{ Users []map[string]string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("user list --json: exit %d, %v", r.code, err)
	}
	if len(list.Users) != 2 || list.Users[0]["login"] != "alice" || list.Users[1]["user_id"] != bob["user_id"] {
		t.Errorf("user list --json = %v", list.Users)
	}

	// The stored passwords are the ones given.
	l := ledger.New(open(t), ledger.Options{})
	ctx := context.Background()
	for login, password := range map[string]string{"alice": "  alice's long password", "bob": "bob's long password"} {
		if _, u, _, err := l.SignIn(ctx, "acme", login, password, 0); err != nil || u.Login != login {
			t.Errorf("sign in as %s = %+v, %v", login, u, err)
		}
	}
	if _, _, _, err := l.SignIn(ctx, "acme", "alice", "alice's long password", 0); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
		t.Errorf("alice's password was trimmed: sign-in without its leading spaces = %v", err)
	}
}

func TestUserCommand_SQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "stocksync.db")
	testUserCommand(t, db, func(t *testing.T) ledger.Store {
		s, err := sqlite.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestUserCommand_Postgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	testUserCommand(t, url, func(t *testing.T) ledger.Store {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestUserUsage(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "none.db")
	for _, tc := range []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"no action", []string{"user"}, []string{"user needs an action"}},
		{"unknown action", []string{"user", "delete", "--tenant", "acme"}, []string{`unknown user action "delete"`}},
		{"stray word", []string{"user", "list", "acme"}, []string{"user list takes flags, not words"}},
		{"create without anything", []string{"user", "create"},
			[]string{"--tenant is required", "--login is required", "--role must be admin, manager or staff"}},
		{"bad role", []string{"user", "create", "--tenant", "acme", "--login", "x", "--role", "owner"}, []string{`got "owner"`}},
		{"list without tenant", []string{"user", "list"}, []string{"--tenant is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runStdin(t, nil, append(tc.args, "--db", db)...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d", r.code, ExitUsage)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
	if r := runStdin(t, nil, "help"); !strings.Contains(r.stderr, "user ") {
		t.Errorf("usage does not list the user command:\n%s", r.stderr)
	}
}
