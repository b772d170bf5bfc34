// Package migrations embeds the numbered SQL migrations of every database
// stocksync owns. Each store applies its own directory, one file per
// transaction, in file-name order, recording each in a table.
package migrations

import "embed"

// Postgres holds the server's PostgreSQL migrations, postgres/NNNN_name.sql.
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the server's embedded SQLite migrations, sqlite/NNNN_name.sql.
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Device holds the handheld's own SQLite migrations, device/NNNN_name.sql,
// applied by package client when it opens the device database.
//
//go:embed device/*.sql
var Device embed.FS
