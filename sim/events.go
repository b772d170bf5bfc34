package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// dbSuffixes are the files of one SQLite database: the database and, when
// they exist, its write-ahead log and shared-memory index.
var dbSuffixes = []string{"", "-wal", "-shm"}

// backupOrRestore either takes a backup of the device (its database
// files, copied while it is closed, as a phone backup of a stopped app
// would) or, when it has one, restores it over the device: everything
// recorded since is gone from the device, and the device's seq falls
// behind what the server acknowledged.
func (r *run) backupOrRestore(ctx context.Context, d *device) error {
	if err := d.c.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.name, err)
	}
	if d.backup == "" || r.rng.IntN(3) == 0 {
		r.faults[FaultBackup]++
		d.backup = d.path + ".backup"
		if err := copyDB(d.path, d.backup); err != nil {
			return fmt.Errorf("back up %s: %w", d.name, err)
		}
		d.backupOps = len(d.recorded)
		return r.reopen(ctx, d, "a backup")
	}
	r.faults[FaultRestore]++
	if err := copyDB(d.backup, d.path); err != nil {
		return fmt.Errorf("restore %s: %w", d.name, err)
	}
	lost := d.recorded[d.backupOps:]
	r.faults[FaultRestoreLost] += len(lost)
	d.lost = append(d.lost, lost...)
	d.recorded = slices.Clone(d.recorded[:d.backupOps])
	d.restores++
	return r.reopen(ctx, d, "a restore from backup")
}

// copyDB copies a closed SQLite database's files from src to dst; a
// file src lacks is removed at dst, so no stale log is replayed over
// the copy.
func copyDB(src, dst string) error {
	for _, suffix := range dbSuffixes {
		b, err := os.ReadFile(src + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// decide is a manager deciding one open review of a random tenant through
// ledger.ResolveReview, with one of the review's suggested resolutions.
// The store may fail the decision like any other write; a decision the
// ledger refuses without an injected fault is a problem.
func (r *run) decide(ctx context.Context) error {
	t := r.tenants[r.rng.IntN(len(r.tenants))]
	open, err := r.l.Reviews(ctx, t.id, ledger.ReviewFilter{Status: ledger.ReviewOpen})
	if err != nil {
		return fmt.Errorf("list reviews: %w", err)
	}
	open = slices.DeleteFunc(open, func(x ledger.Review) bool { return len(x.Suggestions) == 0 })
	if len(open) == 0 {
		return nil
	}
	// Review IDs and op IDs are random: order by what the seed decides.
	label := r.opLabels(t)
	key := func(x ledger.Review) string {
		return fmt.Sprintf("%s|%s|%s|%s|%s|%s", x.Kind, label[x.OpID], x.Evidence.Location, x.Evidence.SKU, x.Evidence.Batch, x.Order)
	}
	slices.SortFunc(open, func(a, b ledger.Review) int { return cmp.Compare(key(a), key(b)) })
	rv := open[r.rng.IntN(len(open))]
	sg := rv.Suggestions[r.rng.IntN(len(rv.Suggestions))]
	r.faults[EventDecision]++
	before := r.faults.Total()
	_, err = r.l.ResolveReview(ctx, t.id, rv.ID, ledger.Resolution{
		Action: sg.Action, Batch: sg.Batch, Qty: sg.Qty, SKU: sg.SKU, Location: sg.Location,
		By: "sim-manager", Note: "simulated decision: " + sg.Label,
	})
	r.decided = append(r.decided, rv.ID)
	if err != nil && r.faults.Total() == before {
		r.problemf("t%d: resolving review %s (%s) with its suggestion %+v failed: %v", t.idx, rv.ID, key(rv), sg, err)
	}
	return nil
}

// opLabels names each operation of the tenant's devices by device and
// recording order, which the seed fixes (op IDs are random).
func (r *run) opLabels(t *tenant) map[uuid.UUID]string {
	out := map[uuid.UUID]string{}
	for _, d := range t.devices {
		for i, rec := range d.recorded {
			out[rec.opID] = fmt.Sprintf("d%d#%d", d.idx, i)
		}
		for i, rec := range d.lost {
			out[rec.opID] = fmt.Sprintf("d%d-lost#%d", d.idx, i)
		}
	}
	return out
}
