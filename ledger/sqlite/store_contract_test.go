package sqlite_test

import (
	"testing"

	"stocksync/ledger/ledgertest"
)

// TestStoreContract runs the store contract tests on temp-file databases;
// SQLite's readers have their own pool, so a small pool is the same store.
func TestStoreContract(t *testing.T) {
	ledgertest.RunStore(t, newTestStore, newTestStore)
}
