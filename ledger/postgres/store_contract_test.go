package postgres_test

import (
	"context"
	"testing"

	"stocksync/ledger"
	"stocksync/ledger/ledgertest"
	"stocksync/ledger/postgres"
	"stocksync/ledger/postgres/pgtest"
)

// TestStoreContract runs the store contract tests, one fresh schema each.
func TestStoreContract(t *testing.T) {
	smallPool := func(t *testing.T) ledger.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t)+"&pool_max_conns=2")
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ledgertest.RunStore(t, func(t *testing.T) ledger.Store { return pgtest.New(t) }, smallPool)
}
