package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"stocksync/ledger"
	"stocksync/ledger/ledgertest"
	"stocksync/ledger/sqlite"
)

// TestStoreContract runs the store contract tests on temp-file databases;
// SQLite's readers have their own pool, so a small pool is the same store.
func TestStoreContract(t *testing.T) {
	open := func(t *testing.T) ledger.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ledgertest.RunStore(t, open, open)
}
