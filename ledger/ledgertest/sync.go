package ledgertest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func testValidation(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	cases := []struct {
		name string
		op   ledger.Operation
		code ledger.Code
	}{
		{"unknown kind", ledger.Operation{Kind: "steal", SKU: "WIDGET", Location: "A1", Qty: 1}, ledger.CodeUnknownKind},
		{"no kind", ledger.Operation{SKU: "WIDGET", Location: "A1", Qty: 1}, ledger.CodeMissingField},
		{"no item", ledger.Operation{Kind: ledger.KindReceive, Location: "A1", Qty: 1}, ledger.CodeMissingField},
		{"no location", ledger.Operation{Kind: ledger.KindReceive, SKU: "WIDGET", Qty: 1}, ledger.CodeMissingField},
		{"receive zero", receive("WIDGET", "A1", 0, "", ""), ledger.CodeInvalidQty},
		{"pick negative", pick("WIDGET", "A1", -2, "", ""), ledger.CodeInvalidQty},
		{"return zero", ret("WIDGET", "A1", 0, "", ""), ledger.CodeInvalidQty},
		{"transfer no target", transfer("WIDGET", "A1", "", 1, ""), ledger.CodeMissingField},
		{"transfer to itself", transfer("WIDGET", "A1", "A1", 1, ""), ledger.CodeSameLocation},
		{"count negative", count("WIDGET", "A1", -1, ""), ledger.CodeInvalidQty},
		{"adjust zero", adjust("WIDGET", "A1", 0, "", "damaged"), ledger.CodeInvalidQty},
		{"adjust no reason", adjust("WIDGET", "A1", -1, "", ""), ledger.CodeReasonRequired},
		{"pick with to_location", ledger.Operation{Kind: ledger.KindPick, SKU: "WIDGET", Location: "A1", ToLocation: "A2", Qty: 1}, ledger.CodeUnexpectedField},
		{"bad expiry", receive("MILK", "A1", 1, "M9", "31/12/2026"), ledger.CodeInvalidExpiry},
		{"bad exchange", ledger.Operation{Kind: ledger.KindPick, SKU: "WIDGET", Location: "A1", Qty: 1, Order: "O1", ExchangeOf: "nope"}, ledger.CodeInvalidExchange},
		{"long sku", receive(strings.Repeat("X", 200), "A1", 1, "", ""), ledger.CodeTooLong},
		{"no time", ledger.Operation{Kind: ledger.KindReceive, SKU: "WIDGET", Location: "A1", Qty: 1, OccurredAt: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)}, ledger.CodeInvalidTime},
	}
	for _, tc := range cases {
		r := f.push1(dev, tc.op)
		if r.Status != ledger.StatusRejected || r.Code != tc.code || r.Message == "" {
			t.Errorf("%s: result %s/%s %q, want rejected/%s with a message", tc.name, r.Status, r.Code, r.Message, tc.code)
		}
	}
	// Every rejection advanced the acked seq and is stored with its reason.
	d, err := f.l.Device(f.ctx, f.tenant.ID, dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.AckedSeq != int64(len(cases)) {
		t.Errorf("acked seq = %d, want %d", d.AckedSeq, len(cases))
	}
	log, err := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: dev.ID, Status: ledger.StatusRejected})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != len(cases) {
		t.Fatalf("op log has %d rejected, want %d", len(log), len(cases))
	}
	for i, e := range log {
		if e.Result.Code != cases[i].code || e.Seq != int64(i+1) || e.Posted {
			t.Errorf("op log %d = seq %d %s posted=%v, want %s", i, e.Seq, e.Result.Code, e.Posted, cases[i].code)
		}
	}
	if rows, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{}); len(rows) != 0 {
		t.Errorf("rejected ops posted %d movements", len(rows))
	}
	f.checkConsistent()
}

