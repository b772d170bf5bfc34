package ledgertest

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// shift is one realistic shift recorded on three handhelds, split into the
// pushes each device makes. Times are floor times.
type shift struct {
	ops    [3][]ledger.Operation
	chunks [3][][2]int // [from, to) indexes into ops, in push order
}

func newShift() *shift {
	m := func(min int) time.Time { return Start.Add(time.Duration(min) * time.Minute) }
	s := &shift{}
	s.ops[0] = []ledger.Operation{ // receiving and inventory
		at(receive("WIDGET", "DOCK", 20, "", ""), m(5)),
		at(receive("BOLT", "A1", 10, "L1", ""), m(10)), // supplier lot
		at(receive("BOLT", "A1", 6, "", ""), m(12)),    // no lot: generated
		at(receive("MILK", "A2", 12, "M-NEW", ""), m(15)),
		at(transfer("WIDGET", "DOCK", "A1", 15, ""), m(20)),
		at(transfer("WIDGET", "DOCK", "B1", 1, ""), m(25)), // the last unit in B1
		at(count("MILK", "A2", 10, "M-NEW"), m(120)),       // counted after the late pick below
		at(adjust("WIDGET", "DOCK", -1, "", "damaged"), m(150)),
	}
	s.ops[1] = []ledger.Operation{ // picker
		at(pick("BOLT", "A1", 4, "L1", "SO-100"), m(40)),
		at(pick("WIDGET", "A1", 5, "", "SO-100"), m(45)),
		at(pick("WIDGET", "B1", 1, "", "SO-101"), m(60)), // last unit, picker one
		at(pick("MILK", "A2", 2, "M-NEW", "SO-103"), m(90)),
	}
	s.ops[2] = []ledger.Operation{ // returns desk, also picks
		at(pick("WIDGET", "B1", 1, "", "SO-102"), m(65)), // last unit, picker two
		at(ret("BOLT", "B1", 2, "L3", "SO-100"), m(180)), // wrong batch: SO-100 shipped L1
		at(ret("BOLT", "B1", 1, "", "SO-100"), m(185)),   // no batch: matched to L1
		at(ret("WIDGET", "A2", 2, "", "SO-100"), m(190)),
	}
	s.chunks = [3][][2]int{{{0, 4}, {4, 6}, {6, 8}}, {{0, 2}, {2, 4}}, {{0, 1}, {1, 4}}}
	for d := range s.ops {
		for i := range s.ops[d] {
			s.ops[d][i].OpID = uuid.Must(uuid.NewV7())
			s.ops[d][i].Seq = int64(i + 1)
		}
	}
	return s
}

// push is one delivery: a device's chunk.
type push struct{ dev, chunk int }

// schedules returns named interleavings of the devices' pushes; each keeps
// one device's pushes in order, as a real device does.
func (s *shift) schedules(rng *rand.Rand, random int) map[string][]push {
	seq := func(order ...int) []push {
		var out []push
		for _, d := range order {
			for c := range s.chunks[d] {
				out = append(out, push{d, c})
			}
		}
		return out
	}
	out := map[string][]push{
		"receiving first":  seq(0, 1, 2),
		"returns first":    seq(2, 1, 0),
		"pickers first":    seq(1, 2, 0),
		"receiving last 2": seq(1, 0, 2),
	}
	for n := 0; n < random; n++ {
		next := [3]int{}
		var p []push
		for len(p) < len(s.chunks[0])+len(s.chunks[1])+len(s.chunks[2]) {
			d := rng.Intn(3)
			if next[d] < len(s.chunks[d]) {
				p = append(p, push{d, next[d]})
				next[d]++
			}
		}
		out[fmt.Sprintf("random %d", n)] = p
	}
	return out
}

// outcome is what must not depend on arrival order.
type outcome struct {
	balances map[string]int64
	open     []string
}

