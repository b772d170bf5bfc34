package postgres_test

import (
	"testing"

	"stocksync/ledger/ledgertest"
	"stocksync/ledger/postgres/pgtest"
)

// BenchmarkMerge compares Ledger.Merge with raw COPY of the same op log rows
// and movements (see ledgertest.BenchMerge).
func BenchmarkMerge(b *testing.B) {
	ledgertest.BenchMerge(b, pgtest.New(b))
}
