package postgres_test

import (
	"testing"

	"stocksync/ledger"
	"stocksync/ledger/ledgertest"
	"stocksync/ledger/postgres/pgtest"
)

// TestConformance runs the ledger conformance suite on PostgreSQL, one
// fresh schema per test.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Store { return pgtest.New(t) })
}
