package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// Identity is who the device is to the server, from enrollment.
type Identity struct {
	DeviceID uuid.UUID `json:"device_id"`
	Name     string    `json:"name"`
	Server   string    `json:"server"`
	// Warehouse is the code of the warehouse the device works in: its
	// pulls cover that warehouse's locations and balances.
	Warehouse string `json:"warehouse"`
	// BatchPrefix starts every batch code the device generates offline.
	BatchPrefix string    `json:"batch_prefix"`
	LedgerID    string    `json:"ledger_id"`
	EnrolledAt  time.Time `json:"enrolled_at"`
}

// NormalizeServerURL checks that s is an http or https URL with a host and
// returns it without a trailing slash, the form request paths are joined
// to.
func NormalizeServerURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q is not an http:// or https:// URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server %q must not have a query or fragment", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Enroll exchanges an enrollment code from a manager for the device's
// identity and token, and stores them. It sends the request once: a code
// is single-use, so a retry after a lost answer could only fail.
//
// Returns ErrAlreadyEnrolled if the device has an identity (replacing it
// would orphan the operations numbered under it), and a *syncproto.Error
// from the server: CodeUnauthorized for an unknown, used or expired code
// (the message says which), CodeInvalid for an empty or over-long name,
// CodeRateLimited. Operations recorded before enrollment are kept and
// pushed by the first Sync.
func (c *Client) Enroll(ctx context.Context, serverURL, code, name string) (Identity, error) {
	server, err := NormalizeServerURL(serverURL)
	if err != nil {
		return Identity{}, err
	}
	if strings.TrimSpace(code) == "" {
		return Identity{}, errors.New("enroll: the enrollment code is empty")
	}
	st, err := c.loadState(ctx)
	if err != nil {
		return Identity{}, err
	}
	if st.enrolled() {
		return Identity{}, fmt.Errorf("%w as %s (device %s) with %s", ErrAlreadyEnrolled, st.DeviceName, st.DeviceID, st.ServerURL)
	}
	body, err := syncproto.Encode(syncproto.EnrollRequest{Code: strings.TrimSpace(code), Name: strings.TrimSpace(name), AppVersion: c.opts.AppVersion})
	if err != nil {
		return Identity{}, err
	}
	var resp syncproto.EnrollResponse
	if err := c.do(ctx, server, request{method: "POST", path: "/v1/devices/enroll", body: body, out: &resp}); err != nil {
		var ae *attemptError
		if errors.As(err, &ae) {
			err = ae.err
		}
		return Identity{}, fmt.Errorf("enroll with %s: %w", server, err)
	}
	if resp.DeviceID == uuid.Nil || resp.Token == "" {
		return Identity{}, fmt.Errorf("enroll with %s: the answer has no device_id or token", server)
	}
	id := Identity{DeviceID: resp.DeviceID, Name: strings.TrimSpace(name), Server: server, Warehouse: resp.Warehouse,
		BatchPrefix: resp.BatchPrefix, LedgerID: resp.LedgerID, EnrolledAt: c.now()}
	err = c.write(ctx, func(tx *sql.Tx) error {
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		if st.enrolled() {
			// Another process enrolled the same database meanwhile.
			return ErrAlreadyEnrolled
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_state SET server_url = ?, device_id = ?, device_name = ?, token = ?,
				warehouse = ?, batch_prefix = ?, ledger_id = ?, enrolled_at = ? WHERE id = 1`,
			id.Server, id.DeviceID.String(), id.Name, resp.Token, id.Warehouse, id.BatchPrefix, id.LedgerID, micros(id.EnrolledAt))
		return err
	})
	if err != nil {
		return Identity{}, fmt.Errorf("store enrollment: %w", err)
	}
	return id, nil
}
