package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// SyncOptions configure one Sync.
type SyncOptions struct {
	// Progress, when set, is called after every push and every pull page,
	// on the goroutine that called Sync, for a progress bar.
	Progress func(Progress)
}

// Sync phases, in Progress.Phase.
const (
	PhasePush = "push"
	PhasePull = "pull"
)

// Progress is how far a Sync got.
type Progress struct {
	Phase string `json:"phase"`
	// Sent is the operations the server has acknowledged in this Sync;
	// Total is Sent plus what is still to send.
	Sent  int `json:"sent"`
	Total int `json:"total"`
	// Pulled is the rows pulled so far in this Sync.
	Pulled int `json:"pulled"`
}

// SyncReport is what one Sync did. It is filled as far as the Sync got,
// also when it fails.
type SyncReport struct {
	// Pushed is the operations acknowledged with a result in this Sync,
	// counted again by status.
	Pushed   int `json:"pushed"`
	Applied  int `json:"applied"`
	Flagged  int `json:"flagged"`
	Held     int `json:"held"`
	Rejected int `json:"rejected"`
	// Replayed is how many of them the server already had (a lost answer,
	// a restore): their stored result came back, nothing was posted twice.
	Replayed int `json:"replayed"`
	// Pulled is the rows pulled: items, batches, locations, balances and
	// decisions; Pages the pull requests answered.
	Pulled int `json:"pulled"`
	Pages  int `json:"pages"`
	// Attempts is every HTTP request sent, retries included.
	Attempts int `json:"attempts"`
	// Renumbered is the pending operations given new seqs because the
	// device was restored from a backup (seq_behind).
	Renumbered int `json:"renumbered,omitempty"`
	// Resent is the acknowledged operations sent again because the server
	// asked for them (seq_gap) or no longer had them.
	Resent int `json:"resent,omitempty"`
	// LedgerChanged is true when the server's ledger was replaced and the
	// device downloaded its scope again; Reset when a full download
	// replaced the pulled data.
	LedgerChanged bool `json:"ledger_changed,omitempty"`
	Reset         bool `json:"reset,omitempty"`
	// Pending is the operations still waiting for the server afterwards.
	Pending  int   `json:"pending"`
	AckedSeq int64 `json:"acked_seq"`
}

// Problems is how many pushed operations came back flagged, held or
// rejected.
func (r SyncReport) Problems() int { return r.Flagged + r.Held + r.Rejected }

// maxRecoveries bounds the seq_gap, seq_behind and ledger restarts of one
// Sync, so a server that keeps contradicting itself cannot loop it forever.
const maxRecoveries = 8

