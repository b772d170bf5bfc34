package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// copyThreshold is the row count from which bulk inserts use COPY. Below it
// one INSERT ... SELECT FROM unnest is cheaper: COPY costs an extra round
// trip to start, which only pays off once there are enough rows.
const copyThreshold = 16

const opColumns = `tenant_id, device_id, seq, op_id, kind, payload, payload_hash, received_at, effective_at, result, canonical, posted`

func scanOp(row pgx.CollectableRow) (ledger.OpRecord, error) {
	var o ledger.OpRecord
	var effective pgtype.Timestamptz
	var result []byte
	if err := row.Scan(id(&o.TenantID), id(&o.DeviceID), &o.Seq, id(&o.OpID), &o.Kind, &o.Payload, &o.PayloadHash,
		&o.ReceivedAt, &effective, &result, &o.Canonical, &o.Posted); err != nil {
		return o, err
	}
	o.EffectiveAt = timeOf(effective)
	if err := json.Unmarshal(result, &o.Result); err != nil {
		return o, fmt.Errorf("decode result of op %s: %w", o.OpID, err)
	}
	return o, nil
}

// LookupOps returns, in one query, every op log entry of the device with
// fromSeq <= seq <= toSeq and the canonical entries of any device of the
// tenant whose op_id is in opIDs, ordered by device and seq. The second
// branch leaves out what the first returned, so no entry comes twice.
func (r *readTx) LookupOps(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq int64, opIDs []uuid.UUID) ([]ledger.OpRecord, error) {
	rows, err := r.q.Query(ctx, `
		SELECT `+opColumns+` FROM ops
		WHERE tenant_id = $1 AND device_id = $2 AND seq BETWEEN $3 AND $4
		UNION ALL
		SELECT o.* FROM `+probe("$5::uuid[]")+` CROSS JOIN LATERAL (
			SELECT `+opColumns+` FROM ops WHERE tenant_id = $1 AND canonical AND op_id = q.v OFFSET 0) AS o
		WHERE NOT (o.device_id = $2 AND o.seq BETWEEN $3 AND $4)
		ORDER BY device_id, seq`,
		tenantID, deviceID, fromSeq, toSeq, opIDs)
	if err != nil {
		return nil, fmt.Errorf("lookup ops: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanOp)
	if err != nil {
		return nil, fmt.Errorf("lookup ops: %w", err)
	}
	return out, nil
}

// InsertOps appends entries to the op log. Returns CodeConflict if a
// device's seq, or a canonical op_id, is already taken.
func (w *writeTx) InsertOps(ctx context.Context, rows []ledger.OpRecord) error {
	if err := lockedRows(w, rows, func(r ledger.OpRecord) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	results := make([][]byte, len(rows))
	for i, o := range rows {
		b, err := jsonOf("op result", o.Result)
		if err != nil {
			return err
		}
		results[i] = b
	}
	if len(rows) >= copyThreshold {
		_, err := w.q.CopyFrom(ctx, pgx.Identifier{"ops"}, []string{
			"tenant_id", "device_id", "seq", "op_id", "kind", "payload", "payload_hash",
			"received_at", "effective_at", "result", "status", "canonical", "posted",
		}, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			o := &rows[i]
			return []any{o.TenantID, o.DeviceID, o.Seq, o.OpID, string(o.Kind), o.Payload, o.PayloadHash,
				o.ReceivedAt, nullTime(o.EffectiveAt), results[i], string(o.Result.Status), o.Canonical, o.Posted}, nil
		}))
		return uniqueError(err, "copy ops")
	}
	var (
		tenants   = make([]uuid.UUID, len(rows))
		devices   = make([]uuid.UUID, len(rows))
		seqs      = make([]int64, len(rows))
		opIDs     = make([]uuid.UUID, len(rows))
		kinds     = make([]string, len(rows))
		payloads  = make([][]byte, len(rows))
		hashes    = make([][]byte, len(rows))
		received  = make([]pgtype.Timestamptz, len(rows))
		effective = make([]pgtype.Timestamptz, len(rows))
		jsons     = make([]string, len(rows))
		statuses  = make([]string, len(rows))
		canonical = make([]bool, len(rows))
		posted    = make([]bool, len(rows))
	)
	for i, o := range rows {
		tenants[i], devices[i], seqs[i], opIDs[i], kinds[i] = o.TenantID, o.DeviceID, o.Seq, o.OpID, string(o.Kind)
		payloads[i], hashes[i] = o.Payload, o.PayloadHash
		received[i] = pgtype.Timestamptz{Time: o.ReceivedAt, Valid: true}
		effective[i] = nullTime(o.EffectiveAt)
		jsons[i], statuses[i], canonical[i], posted[i] = string(results[i]), string(o.Result.Status), o.Canonical, o.Posted
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO ops (tenant_id, device_id, seq, op_id, kind, payload, payload_hash, received_at, effective_at, result, status, canonical, posted)
		SELECT t, d, s, o, k, p, h, ra, ea, r::jsonb, st, c, po
		FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::bytea[], $7::bytea[],
		            $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::bool[], $13::bool[])
		     AS u(t, d, s, o, k, p, h, ra, ea, r, st, c, po)`,
		tenants, devices, seqs, opIDs, kinds, payloads, hashes, received, effective, jsons, statuses, canonical, posted)
	return uniqueError(err, "insert ops")
}

// MarkOpsPosted sets posted on the canonical op log entries with the IDs.
func (w *writeTx) MarkOpsPosted(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	if len(opIDs) == 0 {
		return nil
	}
	_, err := w.q.Exec(ctx, `UPDATE ops SET posted = true WHERE tenant_id = $1 AND canonical AND op_id = ANY($2) AND NOT posted`,
		tenantID, opIDs)
	if err != nil {
		return fmt.Errorf("mark ops posted: %w", err)
	}
	return nil
}

// InsertOpConflicts stores rejected operations whose seq was taken.
// Returns CodeConflict if a conflict ID is reused.
func (w *writeTx) InsertOpConflicts(ctx context.Context, rows []ledger.OpConflict) error {
	if err := lockedRows(w, rows, func(r ledger.OpConflict) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	var (
		tenants  = make([]uuid.UUID, len(rows))
		ids      = make([]uuid.UUID, len(rows))
		devices  = make([]uuid.UUID, len(rows))
		seqs     = make([]int64, len(rows))
		opIDs    = make([]uuid.UUID, len(rows))
		kinds    = make([]string, len(rows))
		payloads = make([][]byte, len(rows))
		hashes   = make([][]byte, len(rows))
		received = make([]pgtype.Timestamptz, len(rows))
		jsons    = make([]string, len(rows))
		statuses = make([]string, len(rows))
	)
	for i, c := range rows {
		b, err := jsonOf("op conflict result", c.Result)
		if err != nil {
			return err
		}
		tenants[i], ids[i], devices[i], seqs[i], opIDs[i] = c.TenantID, c.ID, c.DeviceID, c.Seq, c.OpID
		kinds[i] = payloadKind(c.Payload)
		payloads[i], hashes[i] = c.Payload, c.PayloadHash
		received[i] = pgtype.Timestamptz{Time: c.ReceivedAt, Valid: true}
		jsons[i], statuses[i] = string(b), string(c.Result.Status)
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO op_conflicts (tenant_id, conflict_id, device_id, seq, op_id, kind, payload, payload_hash, received_at, result, status)
		SELECT t, i, d, s, o, k, p, h, ra, r::jsonb, st
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::uuid[], $6::text[], $7::bytea[], $8::bytea[],
		            $9::timestamptz[], $10::text[], $11::text[])
		     AS u(t, i, d, s, o, k, p, h, ra, r, st)`,
		tenants, ids, devices, seqs, opIDs, kinds, payloads, hashes, received, jsons, statuses)
	return uniqueError(err, "insert op conflicts")
}