func testItemValidation(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	cases := []struct {
		name string
		op   ledger.Operation
		code ledger.Code
	}{
		{"batch on untracked", receive("WIDGET", "A1", 1, "L1", ""), ledger.CodeBatchNotTracked},
		{"pick tracked without batch", pick("BOLT", "A1", 1, "", ""), ledger.CodeBatchRequired},
		{"return tracked without batch or order", ret("BOLT", "A1", 1, "", ""), ledger.CodeBatchRequired},
		{"count tracked without batch", count("BOLT", "A1", 1, ""), ledger.CodeBatchRequired},
		{"expiry required", receive("MILK", "A1", 1, "M-NEW2", ""), ledger.CodeExpiryRequired},
		{"barcode of another item", ledger.Operation{Kind: ledger.KindReceive, SKU: "WIDGET", Barcode: "4000002000012", Location: "A1", Qty: 1}, ledger.CodeBarcodeMismatch},
	}
	for _, tc := range cases {
		r := f.push1(dev, tc.op)
		if r.Status != ledger.StatusRejected || r.Code != tc.code {
			t.Errorf("%s: result %s/%s %q, want rejected/%s", tc.name, r.Status, r.Code, r.Message, tc.code)
		}
	}
	// A known batch with an expiry needs none on the scan.
	wantStatus(t, f.push1(dev, receive("MILK", "A1", 3, "M-NEW", "")), ledger.StatusApplied, "")
	f.wantBalance("A1", "MILK", "M-NEW", 3)
	f.checkConsistent()
}

func testReplay(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, receive("WIDGET", "A1", 10, "", ""), pick("WIDGET", "A1", 3, "", "SO-1"),
		ledger.Operation{Kind: "bogus", SKU: "WIDGET", Location: "A1", Qty: 1}, pick("WIDGET", "A1", 9, "", "SO-2"))
	first := f.merge(dev, ops)
	if first.AckedSeq != 4 {
		t.Fatalf("acked = %d", first.AckedSeq)
	}
	wantStatus(t, first.Results[0], ledger.StatusApplied, "")
	wantStatus(t, first.Results[2], ledger.StatusRejected, ledger.CodeUnknownKind)
	wantStatus(t, first.Results[3], ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))

	// The whole push again (a lost response), then a partial overlap.
	for _, again := range [][]ledger.Operation{ops, ops[1:]} {
		f.clock.Advance(time.Minute)
		resp := f.merge(dev, again)
		if resp.AckedSeq != 4 {
			t.Fatalf("acked after replay = %d", resp.AckedSeq)
		}
		for i, r := range resp.Results {
			want := first.Results[len(ops)-len(again)+i]
			if !r.Replayed {
				t.Errorf("result %d not marked replayed", i)
			}
			r.Replayed = false
			if !reflect.DeepEqual(r, want) {
				t.Errorf("replayed result %d = %+v, want %+v", i, r, want)
			}
		}
	}
	// A replay overlapping new operations: old ones replayed, new merged.
	more := append(append([]ledger.Operation{}, ops[3]), f.prepare(dev, receive("WIDGET", "A1", 5, "", ""))...)
	resp := f.merge(dev, more)
	if !resp.Results[0].Replayed || resp.Results[1].Replayed || resp.AckedSeq != 5 {
		t.Fatalf("overlap = %+v", resp)
	}
	f.wantBalance("A1", "WIDGET", "", 10-3-9+5)
	if n := len(f.reviews("", ledger.ReviewNegativeStock)); n != 1 {
		t.Errorf("%d negative_stock reviews, want 1 (replays open none)", n)
	}
	f.checkConsistent()
}

func testOpConflict(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, receive("WIDGET", "A1", 10, "", ""), receive("WIDGET", "A1", 1, "", ""))
	f.merge(dev, ops)

	// Another operation under a used seq.
	other := receive("WIDGET", "A1", 99, "", "")
	other.OpID, other.Seq, other.OccurredAt = uuid.Must(uuid.NewV7()), 1, f.clock.Now()
	// The same op_id with another payload.
	changed := ops[1]
	changed.Qty = 2
	resp := f.merge(dev, []ledger.Operation{other, changed})
	wantStatus(t, resp.Results[0], ledger.StatusRejected, ledger.CodeOpConflict)
	wantStatus(t, resp.Results[1], ledger.StatusRejected, ledger.CodeOpConflict)

	// A known op_id reused under a new seq with another payload.
	reused := receive("WIDGET", "A1", 7, "", "")
	reused.OpID = ops[0].OpID
	wantStatus(t, f.push1(dev, reused), ledger.StatusRejected, ledger.CodeOpConflict)

	f.wantBalance("A1", "WIDGET", "", 11)
	log, err := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: dev.ID})
	if err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	for _, e := range log {
		if e.Result.Code == ledger.CodeOpConflict {
			conflicts++
		}
	}
	if conflicts != 3 || len(log) != 5 {
		t.Errorf("op log: %d entries, %d conflicts; want 5 and 3: %+v", len(log), conflicts, log)
	}
	f.checkConsistent()
}