// Sync pushes every pending operation and stores each result, then pulls
// until the server has nothing more, following the sync loop of
// docs/protocol.md. Syncs run one at a time; a second waits for the first.
//
// Nothing is ever dropped: whatever fails, the operations stay in the
// outbox for the next Sync. The error is ErrNotEnrolled, a
// *syncproto.Error (use ErrorCode) when the server refused the device for
// good (CodeUnauthorized: revoked or unknown token; CodeUnsupportedProtocol:
// the app must be updated; CodeForbidden, CodeInvalid: a client bug) or
// kept failing after Options.MaxAttempts, a network error after as many
// attempts, or ctx's error. The outcome is also kept for Status.
func (c *Client) Sync(ctx context.Context, so SyncOptions) (SyncReport, error) {
	var rep SyncReport
	select {
	case c.syncSlot <- struct{}{}:
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	defer func() { <-c.syncSlot }()

	st, err := c.loadState(ctx)
	if err != nil {
		return rep, err
	}
	if !st.enrolled() {
		return rep, ErrNotEnrolled
	}
	deviceID, err := uuid.Parse(st.DeviceID)
	if err != nil {
		return rep, fmt.Errorf("stored device id %q: %w", st.DeviceID, err)
	}
	if err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE device_state SET last_attempt_at = ? WHERE id = 1`, micros(c.now()))
		return err
	}); err != nil {
		return rep, err
	}
	run := &syncRun{c: c, server: st.ServerURL, token: st.Token, deviceID: deviceID,
		chunkSize: c.opts.ChunkSize, progress: so.Progress, rep: &rep}
	err = run.run(ctx)
	// The outcome is stored even when ctx was cancelled: Status must say
	// why the last sync did not finish.
	if oerr := c.storeOutcome(context.WithoutCancel(ctx), err, &rep); oerr != nil && err == nil {
		err = oerr
	}
	return rep, err
}

func (c *Client) storeOutcome(ctx context.Context, syncErr error, rep *SyncReport) error {
	return c.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ops WHERE acked = 0`).Scan(&rep.Pending); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT acked_seq FROM device_state WHERE id = 1`).Scan(&rep.AckedSeq); err != nil {
			return err
		}
		if syncErr == nil {
			_, err := tx.ExecContext(ctx, `UPDATE device_state SET last_sync_at = ?, last_error = '', last_error_code = '' WHERE id = 1`, micros(c.now()))
			return err
		}
		code := string(ErrorCode(syncErr))
		switch {
		case code != "":
		case errors.Is(syncErr, context.Canceled), errors.Is(syncErr, context.DeadlineExceeded):
			code = "canceled"
		default:
			code = "network"
		}
		_, err := tx.ExecContext(ctx, `UPDATE device_state SET last_error = ?, last_error_code = ? WHERE id = 1`, syncErr.Error(), code)
		return err
	})
}

// syncRun is the state of one Sync.
type syncRun struct {
	c         *Client
	server    string
	token     string
	deviceID  uuid.UUID
	chunkSize int
	progress  func(Progress)
	rep       *SyncReport

	recoveries int
	sent       int
}

func (s *syncRun) run(ctx context.Context) error {
	// A second round runs only when the pull revealed that the server
	// lost operations it had acknowledged (restored from a backup): they
	// are pushed again at once rather than at the next Sync.
	for round := 0; ; round++ {
		if err := s.push(ctx); err != nil {
			return err
		}
		lost, err := s.pull(ctx)
		if err != nil {
			return err
		}
		if !lost || round > 0 {
			return nil
		}
	}
}

func (s *syncRun) recover(what string) error {
	s.recoveries++
	if s.recoveries > maxRecoveries {
		return fmt.Errorf("sync gave up after %d recoveries (last: %s): the server keeps contradicting the device", maxRecoveries, what)
	}
	return nil
}

func (s *syncRun) report(p Progress) {
	if s.progress != nil {
		s.progress(p)
	}
}

// push sends the outbox in chunks until nothing is pending.
func (s *syncRun) push(ctx context.Context) error {
	for {
		ch, err := s.c.nextChunk(ctx, s.chunkSize)
		if err != nil {
			return err
		}
		if len(ch.ops) == 0 {
			return nil
		}
		s.report(Progress{Phase: PhasePush, Sent: s.sent, Total: s.sent + ch.pending})
		resp, err := s.pushChunk(ctx, ch)
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			switch pe.Code {
			case syncproto.CodeSeqGap:
				if pe.AckedSeq == nil {
					return fmt.Errorf("push: seq_gap without acked_seq: %w", err)
				}
				if err := s.recover("seq_gap"); err != nil {
					return err
				}
				n, err := s.c.rewind(ctx, *pe.AckedSeq)
				if err != nil {
					return err
				}
				s.rep.Resent += n
				s.c.log.Info("server asked for operations again (seq_gap)", slog.Int64("acked_seq", *pe.AckedSeq), slog.Int("resent", n))
				continue
			case syncproto.CodeSeqBehind:
				if pe.AckedSeq == nil {
					return fmt.Errorf("push: seq_behind without acked_seq: %w", err)
				}
				if err := s.recover("seq_behind"); err != nil {
					return err
				}
				n, err := s.c.renumber(ctx, *pe.AckedSeq)
				if err != nil {
					return err
				}
				s.rep.Renumbered += n
				s.c.log.Warn("device restored from a backup: pending operations renumbered (seq_behind)",
					slog.Int64("acked_seq", *pe.AckedSeq), slog.Int("renumbered", n))
				continue
			case syncproto.CodeTooLarge:
				if len(ch.ops) == 1 {
					return fmt.Errorf("push: the server refuses even a single operation (seq %d) as too large: %w", ch.ops[0].Seq, err)
				}
				s.chunkSize = max(1, len(ch.ops)/2)
				s.c.log.Info("push too large, halving the chunk", slog.Int("ops", s.chunkSize))
				continue
			}
		}
		if err != nil {
			return err
		}
		n, err := s.c.storeResults(ctx, ch.ops, resp, s.rep)
		if err != nil {
			return err
		}
		if n == 0 {
			// Without a result nothing can be marked sent, and pushing the
			// same chunk again would loop.
			return fmt.Errorf("push: the server answered none of %d operations (seq %d to %d)", len(ch.ops), ch.ops[0].Seq, ch.ops[len(ch.ops)-1].Seq)
		}
		s.sent += n
		s.report(Progress{Phase: PhasePush, Sent: s.sent, Total: s.sent + ch.pending - n})
	}
}

// chunk is the next push: pending operations with contiguous seqs, and the
// backlog to report with it.
type chunk struct {
	ops     []syncproto.Op
	pending int
	backlog syncproto.Backlog
}

// envelopeBytes is room for the push's own fields around the operations.
const envelopeBytes = 256

// nextChunk reads up to limit pending operations, in seq order, stopping at
// a gap in the seqs (a push must be contiguous) and before the encoded
// push would pass syncproto.MaxBodyBytes (the server's limit applies after
// decompression, so the uncompressed size counts).
func (c *Client) nextChunk(ctx context.Context, limit int) (chunk, error) {
	var ch chunk
	err := c.read(ctx, func(tx *sql.Tx) error {
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), min(recorded_at) FROM ops WHERE acked = 0`).Scan(&ch.pending, &oldest); err != nil {
			return err
		}
		ch.backlog = syncproto.Backlog{Pending: int64(ch.pending), AckedSeq: st.AckedSeq, AppVersion: c.opts.AppVersion}
		if oldest.Valid {
			ch.backlog.OldestUnsent = max(c.now().Sub(fromMicros(oldest.Int64)), 0)
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, payload FROM ops WHERE acked = 0 ORDER BY seq LIMIT ?`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		size := envelopeBytes
		for rows.Next() {
			var seq int64
			var payload string
			if err := rows.Scan(&seq, &payload); err != nil {
				return err
			}
			var op syncproto.Op
			if err := json.Unmarshal([]byte(payload), &op); err != nil {
				return fmt.Errorf("stored op at seq %d: %w", seq, err)
			}
			op.Seq = seq
			if n := len(ch.ops); n > 0 && ch.ops[n-1].Seq+1 != seq {
				break
			}
			// The payload plus its seq field and a comma.
			size += len(payload) + len(`"seq":,`) + len(strconv.FormatInt(seq, 10)) + 1
			if size > c.maxPushBytes && len(ch.ops) > 0 {
				break
			}
			ch.ops = append(ch.ops, op)
		}
		return rows.Err()
	})
	if err != nil {
		return chunk{}, fmt.Errorf("read the outbox: %w", err)
	}
	return ch, nil
}

func (s *syncRun) pushChunk(ctx context.Context, ch chunk) (syncproto.PushResponse, error) {
	var resp syncproto.PushResponse
	body, err := syncproto.Encode(syncproto.PushRequest{DeviceID: s.deviceID, DeviceTime: s.c.now(), Ops: ch.ops})
	if err != nil {
		return resp, err
	}
	now := micros(s.c.now())
	if err := s.c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE ops SET sent_at = ?, send_count = send_count + 1 WHERE seq BETWEEN ? AND ? AND acked = 0`,
			now, ch.ops[0].Seq, ch.ops[len(ch.ops)-1].Seq)
		return err
	}); err != nil {
		return resp, fmt.Errorf("mark ops sent: %w", err)
	}
	err = s.c.retrying(ctx, s.server, request{method: "POST", path: "/v1/sync/push", token: s.token,
		backlog: &ch.backlog, body: body, out: &resp}, &s.rep.Attempts)
	if err != nil {
		return resp, fmt.Errorf("push %d operations (seq %d to %d): %w", len(ch.ops), ch.ops[0].Seq, ch.ops[len(ch.ops)-1].Seq, err)
	}
	return resp, nil
}

