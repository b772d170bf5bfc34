package server

import (
	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// Conversions between the ledger's domain types and the sync protocol's
// wire types. They are field-by-field on purpose: the two may drift apart
// (a field the ledger adds need not go on the wire), and the compiler
// then points here.

func opFromWire(op syncproto.Op) ledger.Operation {
	return ledger.Operation{
		OpID: op.OpID, Seq: op.Seq, Kind: ledger.Kind(op.Kind), OccurredAt: op.OccurredAt,
		SKU: op.SKU, Barcode: op.Barcode, Batch: op.Batch, Expiry: op.Expiry, Qty: op.Qty,
		Location: op.Location, ToLocation: op.ToLocation, Order: op.Order, Ref: op.Ref,
		Reason: op.Reason, ExchangeOf: op.ExchangeOf, Actor: op.Actor, Note: op.Note,
	}
}

func opToWire(op ledger.Operation) syncproto.Op {
	return syncproto.Op{
		OpID: op.OpID, Seq: op.Seq, Kind: string(op.Kind), OccurredAt: op.OccurredAt,
		SKU: op.SKU, Barcode: op.Barcode, Batch: op.Batch, Expiry: op.Expiry, Qty: op.Qty,
		Location: op.Location, ToLocation: op.ToLocation, Order: op.Order, Ref: op.Ref,
		Reason: op.Reason, ExchangeOf: op.ExchangeOf, Actor: op.Actor, Note: op.Note,
	}
}

func mergeRequestFromWire(tenantID uuid.UUID, req syncproto.PushRequest) ledger.MergeRequest {
	ops := make([]ledger.Operation, len(req.Ops))
	for i, op := range req.Ops {
		ops[i] = opFromWire(op)
	}
	return ledger.MergeRequest{TenantID: tenantID, DeviceID: req.DeviceID, DeviceTime: req.DeviceTime, Ops: ops}
}

func resultToWire(r ledger.Result) syncproto.Result {
	w := syncproto.Result{
		OpID: r.OpID, Seq: r.Seq, Status: syncproto.Status(r.Status), Code: syncproto.Code(r.Code),
		Message: r.Message, Batch: r.Batch, Replayed: r.Replayed,
	}
	if len(r.ReviewIDs) > 0 {
		id := r.ReviewIDs[0]
		w.ReviewID = &id
		w.ReviewIDs = append([]uuid.UUID(nil), r.ReviewIDs...)
	}
	for _, a := range r.Allocations {
		w.Allocations = append(w.Allocations, syncproto.Allocation{Batch: a.Batch, Qty: a.Qty})
	}
	return w
}

func pushResponseToWire(m ledger.MergeResponse) syncproto.PushResponse {
	out := syncproto.PushResponse{AckedSeq: m.AckedSeq, ServerTime: m.ServerTime, Results: make([]syncproto.Result, len(m.Results))}
	for i, r := range m.Results {
		out.Results[i] = resultToWire(r)
	}
	return out
}

// pullPageToWire converts a page of a device's pull feed. Every list is
// non-nil so a client sees [] rather than null.
func pullPageToWire(p ledger.PullPage, deviceID uuid.UUID) syncproto.PullResponse {
	out := syncproto.PullResponse{
		LedgerID: p.LedgerID.String(), Cursor: p.Cursor, More: p.More, Reset: p.Reset, AckedSeq: p.AckedSeq,
		Warehouse: syncproto.Warehouse{Code: p.Warehouse.Code, Name: p.Warehouse.Name},
		Items:     make([]syncproto.Item, 0, len(p.Items)),
		Locations: make([]syncproto.Location, 0, len(p.Locations)),
		Batches:   make([]syncproto.Batch, 0, len(p.Batches)),
		Balances:  make([]syncproto.Balance, 0, len(p.Balances)),
		Decisions: make([]syncproto.Decision, 0, len(p.Reviews)),
	}
	for _, it := range p.Items {
		out.Items = append(out.Items, syncproto.Item{SKU: it.SKU, Name: it.Name, Unit: it.Unit,
			Barcodes: append([]string{}, it.Barcodes...), BatchTracked: it.BatchTracked, ExpiryTracked: it.ExpiryTracked})
	}
	for _, l := range p.Locations {
		out.Locations = append(out.Locations, syncproto.Location{Code: l.Code})
	}
	for _, b := range p.Batches {
		out.Batches = append(out.Batches, syncproto.Batch{SKU: b.SKU, Code: b.Code, Expiry: ledger.FormatDate(b.Expiry)})
	}
	for _, b := range p.Balances {
		out.Balances = append(out.Balances, syncproto.Balance{Location: b.Location, SKU: b.SKU, Batch: b.Batch, OnHand: b.OnHand})
	}
	for _, r := range p.Reviews {
		out.Decisions = append(out.Decisions, decisionToWire(r, deviceID))
	}
	return out
}

// decisionToWire tells a device about a review that involves its
// operations, naming only its own operations: another device's op_ids
// mean nothing to it.
func decisionToWire(r ledger.Review, deviceID uuid.UUID) syncproto.Decision {
	d := syncproto.Decision{ReviewID: r.ID, Kind: string(r.Kind), Status: string(r.Status), OpIDs: []uuid.UUID{}}
	for _, o := range r.Ops {
		if o.DeviceID == deviceID {
			d.OpIDs = append(d.OpIDs, o.OpID)
		}
	}
	if res := r.Resolution; res != nil {
		at := res.At
		d.Action, d.Note, d.DecidedBy, d.DecidedAt = string(res.Action), res.Note, res.By, &at
	}
	return d
}

func enrollResponseToWire(e ledger.Enrollment) syncproto.EnrollResponse {
	return syncproto.EnrollResponse{DeviceID: e.Device.ID, Token: e.Token, Warehouse: e.Warehouse.Code,
		BatchPrefix: e.Device.BatchPrefix, LedgerID: e.LedgerID.String()}
}