func testSeqGap(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	f.push(dev, receive("WIDGET", "A1", 1, "", ""))
	op := receive("WIDGET", "A1", 1, "", "")
	op.OpID, op.Seq, op.OccurredAt = uuid.Must(uuid.NewV7()), 5, f.clock.Now()
	_, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, Ops: []ledger.Operation{op}})
	wantCode(t, err, ledger.CodeSeqGap)
	var e *ledger.Error
	if !errors.As(err, &e) || e.AckedSeq != 1 {
		t.Fatalf("seq gap error = %#v, want AckedSeq 1", err)
	}
	// Non-contiguous seqs inside one request are malformed.
	op2 := op
	op2.Seq = 7
	op.Seq = 2
	_, err = f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, Ops: []ledger.Operation{op, op2}})
	wantCode(t, err, ledger.CodeInvalid)
	f.wantBalance("A1", "WIDGET", "", 1)
	// Unknown device and unknown tenant.
	_, err = f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: uuid.Must(uuid.NewV7())})
	wantCode(t, err, ledger.CodeNotFound)
	_, err = f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: uuid.Must(uuid.NewV7()), DeviceID: dev.ID})
	wantCode(t, err, ledger.CodeNotFound)
}

// testRenumberedReplay: a device restored from a backup renumbers its
// pending operations after the server's acked seq, keeping their op_ids;
// the ledger recognizes them and applies nothing twice.
func testRenumberedReplay(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, receive("WIDGET", "A1", 10, "", ""), pick("WIDGET", "A1", 4, "", ""))
	first := f.merge(dev, ops)
	f.push(dev, receive("WIDGET", "A2", 1, "", "")) // seq 3

	renumbered := []ledger.Operation{ops[0], ops[1]}
	renumbered[0].Seq, renumbered[1].Seq = 4, 5
	resp := f.merge(dev, renumbered)
	if resp.AckedSeq != 5 {
		t.Fatalf("acked = %d, want 5", resp.AckedSeq)
	}
	for i, r := range resp.Results {
		if !r.Replayed || r.Status != first.Results[i].Status || r.OpID != ops[i].OpID || r.Seq != int64(4+i) {
			t.Errorf("renumbered result %d = %+v", i, r)
		}
	}
	// And the renumbered seqs replay too.
	again := f.merge(dev, renumbered)
	for i, r := range again.Results {
		if !r.Replayed || r.Status != first.Results[i].Status {
			t.Errorf("second replay %d = %+v", i, r)
		}
	}
	f.wantBalance("A1", "WIDGET", "", 6)
	f.f2(t)
	f.checkConsistent()
}

// f2 pushes the same operation from a second device (a backup restored onto
// a new handheld): deduplicated by op_id across devices.
func (f *fixture) f2(t *testing.T) {
	t.Helper()
	log, err := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: f.devs[0].ID})
	if err != nil || len(log) == 0 {
		t.Fatalf("op log: %v", err)
	}
	op, err := log[0].Operation()
	if err != nil {
		t.Fatal(err)
	}
	moved := f.prepare(f.devs[1], op)
	op.Seq = moved[0].Seq
	r := f.merge(f.devs[1], []ledger.Operation{op}).Results[0]
	if !r.Replayed || r.Status != log[0].Result.Status {
		t.Errorf("op from another device = %+v, want replay of %+v", r, log[0].Result)
	}
}

func testRevokedDevice(t *testing.T, nf Factory) {
	f := setup(t, nf)
	if err := f.l.RevokeDevice(f.ctx, f.tenant.ID, f.devs[0].ID); err != nil {
		t.Fatal(err)
	}
	ops := f.prepare(f.devs[0], receive("WIDGET", "A1", 1, "", ""))
	_, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: f.devs[0].ID, Ops: ops})
	wantCode(t, err, ledger.CodeForbidden)
	f.wantBalance("A1", "WIDGET", "", 0)
}