// storeResults stores every result of a push and marks its operation
// acknowledged, with the server's acked_seq, in one transaction: a crash
// half-way leaves the outbox as it was, and the push is replayed.
func (c *Client) storeResults(ctx context.Context, sent []syncproto.Op, resp syncproto.PushResponse, rep *SyncReport) (int, error) {
	ours := make(map[uuid.UUID]bool, len(sent))
	for _, op := range sent {
		ours[op.OpID] = true
	}
	var counts SyncReport
	stored := 0
	err := c.write(ctx, func(tx *sql.Tx) error {
		counts, stored = SyncReport{}, 0
		now := micros(c.now())
		for _, r := range resp.Results {
			if !ours[r.OpID] {
				c.log.Warn("push answered an operation it was not sent; ignored", slog.String("op_id", r.OpID.String()))
				continue
			}
			reviewIDs := nonNil(r.ReviewIDs)
			if len(reviewIDs) == 0 && r.ReviewID != nil {
				reviewIDs = []uuid.UUID{*r.ReviewID}
			}
			rids, err := json.Marshal(reviewIDs)
			if err != nil {
				return err
			}
			allocs, err := json.Marshal(nonNil(r.Allocations))
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE ops SET acked = 1, acked_at = ?, status = ?, code = ?, message = ?,
					review_ids = ?, result_batch = ?, allocations = ?, replayed = ?
				WHERE op_id = ?`,
				now, string(r.Status), string(r.Code), r.Message, string(rids), r.Batch, string(allocs), r.Replayed, r.OpID.String())
			if err != nil {
				return fmt.Errorf("store result of %s: %w", r.OpID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			stored++
			switch r.Status {
			case syncproto.StatusApplied:
				counts.Applied++
			case syncproto.StatusFlagged:
				counts.Flagged++
			case syncproto.StatusHeld:
				counts.Held++
			case syncproto.StatusRejected:
				counts.Rejected++
			}
			if r.Replayed {
				counts.Replayed++
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_state SET acked_seq = ? WHERE id = 1`, resp.AckedSeq); err != nil {
			return err
		}
		// The device reports this acked_seq from now on, so the server
		// can no longer tell a pending operation under a seq up to it
		// (recorded after a restore, behind a chunk of replays) from a
		// client bug: it would reject it as op_conflict. Such operations
		// move past it now, as after a pull.
		return moveSeqsPast(ctx, tx, resp.AckedSeq)
	})
	if err != nil {
		return 0, fmt.Errorf("store push results: %w", err)
	}
	rep.Pushed += stored
	rep.Applied += counts.Applied
	rep.Flagged += counts.Flagged
	rep.Held += counts.Held
	rep.Rejected += counts.Rejected
	rep.Replayed += counts.Replayed
	return stored, nil
}

