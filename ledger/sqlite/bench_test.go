package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"stocksync/ledger/ledgertest"
	"stocksync/ledger/sqlite"
)

// BenchmarkMerge compares Ledger.Merge with raw prepared inserts of the same
// op log rows and movements (see ledgertest.BenchMerge).
func BenchmarkMerge(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ledgertest.BenchMerge(b, s)
}
