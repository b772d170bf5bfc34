// Package pgtest gives tests a PostgreSQL Store of their own: a fresh
// schema in the database named by STOCKSYNC_TEST_DATABASE_URL, dropped when
// the test ends, so tests run in parallel without seeing each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"stocksync/ledger/postgres"
)

// EnvURL is the environment variable naming the test database.
const EnvURL = "STOCKSYNC_TEST_DATABASE_URL"

// New returns a migrated Store on a fresh schema. It skips the test when
// STOCKSYNC_TEST_DATABASE_URL is unset, and closes the store and drops the
// schema when the test ends.
func New(tb testing.TB) *postgres.Store {
	tb.Helper()
	u := URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, u)
	if err != nil {
		tb.Fatalf("pgtest: open store: %v", err)
	}
	// Cleanups run last-registered first: the store closes before URL's
	// cleanup drops its schema.
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// URL returns a connection URL whose search_path is a fresh, empty schema,
// for tests that open their own store or run the binary. It skips the test
// when STOCKSYNC_TEST_DATABASE_URL is unset, and drops the schema (with
// everything in it) when the test ends; close whatever uses the URL first.
func URL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		tb.Skipf("PostgreSQL tests need a database: run them with %s set, e.g. "+
			"%s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./...", EnvURL, EnvURL)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("pgtest: random schema name: %v", err)
	}
	schema := "t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec(ctx, base, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		tb.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	return u
}

// withSearchPath sets search_path on a URL or keyword/value connection
// string; pgx passes it to the server as a run-time parameter.
func withSearchPath(base, schema string) (string, error) {
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func exec(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