func testReceiveGeneratesBatch(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, receive("BOLT", "DOCK", 100, "", ""), receive("BOLT", "DOCK", 50, "", ""))
	resp := f.merge(dev, ops)
	b0, b1 := resp.Results[0].Batch, resp.Results[1].Batch
	if b0 == "" || b1 == "" || b0 == b1 || !strings.HasPrefix(b0, dev.BatchPrefix+"-") {
		t.Fatalf("generated batches %q %q (prefix %s)", b0, b1, dev.BatchPrefix)
	}
	if b0 != ledger.GeneratedBatchCode(dev.BatchPrefix, ops[0].OpID, ops[0].OccurredAt) {
		t.Errorf("batch code %s is not derived from the op", b0)
	}
	if again := f.merge(dev, ops); again.Results[0].Batch != b0 {
		t.Errorf("replay gave batch %s, want %s", again.Results[0].Batch, b0)
	}
	f.wantBalance("DOCK", "BOLT", b0, 100)
	f.wantBalance("DOCK", "BOLT", b1, 50)
	// The generated batch is a real batch: it can be picked by code.
	wantStatus(t, f.push1(dev, pick("BOLT", "DOCK", 30, b0, "SO-1")), ledger.StatusApplied, "")
	f.wantBalance("DOCK", "BOLT", b0, 70)
	f.checkConsistent()
}

func testBarcodeScan(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	wantStatus(t, f.push1(dev, ledger.Operation{Kind: ledger.KindReceive, Barcode: "4000001000013", Location: "A1", Qty: 4}), ledger.StatusApplied, "")
	wantStatus(t, f.push1(dev, ledger.Operation{Kind: ledger.KindPick, SKU: "WIDGET", Barcode: "4000001000013", Location: "A1", Qty: 1}), ledger.StatusApplied, "")
	f.wantBalance("A1", "WIDGET", "", 3)
}

func testTransfer(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	f.push(dev, receive("BOLT", "DOCK", 20, "L1", ""))
	r := f.push1(dev, transfer("BOLT", "DOCK", "A1", 15, "L1"))
	wantStatus(t, r, ledger.StatusApplied, "")
	f.wantBalance("DOCK", "BOLT", "L1", 5)
	f.wantBalance("A1", "BOLT", "L1", 15)
	movs, err := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID})
	if err != nil {
		t.Fatal(err)
	}
	if len(movs) != 2 || movs[0].Qty != -15 || movs[0].Location != "DOCK" || movs[1].Qty != 15 || movs[1].Location != "A1" ||
		movs[1].Position != movs[0].Position+1 || movs[0].Kind != ledger.MoveTransferOut {
		t.Fatalf("transfer movements = %+v", movs)
	}
	f.checkConsistent()
}

// testClockOffset: effective time is the device's clock corrected by its
// measured offset; the recorded position is the commit order.
func testClockOffset(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	skew := 3 * time.Hour // the device's clock is 3 hours behind
	op := f.prepare(dev, receive("WIDGET", "A1", 5, "", ""))
	op[0].OccurredAt = f.clock.Now().Add(-skew - 10*time.Minute) // 10 minutes ago, on its clock
	_, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID,
		DeviceTime: f.clock.Now().Add(-skew), Ops: op})
	if err != nil {
		t.Fatal(err)
	}
	movs, err := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{SKU: "WIDGET"})
	if err != nil || len(movs) != 1 {
		t.Fatalf("movements %v %v", movs, err)
	}
	if want := f.clock.Now().Add(-10 * time.Minute); !movs[0].EffectiveAt.Equal(want) {
		t.Errorf("effective at %s, want %s", movs[0].EffectiveAt, want)
	}
	if !movs[0].RecordedAt.Equal(f.clock.Now()) || movs[0].Position != 1 {
		t.Errorf("recorded %s position %d", movs[0].RecordedAt, movs[0].Position)
	}
	d, _ := f.l.Device(f.ctx, f.tenant.ID, dev.ID)
	if d.ClockOffset != skew {
		t.Errorf("clock offset %s, want %s", d.ClockOffset, skew)
	}
}