// payloadKind reads the kind out of a conflicting operation's payload, so
// the op log can show it; "" when the payload has none.
func payloadKind(payload []byte) string {
	var p struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(payload, &p) // a payload without a readable kind shows none
	return p.Kind
}

// QueryOpLog returns op log entries and the op conflicts beside them,
// filtered by device, status and AfterSeq, ordered by device and seq, each
// conflict after the canonical entry of its seq (and conflicts of one seq
// by receive time).
func (r *readTx) QueryOpLog(ctx context.Context, tenantID uuid.UUID, f ledger.OpLogFilter) ([]ledger.OpLogEntry, error) {
	args := []any{tenantID}
	var where strings.Builder
	add := func(cond string, v any) {
		args = append(args, v)
		where.WriteString(" AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.DeviceID != uuid.Nil {
		add("device_id = ?", f.DeviceID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	sql := `
		SELECT tenant_id, device_id, seq, op_id, kind, payload, payload_hash, received_at, effective_at, result,
		       canonical, posted, false AS conflict, NULL::uuid AS conflict_id
		FROM ops WHERE tenant_id = $1` + where.String() + `
		UNION ALL
		SELECT tenant_id, device_id, seq, op_id, kind, payload, payload_hash, received_at, NULL, result,
		       false, false, true, conflict_id
		FROM op_conflicts WHERE tenant_id = $1` + where.String() + `
		ORDER BY device_id, seq, conflict, received_at, conflict_id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		sql += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query op log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.OpLogEntry, error) {
		var e ledger.OpLogEntry
		var effective pgtype.Timestamptz
		var result []byte
		var conflictID pgtype.UUID
		if err := row.Scan(id(&e.TenantID), id(&e.DeviceID), &e.Seq, id(&e.OpID), &e.Kind, &e.Payload, &e.PayloadHash,
			&e.ReceivedAt, &effective, &result, &e.Canonical, &e.Posted, &e.Conflict, &conflictID); err != nil {
			return e, err
		}
		e.EffectiveAt = timeOf(effective)
		if err := json.Unmarshal(result, &e.Result); err != nil {
			return e, fmt.Errorf("decode result of op %s: %w", e.OpID, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query op log: %w", err)
	}
	return out, nil
}