// rewind answers seq_gap: the server's acked_seq is below what the device
// believed (the server was restored from a backup), so every operation
// after it is pending again. Their old results stay until new ones arrive.
//
// When the device has no operation under acked+1 (its seqs jumped past
// ones it forgot in a restore of its own, and the server has lost them
// too), the pending operations are renumbered from acked+1, keeping their
// op_ids and order, and the seq counter follows them: nothing else can
// fill the gap the server asks for, and neither side holds the seqs after.
//
// The pull cursor goes too: it may name a position in the history the
// server lost, which the restored server cannot tell from its own once it
// has committed as far, so the next pull is a full download.
func (c *Client) rewind(ctx context.Context, acked int64) (int, error) {
	var n int64
	err := c.write(ctx, func(tx *sql.Tx) error {
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ops WHERE seq = ?`, acked+1).Scan(&have); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE ops SET acked = 0 WHERE seq > ? AND acked = 1`, acked)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `UPDATE device_state SET acked_seq = ?, cursor = '', round_acked_seq = -1 WHERE id = 1`, acked); err != nil {
			return err
		}
		if have > 0 {
			return nil
		}
		c.log.Warn("the server lost operations this device no longer has either; renumbering pending operations after its acked seq",
			slog.Int64("acked_seq", acked))
		pending, err := renumberPending(ctx, tx, acked)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_state SET next_seq = ? WHERE id = 1`, acked+int64(pending)+1)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("resend after seq_gap: %w", err)
	}
	return int(n), nil
}

// renumberShift moves pending seqs out of the way while they are
// renumbered, so the UNIQUE seq never sees two operations at one number.
const renumberShift = 1_000_000_000_000

// renumber answers seq_behind: the device was restored from a backup and
// forgot operations the server acknowledged, so its pending operations
// would collide with seqs the server already holds. They move, in order and
// with their op_ids, to acked+1 onward, and the seq counter moves past
// them. Operations the server already had come back as replays.
func (c *Client) renumber(ctx context.Context, acked int64) (int, error) {
	var n int
	err := c.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = renumberPending(ctx, tx, acked)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("renumber after seq_behind: %w", err)
	}
	return n, nil
}

// renumberPending moves every pending operation, in seq order, to acked+1
// onward and the seq counter past them, returning how many moved.
func renumberPending(ctx context.Context, tx *sql.Tx, acked int64) (int, error) {
	st, err := loadState(ctx, tx)
	if err != nil {
		return 0, err
	}
	var maxAcked int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM ops WHERE acked = 1`).Scan(&maxAcked); err != nil {
		return 0, err
	}
	if maxAcked > acked {
		return 0, fmt.Errorf("the server's acked_seq %d is below seq %d it acknowledged to this device", acked, maxAcked)
	}
	ids, err := pendingIDs(ctx, tx)
	if err != nil {
		return 0, err
	}
	// Optimistic stock counts the operations after reflected_seq. Pending
	// operations at or below it exist only after a rewind (their effect is
	// in balances pulled before the server lost them); they come first in
	// seq order, so reflected_seq follows the last of them. Otherwise it
	// must stay below every moved operation.
	reflected := st.ReflectedSeq
	if reflected > acked {
		var under int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ops WHERE acked = 0 AND seq <= ?`, reflected).Scan(&under); err != nil {
			return 0, err
		}
		reflected = acked + under
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ops SET seq = seq + ? WHERE acked = 0`, renumberShift); err != nil {
		return 0, err
	}
	for i, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE ops SET seq = ? WHERE op_id = ?`, acked+1+int64(i), id); err != nil {
			return 0, err
		}
	}
	next := max(st.NextSeq, acked+int64(len(ids))+1)
	if _, err := tx.ExecContext(ctx, `UPDATE device_state SET next_seq = ?, acked_seq = ?, reflected_seq = ? WHERE id = 1`,
		next, acked, reflected); err != nil {
		return 0, err
	}
	return len(ids), nil
}

// pendingIDs lists the op_ids of the pending operations in seq order.
func pendingIDs(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT op_id FROM ops WHERE acked = 0 ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// pull downloads pages until the server has nothing more. It reports
// whether the server turned out to have lost operations it had
// acknowledged, which are then pending again.
func (s *syncRun) pull(ctx context.Context) (lost bool, err error) {
	stuck := 0
	repeated := false
	for {
		st, err := s.c.loadState(ctx)
		if err != nil {
			return lost, err
		}
		q := url.Values{}
		q.Set("cursor", st.Cursor)
		q.Set("limit", strconv.Itoa(s.c.opts.PullLimit))
		var page syncproto.PullResponse
		err = s.c.retrying(ctx, s.server, request{method: "GET", path: "/v1/sync/pull?" + q.Encode(), token: s.token,
			backlog: s.c.backlog(ctx), out: &page}, &s.rep.Attempts)
		if ErrorCode(err) == syncproto.CodeInvalid && st.Cursor != "" {
			// The server no longer reads the stored cursor (an upgrade
			// changed its form): the protocol says to start over from an
			// empty one. The full download that follows replaces what
			// was pulled.
			if err := s.recover("cursor refused"); err != nil {
				return lost, err
			}
			s.c.log.Warn("the server refused the stored pull cursor: downloading this device's scope again", slog.Any("error", err))
			if err := s.c.forgetCursor(ctx); err != nil {
				return lost, err
			}
			continue
		}
		if err != nil {
			return lost, fmt.Errorf("pull: %w", err)
		}
		s.rep.Pages++
		if st.LedgerID != "" && page.LedgerID != "" && page.LedgerID != st.LedgerID {
			s.rep.LedgerChanged = true
			s.c.log.Warn("the server's ledger was replaced: downloading this device's scope again",
				slog.String("old_ledger_id", st.LedgerID), slog.String("ledger_id", page.LedgerID))
			if !page.Reset {
				// The page continues a cursor of the other ledger; start
				// over from an empty one.
				if err := s.recover("ledger_id changed"); err != nil {
					return lost, err
				}
				if err := s.c.forgetPulled(ctx, page.LedgerID); err != nil {
					return lost, err
				}
				continue
			}
		}
		if page.More && page.Cursor == st.Cursor && !page.Reset {
			if stuck++; stuck > 3 {
				return lost, fmt.Errorf("pull: the server keeps answering more=true without moving the cursor")
			}
		}
		ap, err := s.c.applyPage(ctx, page, s.rep)
		if err != nil {
			return lost, err
		}
		lost = lost || ap.lost
		s.report(Progress{Phase: PhasePull, Sent: s.sent, Total: s.sent, Pulled: s.rep.Pulled})
		if !page.More {
			if ap.stale && !repeated {
				// The round began before this device's latest push, so it
				// left out balances that push changed: one more round
				// brings them.
				repeated = true
				continue
			}
			return lost, nil
		}
	}
}

// backlog reads what the device reports with a pull.
func (c *Client) backlog(ctx context.Context) *syncproto.Backlog {
	b := &syncproto.Backlog{AckedSeq: -1, AppVersion: c.opts.AppVersion}
	_ = c.read(ctx, func(tx *sql.Tx) error {
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), min(recorded_at) FROM ops WHERE acked = 0`).Scan(&b.Pending, &oldest); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT acked_seq FROM device_state WHERE id = 1`).Scan(&b.AckedSeq); err != nil {
			return err
		}
		if oldest.Valid {
			b.OldestUnsent = max(c.now().Sub(fromMicros(oldest.Int64)), 0)
		}
		return nil
	})
	return b
}

// pulledTables are the tables a reset or a new ledger empties; ops is
// never among them.
var pulledTables = []string{"decision_ops", "decisions", "balances", "locations", "batches", "barcodes", "items"}

func dropPulled(ctx context.Context, tx *sql.Tx) error {
	for _, t := range pulledTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}
	return nil
}

// forgetPulled drops everything pulled from the old ledger and points the
// device at the new one with an empty cursor. Operations stay.
func (c *Client) forgetPulled(ctx context.Context, ledgerID string) error {
	return c.write(ctx, func(tx *sql.Tx) error {
		if err := dropPulled(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE device_state SET ledger_id = ?, cursor = '', round_acked_seq = -1 WHERE id = 1`, ledgerID)
		return err
	})
}

