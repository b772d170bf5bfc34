package server

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// TestEvidenceRows: the negative-stock evidence lists every movement of
// the review's own operations however far apart, the latest rows before
// the last of them and a short tail after it, and its running balance is
// right on every row, skipped runs included.
func TestEvidenceRows(t *testing.T) {
	t.Parallel()
	own := uuid.New()
	t0 := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	movements := func(n int, ownAt ...int) []ledger.Movement {
		ms := make([]ledger.Movement, n)
		for i := range ms {
			ms[i] = ledger.Movement{Position: int64(i + 1), Qty: 1, OpID: uuid.New(), EffectiveAt: t0.Add(time.Duration(i) * time.Second)}
		}
		for _, i := range ownAt {
			ms[i].OpID, ms[i].Qty = own, -5
		}
		return ms
	}
	isOwn := func(m ledger.Movement) bool { return m.OpID == own }
	// check verifies the running balance and returns the positions listed
	// and the lengths of the skipped runs.
	check := func(name string, ms []ledger.Movement, l evidenceList, start int64) (listed []int64, skipped []int) {
		t.Helper()
		bal := l.start
		sum := start
		for _, m := range ms[:l.cut] {
			sum += m.Qty
		}
		if bal != sum {
			t.Errorf("%s: start balance %d, want %d", name, bal, sum)
		}
		for _, r := range l.rows {
			bal += r.qty
			if r.balance != bal {
				t.Errorf("%s: row %+v has balance %d, want %d", name, r, r.balance, bal)
			}
			if r.skipped > 0 {
				skipped = append(skipped, r.skipped)
			} else {
				listed = append(listed, r.m.Position)
			}
		}
		if n := l.cut + len(listed) + sumInts(skipped) + l.later; n != len(ms) {
			t.Errorf("%s: %d movements accounted for, want %d", name, n, len(ms))
		}
		return listed, skipped
	}

	// Own movements at 0, 500 and 999 of 1,000: all listed, with the 300
	// before the last, and the runs between them summed.
	ms := movements(1000, 0, 500, 999)
	l := evidenceRows(ms, 7, isOwn)
	listed, skipped := check("far apart", ms, l, 7)
	if l.cut != 0 || l.later != 0 || len(listed) != 302 || listed[0] != 1 || listed[1] != 501 || listed[2] != 701 || listed[301] != 1000 {
		t.Errorf("far apart: cut %d, later %d, %d listed from %v", l.cut, l.later, len(listed), listed[:3])
	}
	if len(skipped) != 2 || skipped[0] != 499 || skipped[1] != 199 {
		t.Errorf("far apart: skipped runs %v", skipped)
	}
	if last := l.rows[len(l.rows)-1]; last.balance != 7-15+997 {
		t.Errorf("far apart: final balance %d", last.balance)
	}

	// One own movement in the middle: the rows before it beyond the
	// limit are summed into the start, and the tail is cut short.
	ms = movements(1000, 400)
	l = evidenceRows(ms, -3, isOwn)
	listed, skipped = check("middle", ms, l, -3)
	if l.cut != 101 || l.later != 1000-451 || len(listed) != 350 || len(skipped) != 0 || listed[0] != 102 {
		t.Errorf("middle: cut %d, later %d, %d listed from %d, skipped %v", l.cut, l.later, len(listed), listed[0], skipped)
	}

	// A lone movement between listed ones is listed rather than skipped.
	// (Own at 0 and 301: the 300 rows up to the last start at 2.)
	ms = movements(400, 0, 301)
	l = evidenceRows(ms, 0, isOwn)
	listed, skipped = check("lone gap", ms, l, 0)
	if len(skipped) != 0 || len(listed) != 352 {
		t.Errorf("lone gap: %d listed, skipped %v", len(listed), skipped)
	}
	ms = movements(400, 0, 302)
	l = evidenceRows(ms, 0, isOwn)
	if _, skipped = check("gap of two", ms, l, 0); len(skipped) != 1 || skipped[0] != 2 {
		t.Errorf("gap of two: skipped %v", skipped)
	}

	// None of the review's own (it posted nothing on the key): the first
	// rows, bounded.
	ms = movements(500)
	l = evidenceRows(ms, 0, isOwn)
	listed, _ = check("none own", ms, l, 0)
	if len(listed) != evidenceRowsMax || l.later != 200 {
		t.Errorf("none own: %d listed, %d later", len(listed), l.later)
	}
	if l := evidenceRows(nil, 4, isOwn); l.start != 4 || len(l.rows) != 0 {
		t.Errorf("no movements: %+v", l)
	}
}

func sumInts(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
