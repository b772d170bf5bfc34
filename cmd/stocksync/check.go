package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// checkReport is what check found, and the shape of --json output.
type checkReport struct {
	OK             bool               `json:"ok"`
	TenantsChecked int                `json:"tenants_checked"`
	Discrepancies  []checkDiscrepancy `json:"discrepancies"`
}

// checkDiscrepancy is a ledger.Discrepancy with its tenant and the
// human-readable names of its key.
type checkDiscrepancy struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	Tenant     string    `json:"tenant"`
	Kind       string    `json:"kind"`
	LocationID uuid.UUID `json:"location_id,omitzero"`
	Location   string    `json:"location,omitempty"`
	ItemID     uuid.UUID `json:"item_id,omitzero"`
	SKU        string    `json:"sku,omitempty"`
	BatchID    uuid.UUID `json:"batch_id,omitzero"`
	Batch      string    `json:"batch,omitempty"`
	OpID       uuid.UUID `json:"op_id,omitzero"`
	Want       int64     `json:"want"`
	Got        int64     `json:"got"`
	Message    string    `json:"message"`
}

// runCheck verifies the ledger of one tenant (--tenant) or of every tenant,
// prints what it found, and returns an *ExitError with ExitFailure when it
// found any discrepancy.
func (m *Main) runCheck(ctx context.Context) error {
	if _, err := m.open(ctx, true); err != nil {
		return err
	}
	var tenants []ledger.Tenant
	if m.Tenant != "" {
		t, err := m.ledger.TenantBySlug(ctx, m.Tenant)
		if err != nil {
			if ledger.ErrorCode(err) == ledger.CodeNotFound {
				return fmt.Errorf("check: no tenant with slug %q", m.Tenant)
			}
			return fmt.Errorf("check: find tenant %q: %w", m.Tenant, err)
		}
		tenants = []ledger.Tenant{t}
	} else {
		var err error
		if tenants, err = m.ledger.Tenants(ctx); err != nil {
			return fmt.Errorf("check: list tenants: %w", err)
		}
	}

	// One Check per tenant rather than one Check(uuid.Nil): a Discrepancy
	// does not name its tenant, and the report must.
	rep := checkReport{TenantsChecked: len(tenants), Discrepancies: []checkDiscrepancy{}}
	for _, t := range tenants {
		ds, err := m.ledger.Check(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("check tenant %s: %w", t.Slug, err)
		}
		named, err := m.nameDiscrepancies(ctx, t, ds)
		if err != nil {
			return fmt.Errorf("check tenant %s: %w", t.Slug, err)
		}
		rep.Discrepancies = append(rep.Discrepancies, named...)
		m.Logger.Debug("checked tenant", "tenant", t.Slug, "discrepancies", len(ds))
	}
	rep.OK = len(rep.Discrepancies) == 0

	if m.JSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		m.printCheck(rep)
	}
	if !rep.OK {
		n := len(rep.Discrepancies)
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("check: %d %s found", n, plural(n, "discrepancy", "discrepancies"))}
	}
	return nil
}

func (m *Main) printCheck(rep checkReport) {
	w := m.Stdout
	if rep.OK {
		fmt.Fprintf(w, "ok: %d %s checked, no discrepancies\n", rep.TenantsChecked, plural(rep.TenantsChecked, "tenant", "tenants"))
		return
	}
	n := len(rep.Discrepancies)
	fmt.Fprintf(w, "FAIL: %d %s in %d %s checked\n", n, plural(n, "discrepancy", "discrepancies"),
		rep.TenantsChecked, plural(rep.TenantsChecked, "tenant", "tenants"))
	for _, d := range rep.Discrepancies {
		fmt.Fprintf(w, "\n%s  tenant %s (%s)\n", d.Kind, d.Tenant, d.TenantID)
		if key := keyString(d); key != "" {
			fmt.Fprintf(w, "  key:     %s\n", key)
		}
		if d.OpID != uuid.Nil {
			fmt.Fprintf(w, "  op:      %s\n", d.OpID)
		}
		fmt.Fprintf(w, "  want:    %d\n  got:     %d\n", d.Want, d.Got)
		if d.Message != "" {
			fmt.Fprintf(w, "  message: %s\n", d.Message)
		}
	}
}

// keyString writes a key as names with IDs, e.g.
// "location A-01-01 (0193...), item BOLT-M8 (0193...), no batch".
func keyString(d checkDiscrepancy) string {
	if d.LocationID == uuid.Nil && d.ItemID == uuid.Nil && d.BatchID == uuid.Nil {
		return ""
	}
	part := func(what, name string, id uuid.UUID) string {
		if name == "" {
			name = "?"
		}
		return fmt.Sprintf("%s %s (%s)", what, name, id)
	}
	parts := []string{part("location", d.Location, d.LocationID), part("item", d.SKU, d.ItemID)}
	if d.BatchID == ledger.NoBatch {
		parts = append(parts, "no batch")
	} else {
		parts = append(parts, part("batch", d.Batch, d.BatchID))
	}
	return strings.Join(parts, ", ")
}

// nameDiscrepancies looks up the location code, SKU and batch code of each
// discrepancy's key, so a person can find the shelf.
func (m *Main) nameDiscrepancies(ctx context.Context, t ledger.Tenant, ds []ledger.Discrepancy) ([]checkDiscrepancy, error) {
	out := make([]checkDiscrepancy, len(ds))
	if len(ds) == 0 {
		return out, nil
	}
	var locIDs, itemIDs, batchIDs []uuid.UUID
	for i, d := range ds {
		out[i] = checkDiscrepancy{TenantID: t.ID, Tenant: t.Slug, Kind: d.Kind,
			LocationID: d.Key.LocationID, ItemID: d.Key.ItemID, BatchID: d.Key.BatchID,
			OpID: d.OpID, Want: d.Want, Got: d.Got, Message: d.Message}
		if d.Key.LocationID != uuid.Nil {
			locIDs = append(locIDs, d.Key.LocationID)
		}
		if d.Key.ItemID != uuid.Nil {
			itemIDs = append(itemIDs, d.Key.ItemID)
		}
		if d.Key.BatchID != ledger.NoBatch {
			batchIDs = append(batchIDs, d.Key.BatchID)
		}
	}
	locs, items, batches := map[uuid.UUID]string{}, map[uuid.UUID]string{}, map[uuid.UUID]string{}
	err := m.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		ls, err := tx.LocationsByID(ctx, t.ID, locIDs)
		if err != nil {
			return err
		}
		for _, l := range ls {
			locs[l.ID] = l.Code
		}
		its, err := tx.ItemsByID(ctx, t.ID, itemIDs)
		if err != nil {
			return err
		}
		for _, it := range its {
			items[it.ID] = it.SKU
		}
		bs, err := tx.BatchesByID(ctx, t.ID, batchIDs)
		if err != nil {
			return err
		}
		for _, b := range bs {
			batches[b.ID] = b.Code
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up names of discrepancy keys: %w", err)
	}
	for i := range out {
		out[i].Location = locs[out[i].LocationID]
		out[i].SKU = items[out[i].ItemID]
		out[i].Batch = batches[out[i].BatchID]
	}
	return out, nil
}