// forgetCursor makes the next pull a full download. The pulled rows stay
// until its first page (marked reset) replaces them.
func (c *Client) forgetCursor(ctx context.Context) error {
	return c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE device_state SET cursor = '', round_acked_seq = -1 WHERE id = 1`)
		return err
	})
}

// applied is what applying one pull page found.
type applied struct {
	// lost: the server no longer has operations it had acknowledged;
	// they are pending again.
	lost bool
	// stale: the page ended a round that began before the server's
	// acked_seq last moved, so the round lacks balances changed since.
	stale bool
}

// applyPage applies one pull page and stores its cursor in one
// transaction, so a crash between pages resumes where it stopped.
func (c *Client) applyPage(ctx context.Context, page syncproto.PullResponse, rep *SyncReport) (applied, error) {
	var ap applied
	rows := 0
	err := c.write(ctx, func(tx *sql.Tx) error {
		rows, ap = 0, applied{}
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		// A page after the end of a round, or a reset, starts a round:
		// its acked_seq is the one the whole round's rows are as of.
		roundAcked := st.RoundAckedSeq
		if roundAcked < 0 || page.Reset {
			roundAcked = page.AckedSeq
		}
		if page.Reset {
			if err := dropPulled(ctx, tx); err != nil {
				return err
			}
		}
		if err := c.applyRows(ctx, tx, page); err != nil {
			return err
		}
		for _, d := range page.Decisions {
			if err := upsertDecision(ctx, tx, d); err != nil {
				return err
			}
		}
		rows = len(page.Items) + len(page.Batches) + len(page.Locations) + len(page.Balances) + len(page.Decisions)

		if page.Warehouse.Code != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE device_state SET warehouse = ?, warehouse_name = ? WHERE id = 1`,
				page.Warehouse.Code, page.Warehouse.Name); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_state SET cursor = ?, ledger_id = coalesce(nullif(?, ''), ledger_id) WHERE id = 1`,
			page.Cursor, page.LedgerID); err != nil {
			return err
		}
		// An acked_seq below operations the server acknowledged means it
		// lost them (a database restored from a backup): they are pending
		// again, so the next push sends them. A higher one (an answer the
		// device never got) needs nothing: the next push gets replays.
		res, err := tx.ExecContext(ctx, `UPDATE ops SET acked = 0 WHERE acked = 1 AND seq > ?`, page.AckedSeq)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ap.lost = n > 0
		if ap.lost {
			rep.Resent += int(n)
			if !page.Reset {
				// The server was restored from a backup, and the cursor
				// may be from the history it lost (see rewind).
				if _, err := tx.ExecContext(ctx, `UPDATE device_state SET cursor = '' WHERE id = 1`); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_state SET acked_seq = ? WHERE id = 1`, page.AckedSeq); err != nil {
			return err
		}
		if err := moveSeqsPast(ctx, tx, page.AckedSeq); err != nil {
			return err
		}
		if page.More {
			_, err = tx.ExecContext(ctx, `UPDATE device_state SET round_acked_seq = ? WHERE id = 1`, roundAcked)
			return err
		}
		// Every operation up to the acked_seq of the round's first page
		// was committed before the round's rows were fixed, so the pulled
		// balances hold its effect; optimistic stock adds only later
		// operations. The last page's acked_seq may be later (a round cut
		// short, finished after a push) and its effect not pulled yet.
		ap.stale = roundAcked != page.AckedSeq
		_, err = tx.ExecContext(ctx, `UPDATE device_state SET reflected_seq = ?, round_acked_seq = -1 WHERE id = 1`,
			min(roundAcked, page.AckedSeq))
		return err
	})
	if err != nil {
		return applied{}, fmt.Errorf("apply pull page: %w", err)
	}
	if page.Reset {
		rep.Reset = true
	}
	rep.Pulled += rows
	return ap, nil
}