// testSeqBehind: a device restored from a backup reports the acked seq it
// knew then; a push reusing a seq the server holds for another operation is
// refused whole with seq_behind and the server's acked seq, while a lost
// answer (the same operations again) replays, and a device that knew the
// seq was acked still gets op_conflict.
func testSeqBehind(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, receive("WIDGET", "A1", 1, "", ""), receive("WIDGET", "A1", 2, "", ""), receive("WIDGET", "A1", 4, "", ""))
	f.merge(dev, ops[:1])
	f.merge(dev, ops[1:]) // acked 3; the device's backup knew acked 1

	known := func(n int64) *int64 { return &n }
	mergeKnown := func(k *int64, batch []ledger.Operation) (ledger.MergeResponse, error) {
		return f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(), Ops: batch, KnownAckedSeq: k})
	}

	// A lost answer: the device knew acked 1 and sends seqs 2-3 again.
	resp, err := mergeKnown(known(1), ops[1:])
	if err != nil || !resp.Results[0].Replayed || !resp.Results[1].Replayed {
		t.Fatalf("lost answer: %+v, %v; want replays", resp, err)
	}

	// A restore: new operations under seqs 2-3.
	fresh := f.prepare(dev, receive("WIDGET", "A1", 100, "", ""), receive("WIDGET", "A1", 200, "", ""))
	fresh[0].Seq, fresh[1].Seq = 2, 3
	_, err = mergeKnown(known(1), fresh)
	wantCode(t, err, ledger.CodeSeqBehind)
	var e *ledger.Error
	if !errors.As(err, &e) || e.AckedSeq != 3 {
		t.Fatalf("seq_behind error = %#v, want AckedSeq 3", err)
	}
	f.wantBalance("A1", "WIDGET", "", 7)

	// Renumbered after the acked seq, they merge.
	fresh[0].Seq, fresh[1].Seq = 4, 5
	resp, err = mergeKnown(known(3), fresh)
	if err != nil || resp.AckedSeq != 5 || resp.Results[0].Status != ledger.StatusApplied {
		t.Fatalf("renumbered: %+v, %v", resp, err)
	}

	// A device that knew seq 2 was acked and reuses it is a bug, not a
	// restore: op_conflict, as without the report.
	other := receive("WIDGET", "A1", 9, "", "")
	other.OpID, other.Seq, other.OccurredAt = uuid.Must(uuid.NewV7()), 2, f.clock.Now()
	resp, err = mergeKnown(known(5), []ledger.Operation{other})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp.Results[0], ledger.StatusRejected, ledger.CodeOpConflict)
	f.wantBalance("A1", "WIDGET", "", 307)
	f.checkConsistent()
}

// testClockJumpedBack: a device recorded with a clock that was ahead, and
// the clock was corrected (jumped back) before the push. The offset the
// push measures puts the operation in the future; it is a physical fact, so
// it posts at its receive time, and the result says so.
func testClockJumpedBack(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	op := at(receive("WIDGET", "A1", 7, "", ""), f.clock.Now().Add(3*time.Hour))
	ops := f.prepare(dev, op)
	ops[0].OccurredAt = f.clock.Now().Add(3 * time.Hour)
	resp, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(), Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results[0]
	if r.Status != ledger.StatusApplied || !strings.Contains(r.Message, "posted at the time it was received") {
		t.Fatalf("result %+v; want applied with a message", r)
	}
	f.wantBalance("A1", "WIDGET", "", 7)
	mv, err := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: ops[0].OpID})
	if err != nil || len(mv) != 1 || !mv[0].EffectiveAt.Equal(f.clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Fatalf("movements %+v, %v; want one at the receive time %s", mv, err, f.clock.Now())
	}
	f.checkConsistent()
}

// testClockJumpedBackFlagged: an operation posted at its receive time that
// also opens a review (a pick that takes the key below zero) still says
// that its time was moved: the review's message does not replace it.
func testClockJumpedBackFlagged(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	ops := f.prepare(dev, at(pick("WIDGET", "A1", 4, "", ""), f.clock.Now().Add(3*time.Hour)))
	resp, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(), Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results[0]
	if r.Status != ledger.StatusFlagged || r.Code != ledger.Code(ledger.ReviewNegativeStock) || !strings.Contains(r.Message, "posted at the time it was received") {
		t.Fatalf("result %+v; want flagged negative_stock, with a message that says it was posted at its receive time", r)
	}
	f.wantBalance("A1", "WIDGET", "", -4)
	mv, err := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: ops[0].OpID})
	if err != nil || len(mv) != 1 || !mv[0].EffectiveAt.Equal(f.clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Fatalf("movements %+v, %v; want one at the receive time %s", mv, err, f.clock.Now())
	}
	// The replay answers the same, message included.
	again, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(), Ops: ops})
	if err != nil || !again.Results[0].Replayed || again.Results[0].Message != r.Message {
		t.Fatalf("replay %+v (%v); first %+v", again.Results, err, r)
	}
	f.checkConsistent()
}
