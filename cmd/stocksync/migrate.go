package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"stocksync/migrations"
)

// runMigrate opens the database, which applies every pending migration, and
// says which ones this run applied.
//
// The stores do not report what they applied, so migrate reads the
// schema_migrations table that both keep (version, applied_at) before and
// after opening, through a connection of its own.
func (m *Main) runMigrate(ctx context.Context) error {
	t, err := parseDB(m.DB)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	before, err := appliedMigrations(ctx, t)
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	if _, err := m.open(ctx, false); err != nil {
		return err
	}
	after, err := appliedMigrations(ctx, t)
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}

	backend := "sqlite"
	if t.postgres {
		backend = "postgres"
	}
	fmt.Fprintf(m.Stdout, "database: %s %s\n", backend, t.display)
	var applied []string
	for _, v := range after {
		if !slices.Contains(before, v) {
			applied = append(applied, v)
		}
	}
	if len(applied) == 0 {
		fmt.Fprintf(m.Stdout, "nothing to apply: the schema is up to date\n")
	} else {
		fmt.Fprintf(m.Stdout, "applied %d %s: %s\n", len(applied), plural(len(applied), "migration", "migrations"), strings.Join(applied, ", "))
	}
	if len(after) > 0 {
		fmt.Fprintf(m.Stdout, "schema version: %s (%d %s)\n", after[len(after)-1], len(after), plural(len(after), "migration", "migrations"))
	}
	if unknown := unknownMigrations(t, after); len(unknown) > 0 {
		// A newer stocksync migrated this database; this binary may not
		// understand its schema.
		fmt.Fprintf(m.Stdout, "warning: the database has migrations this binary does not know: %s\n", strings.Join(unknown, ", "))
	}
	m.Logger.Debug("migrated", "db", t.display, "applied", len(applied), "version", lastOr(after, ""))
	return nil
}

// appliedMigrations returns the versions recorded in schema_migrations, in
// order; none when the database or the table does not exist yet.
func appliedMigrations(ctx context.Context, t dbTarget) ([]string, error) {
	const q = `SELECT version FROM schema_migrations ORDER BY version`
	if t.postgres {
		conn, err := pgx.Connect(ctx, t.dsn)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", t.display, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		rows, _ := conn.Query(ctx, q)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return nil, nil
		}
		return versions, err
	}

	if _, err := os.Stat(t.dsn); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	// The driver "sqlite" is registered by modernc.org/sqlite, which the
	// sqlite store imports. query_only keeps this connection from writing.
	db, err := sql.Open("sqlite", t.dsn+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.dsn, err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		versions = append(versions, v)
	}
	return versions, rows.Err()
}

// unknownMigrations returns the applied versions that this binary does not
// embed.
func unknownMigrations(t dbTarget, applied []string) []string {
	fsys, dir := fs.FS(migrations.SQLite), "sqlite"
	if t.postgres {
		fsys, dir = migrations.Postgres, "postgres"
	}
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil
	}
	known := map[string]bool{}
	for _, n := range names {
		known[strings.TrimSuffix(path.Base(n), ".sql")] = true
	}
	var out []string
	for _, v := range applied {
		if !known[v] {
			out = append(out, v)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func lastOr[T any](s []T, def T) T {
	if len(s) == 0 {
		return def
	}
	return s[len(s)-1]
}
