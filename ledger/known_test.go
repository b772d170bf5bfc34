package ledger

import (
	"testing"

	"github.com/google/uuid"
)

// TestKnownStatesBound: what is kept stays within the bound, counting the
// lists' lengths; the tenants least recently written go first; a state
// larger than the bound is not kept; a state is taken only with the write
// ID it was put with.
func TestKnownStatesBound(t *testing.T) {
	s := knownStates{max: 10}
	state := func(entries int) *knownState {
		k := newKnownState()
		for i := range entries {
			k.keys[Key{ItemID: uuid.New(), BatchID: uuid.UUID{byte(i)}}] = keyKnown{balance: 1, flags: knowBalance}
		}
		return k
	}
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	idA, idB, idC := uuid.New(), uuid.New(), uuid.New()
	s.put(a, idA, state(4))
	s.put(b, idB, state(4))
	if got := s.take(a, uuid.New()); got.size() != 0 {
		t.Fatalf("taken with another write ID: %d entries, want an empty state", got.size())
	}
	s.put(a, idA, state(4)) // a is now the most recent
	s.put(c, idC, state(5)) // evicts b, the least recent, then fits
	if s.tenants[b] != nil || s.tenants[a] == nil || s.tenants[c] == nil || s.total != 9 {
		t.Fatalf("after eviction: a %v, b %v, c %v, total %d; want b evicted and 9 entries", s.tenants[a] != nil, s.tenants[b] != nil, s.tenants[c] != nil, s.total)
	}
	if got := s.take(c, idC); got.size() != 5 || s.total != 4 {
		t.Fatalf("take c: %d entries, total left %d; want 5 and 4", got.size(), s.total)
	}
	big := state(3)
	big.counts[Key{}] = make([]CountRecord, 8)
	big.listed = 8
	s.put(c, idC, big) // 3 balances + 1 key + 8 counts > 10
	if s.tenants[c] != nil {
		t.Fatalf("a state of %d entries was kept under a bound of 10", big.size())
	}
	s.put(b, uuid.Nil, state(1))
	if s.tenants[b] != nil {
		t.Fatal("a state was kept under no write ID")
	}
}
