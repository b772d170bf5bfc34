package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"stocksync/ledger"
	"stocksync/ledger/ledgertest"
	"stocksync/ledger/sqlite"
)

// newTestStore opens a store on a new temp-file database, closed when the
// test ends.
func newTestStore(t *testing.T) ledger.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the ledger conformance suite on a temp-file SQLite
// database per test.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, newTestStore)
}