func (o outcome) String() string {
	var parts []string
	for k, v := range o.balances {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return "balances " + strings.Join(parts, " ") + " | open " + strings.Join(o.open, "; ")
}

func (f *fixture) outcome() outcome {
	f.t.Helper()
	rows, err := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{NonZero: true})
	if err != nil {
		f.t.Fatal(err)
	}
	o := outcome{balances: map[string]int64{}}
	for _, r := range rows {
		o.balances[r.Location+"/"+r.SKU+"/"+r.Batch] = r.OnHand
	}
	for _, r := range f.reviews(ledger.ReviewOpen, "") {
		o.open = append(o.open, fmt.Sprintf("%s %s/%s/%s %s", r.Kind, r.Evidence.Location, r.Evidence.SKU, r.Evidence.Batch, r.Order))
	}
	sort.Strings(o.open)
	return o
}

// testShiftScenario merges one shift in many interleavings, with repeated
// deliveries, and requires the same final stock and the same open reviews
// every time, with the consistency check passing.
func testShiftScenario(t *testing.T, nf Factory) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	s := newShift()
	settings := &ledger.Settings{CountVarianceThreshold: 0, ClockUncertainty: 2 * time.Minute}

	var generated string
	want := outcome{
		balances: map[string]int64{
			"DOCK/WIDGET/": 3, "A1/WIDGET/": 10, "A2/WIDGET/": 2, "B1/WIDGET/": -1,
			"A1/BOLT/L1": 6, "B1/BOLT/L3": 2, "B1/BOLT/L1": 1,
			"A2/MILK/M-NEW": 10,
		},
		open: []string{"negative_stock B1/WIDGET/ ", "wrong_batch_return B1/BOLT/L3 SO-100"},
	}
	for name, sched := range s.schedules(rng, 6) {
		f := setupWith(t, nf, settings)
		f.clock.Advance(4 * time.Hour) // the shift is over; devices sync
		var delivered []push
		for _, p := range sched {
			f.deliver(s, p, false)
			delivered = append(delivered, p)
			// A lost response: the device sends an earlier push again.
			if rng.Intn(3) == 0 {
				f.deliver(s, delivered[rng.Intn(len(delivered))], true)
			}
		}
		// Every device sends everything once more at the end.
		for d := range s.ops {
			f.deliver(s, push{d, -1}, true)
		}
		got := f.outcome()
		if generated == "" {
			// The generated batch code is derived from its operation, so
			// it is the same in every interleaving.
			for k := range got.balances {
				if strings.HasPrefix(k, "A1/BOLT/HH1-") {
					generated = k
				}
			}
			if generated == "" {
				t.Fatalf("%s: no generated BOLT batch in %v", name, got.balances)
			}
			want.balances[generated] = 6
		}
		if fmt.Sprint(got.balances) != fmt.Sprint(want.balances) {
			t.Errorf("%s (%v): balances\n got %v\nwant %v", name, sched, got.balances, want.balances)
		}
		if !slices.Equal(got.open, want.open) {
			t.Errorf("%s (%v): open reviews\n got %q\nwant %q", name, sched, got.open, want.open)
		}
		f.checkConsistent()
	}
}

// deliver pushes one chunk (chunk -1: all of the device's operations) and
// checks replays come back marked as such.
func (f *fixture) deliver(s *shift, p push, replay bool) {
	f.t.Helper()
	f.clock.Advance(time.Second)
	from, to := 0, len(s.ops[p.dev])
	if p.chunk >= 0 {
		from, to = s.chunks[p.dev][p.chunk][0], s.chunks[p.dev][p.chunk][1]
	}
	ops := slices.Clone(s.ops[p.dev][from:to])
	resp := f.merge(f.devs[p.dev], ops)
	for i, r := range resp.Results {
		if replay && !r.Replayed {
			f.t.Fatalf("redelivered op %d of device %d not replayed: %+v", from+i, p.dev, r)
		}
		if r.Status == ledger.StatusRejected {
			f.t.Fatalf("op %d of device %d rejected: %+v", from+i, p.dev, r)
		}
	}
}