// applyRows upserts a page's catalog rows and balances with the prepared
// statements.
func (c *Client) applyRows(ctx context.Context, tx *sql.Tx, page syncproto.PullResponse) error {
	if len(page.Items) > 0 {
		upsertItem := tx.StmtContext(ctx, c.stmts.upsertItem)
		defer upsertItem.Close()
		deleteBarcodes := tx.StmtContext(ctx, c.stmts.deleteBarcodes)
		defer deleteBarcodes.Close()
		upsertBarcode := tx.StmtContext(ctx, c.stmts.upsertBarcode)
		defer upsertBarcode.Close()
		for _, it := range page.Items {
			if _, err := upsertItem.ExecContext(ctx, it.SKU, it.Name, it.Unit, it.BatchTracked, it.ExpiryTracked); err != nil {
				return fmt.Errorf("item %s: %w", it.SKU, err)
			}
			if _, err := deleteBarcodes.ExecContext(ctx, it.SKU); err != nil {
				return err
			}
			for _, b := range it.Barcodes {
				if _, err := upsertBarcode.ExecContext(ctx, b, it.SKU); err != nil {
					return fmt.Errorf("barcode %s: %w", b, err)
				}
			}
		}
	}
	if len(page.Batches) > 0 {
		upsertBatch := tx.StmtContext(ctx, c.stmts.upsertBatch)
		defer upsertBatch.Close()
		for _, b := range page.Batches {
			if _, err := upsertBatch.ExecContext(ctx, b.SKU, b.Code, b.Expiry); err != nil {
				return fmt.Errorf("batch %s/%s: %w", b.SKU, b.Code, err)
			}
		}
	}
	if len(page.Locations) > 0 {
		insertLocation := tx.StmtContext(ctx, c.stmts.insertLocation)
		defer insertLocation.Close()
		for _, l := range page.Locations {
			if _, err := insertLocation.ExecContext(ctx, l.Code); err != nil {
				return fmt.Errorf("location %s: %w", l.Code, err)
			}
		}
	}
	if len(page.Balances) > 0 {
		upsertBalance := tx.StmtContext(ctx, c.stmts.upsertBalance)
		defer upsertBalance.Close()
		for _, b := range page.Balances {
			if _, err := upsertBalance.ExecContext(ctx, b.Location, b.SKU, b.Batch, b.OnHand); err != nil {
				return fmt.Errorf("balance %s/%s/%s: %w", b.Location, b.SKU, b.Batch, err)
			}
		}
	}
	return nil
}

