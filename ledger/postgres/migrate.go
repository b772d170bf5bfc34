package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"stocksync/migrations"
)

// migrate applies the embedded migrations that the current schema has not
// recorded yet, each file in its own transaction. It holds a session
// advisory lock keyed by the schema's name for the whole run, so servers
// starting at once against one database apply each file exactly once, while
// test schemas side by side do not wait for each other.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateFS(ctx, pool, migrations.Postgres, "postgres")
}

func migrateFS(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir string) (err error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()

	var schema pgtype.Text
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("migrate: read current schema: %w", err)
	}
	if !schema.Valid {
		return fmt.Errorf("migrate: no schema on the search_path exists; create it first")
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('stocksync.migrate.' || $1, 0))`, schema.String); err != nil {
		return fmt.Errorf("migrate: lock schema %s: %w", schema.String, err)
	}
	defer func() {
		// Unlock even when ctx is done; if this fails, the lock dies with
		// the session, so the connection is dropped rather than pooled.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended('stocksync.migrate.' || $1, 0))`, schema.String); uerr != nil {
			conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text        NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: read applied versions: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: read applied versions: %w", err)
	}
	done := make(map[string]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}

	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		if done[version] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", name, err)
		}
		if err := applyMigration(ctx, conn.Conn(), version, string(body)); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration runs one file and records it in one transaction, so a
// failed file leaves nothing behind and is retried on the next start.
func applyMigration(ctx context.Context, conn *pgx.Conn, version, body string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", version, err)
	}
	defer rollback(ctx, tx)
	// Exec without arguments uses the simple protocol, which runs a file
	// of several statements in one call.
	if _, err := tx.Exec(ctx, body); err != nil {
		return fmt.Errorf("migrate %s: %w", version, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, version); err != nil {
		return fmt.Errorf("migrate %s: record version: %w", version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", version, err)
	}
	return nil
}
