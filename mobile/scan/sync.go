package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"stocksync/client"
	"stocksync/syncproto"
)

// Connection states in statusView.Connection, from the last sync attempt:
// the app never pings the server on its own.
const (
	ConnNotEnrolled = "not_enrolled"
	// ConnNever: enrolled, no sync tried yet.
	ConnNever = "never"
	// ConnOnline: the last sync finished.
	ConnOnline = "online"
	// ConnOffline: the last sync could not reach the server (or the
	// server was unavailable); operations wait on the device.
	ConnOffline = "offline"
	// ConnRefused: the server answered and refused the device (a revoked
	// token, an app too old): a manager must act.
	ConnRefused = "refused"
)

// syncOutcome is the last sync the app ran.
type syncOutcome struct {
	At      time.Time         `json:"at"`
	Trigger string            `json:"trigger"`
	Report  client.SyncReport `json:"report"`
	Error   *apiErrorBody     `json:"error,omitempty"`
	Message string            `json:"message"`
	Tone    string            `json:"tone"`
	Status  *statusView       `json:"status,omitempty"`
}

// statusView is what the status bar shows.
type statusView struct {
	client.Status
	Connection string `json:"connection"`
	Online     bool   `json:"online"`
	// ConnectionMessage says why the device is offline or refused.
	ConnectionMessage string `json:"connection_message,omitempty"`
	Syncing           bool   `json:"syncing"`
	// LastSyncSecondsAgo and LastAttemptSecondsAgo are ages by the
	// device's clock, -1 when there was none.
	LastSyncSecondsAgo    int64 `json:"last_sync_seconds_ago"`
	LastAttemptSecondsAgo int64 `json:"last_attempt_seconds_ago"`
	SyncIntervalSeconds   int64 `json:"sync_interval_seconds"`
	// CanUndo: something recorded from this app can be undone.
	CanUndo bool `json:"can_undo"`
	// LastSyncMessage says what the app's last sync did, or why it
	// failed.
	LastSyncMessage string `json:"last_sync_message,omitempty"`
}

// connection classifies the device's link to the server from the last
// sync attempt, with the reason when it is not online.
func connection(st client.Status) (string, string) {
	switch {
	case !st.Enrolled:
		return ConnNotEnrolled, "This device is not enrolled: enroll it with a code from a manager."
	case st.LastAttempt == nil:
		return ConnNever, "Not synced yet."
	case st.LastError == "" && st.LastSync != nil:
		return ConnOnline, ""
	}
	switch syncproto.Code(st.LastErrorCode) {
	case syncproto.CodeUnauthorized:
		return ConnRefused, "The server refuses this device (revoked, or enrolled with another server). Ask a manager; nothing recorded here is lost."
	case syncproto.CodeUnsupportedProtocol:
		return ConnRefused, "The server needs a newer app. Update stocksync; nothing recorded here is lost."
	case syncproto.CodeForbidden, syncproto.CodeInvalid:
		return ConnRefused, "The server refused the sync: " + st.LastError
	}
	return ConnOffline, "The server could not be reached: " + st.LastError
}

func secondsAgo(now time.Time, t *time.Time) int64 {
	if t == nil {
		return -1
	}
	return max(int64(now.Sub(*t)/time.Second), 0)
}

// status reads the device's status for the status bar.
func (a *App) status(ctx context.Context) (statusView, error) {
	st, err := a.c.Status(ctx)
	if err != nil {
		return statusView{}, err
	}
	now := a.now()
	v := statusView{Status: st, LastSyncSecondsAgo: secondsAgo(now, st.LastSync), LastAttemptSecondsAgo: secondsAgo(now, st.LastAttempt)}
	v.Connection, v.ConnectionMessage = connection(st)
	v.Online = v.Connection == ConnOnline
	if a.cfg.SyncInterval > 0 {
		v.SyncIntervalSeconds = int64(a.cfg.SyncInterval / time.Second)
	}
	a.mu.Lock()
	v.Syncing = a.syncing > 0
	if a.last != nil {
		v.LastSyncMessage = a.last.Message
	}
	a.mu.Unlock()
	a.undoMu.Lock()
	v.CanUndo = len(a.undoStack) > 0
	a.undoMu.Unlock()
	return v, nil
}