// moveSeqsPast keeps the seqs this device assigns from now on after the
// server's acked_seq. A server that acked seqs this device never assigned,
// or still holds as pending, means the device was restored from a backup;
// once the device has heard that acked_seq, the server can no longer tell
// its reused seqs from replays, so they move now: the seq counter past it,
// and pending operations at or below it (new ones, recorded since the
// restore) renumbered after it. Should one be an operation the server
// already has, it comes back as a replay: op_ids, not seqs, identify
// operations.
func moveSeqsPast(ctx context.Context, tx *sql.Tx, acked int64) error {
	var behind int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ops WHERE acked = 0 AND seq <= ?`, acked).Scan(&behind); err != nil {
		return err
	}
	if behind > 0 {
		_, err := renumberPending(ctx, tx, acked)
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE device_state SET next_seq = max(next_seq, ? + 1) WHERE id = 1`, acked)
	return err
}

func upsertDecision(ctx context.Context, tx *sql.Tx, d syncproto.Decision) error {
	var decidedAt sql.NullInt64
	if d.DecidedAt != nil {
		decidedAt = sql.NullInt64{Int64: micros(*d.DecidedAt), Valid: true}
	}
	id := d.ReviewID.String()
	if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (review_id, kind, status, action, note, decided_by, decided_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (review_id) DO UPDATE SET kind = excluded.kind, status = excluded.status, action = excluded.action,
			note = excluded.note, decided_by = excluded.decided_by, decided_at = excluded.decided_at`,
		id, d.Kind, d.Status, d.Action, d.Note, d.DecidedBy, decidedAt); err != nil {
		return fmt.Errorf("decision %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM decision_ops WHERE review_id = ?`, id); err != nil {
		return err
	}
	for _, op := range d.OpIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO decision_ops (review_id, op_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, op.String()); err != nil {
			return err
		}
	}
	return nil
}