func (a *App) handleStatus(w http.ResponseWriter, r *http.Request) {
	v, err := a.status(r.Context())
	if err != nil {
		a.internalError(w, "read the device status", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// runSync runs one sync, remembering it for the status bar, and describes
// what it did for the person at the handheld.
func (a *App) runSync(ctx context.Context, trigger string) syncOutcome {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.SyncTimeout)
	defer cancel()
	// A count, not a flag: a "Sync now" during a background sync must
	// not show the device idle when the first one ends.
	a.mu.Lock()
	a.syncing++
	a.mu.Unlock()
	start := time.Now()
	rep, err := a.c.Sync(ctx, client.SyncOptions{})
	out := syncOutcome{At: a.now(), Trigger: trigger, Report: rep}
	a.mu.Lock()
	a.syncing--
	a.mu.Unlock()
	log := a.log.With(slog.String("trigger", trigger), slog.Duration("took", time.Since(start)),
		slog.Int("pushed", rep.Pushed), slog.Int("pulled", rep.Pulled), slog.Int("pending", rep.Pending))
	if err != nil {
		code := string(client.ErrorCode(err))
		switch {
		case errors.Is(err, client.ErrNotEnrolled):
			code = "not_enrolled"
		case code == "" && ctx.Err() != nil:
			// Cancelled here (shutdown, SyncTimeout); an HTTP timeout
			// also matches context.DeadlineExceeded but is the network.
			code = "canceled"
		case code == "":
			code = "network"
		}
		out.Error = &apiErrorBody{Code: code, Message: err.Error()}
		out.Tone = "error"
		kept := fmt.Sprintf("%d %s kept on this device", rep.Pending, plural(rep.Pending, "operation is", "operations are"))
		switch code {
		case "not_enrolled":
			out.Message = "Not enrolled: enroll this device with a code from a manager first."
		case string(syncproto.CodeUnauthorized):
			out.Message = "Sync refused: the server does not accept this device any more. Ask a manager. " + kept + "."
		case string(syncproto.CodeUnsupportedProtocol):
			out.Message = "Sync refused: this app is too old for the server. Update it. " + kept + "."
		default:
			out.Message = "Offline: the server could not be reached. " + kept + " and go out with the next sync."
		}
		log.Info("sync failed", slog.String("code", code), slog.Any("error", err))
	} else {
		out.Tone = "success"
		out.Message = describeSync(rep)
		if rep.Problems() > 0 {
			out.Tone = "warning"
		}
		log.Debug("synced")
	}
	a.mu.Lock()
	a.last = &out
	a.mu.Unlock()
	return out
}

// describeSync says what a successful sync did.
func describeSync(rep client.SyncReport) string {
	var b strings.Builder
	if rep.Pushed == 0 {
		b.WriteString("Synced: nothing to send")
	} else {
		fmt.Fprintf(&b, "Synced: sent %d %s (%d applied", rep.Pushed, plural(rep.Pushed, "operation", "operations"), rep.Applied)
		for _, p := range []struct {
			n    int
			what string
		}{{rep.Flagged, "flagged"}, {rep.Held, "held"}, {rep.Rejected, "rejected"}} {
			if p.n > 0 {
				fmt.Fprintf(&b, ", %d %s", p.n, p.what)
			}
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; pulled %d %s.", rep.Pulled, plural(rep.Pulled, "update", "updates"))
	if rep.Problems() > 0 {
		fmt.Fprintf(&b, " %d %s a manager's look: see Problems.", rep.Problems(), plural(rep.Problems(), "needs", "need"))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (a *App) handleSync(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	out := a.runSync(r.Context(), "manual")
	if st, err := a.status(r.Context()); err == nil {
		out.Status = &st
	}
	writeJSON(w, http.StatusOK, out)
}

// AutoSync syncs in the background until ctx is done: every SyncInterval
// it syncs if operations are pending, if the last sync failed (so the
// status bar turns online as soon as the server answers again), or if the
// last successful sync is older than RefreshInterval (so managers'
// decisions arrive). It does nothing when SyncInterval is negative.
func (a *App) AutoSync(ctx context.Context) {
	if a.cfg.SyncInterval < 0 {
		return
	}
	t := time.NewTicker(a.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := a.c.Status(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("auto-sync: read the device status", slog.Any("error", err))
			}
			continue
		}
		if !st.Enrolled {
			continue
		}
		conn, _ := connection(st)
		if conn == ConnRefused && st.LastAttempt != nil && a.now().Sub(*st.LastAttempt) < a.cfg.RefreshInterval {
			// A revoked device, or an app too old for the server: asking
			// again changes nothing until a person acts, so ask once per
			// refresh interval, pending operations or not ("Sync now"
			// still asks at once).
			continue
		}
		stale := st.LastSync == nil || a.now().Sub(*st.LastSync) >= a.cfg.RefreshInterval
		if st.Pending > 0 || conn != ConnOnline || stale {
			a.runSync(ctx, "auto")
		}
	}
}
