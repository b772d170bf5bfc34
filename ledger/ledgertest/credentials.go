package ledgertest

// Credentials and device reports (DESIGN.md section 4, "Identity"): API
// keys, enrollment codes, device tokens, and what a device reports about
// itself, exercised through ledger.Ledger.

import (
	"encoding/hex"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func testAPIKeys(t *testing.T, nf Factory) {
	f := setup(t, nf)
	other, err := f.l.CreateTenant(f.ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}

	k, secret, err := f.l.CreateAPIKey(f.ctx, f.tenant.ID, "  inventory sync ", ledger.RoleManager)
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	if k.Name != "inventory sync" || k.Role != ledger.RoleManager || k.TenantID != f.tenant.ID || len(k.Hash) == 0 {
		t.Fatalf("created key = %+v", k)
	}
	got, err := f.l.AuthenticateAPIKey(f.ctx, secret)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("authenticated key differs from the created one:\n got  %+v\n want %+v", got, k)
	}
	if !got.Role.Allows(ledger.RoleStaff) || got.Role.Allows(ledger.RoleAdmin) {
		t.Errorf("a manager key allows staff %v, admin %v", got.Role.Allows(ledger.RoleStaff), got.Role.Allows(ledger.RoleAdmin))
	}

	f.clock.Advance(time.Minute)
	k2, secret2, err := f.l.CreateAPIKey(f.ctx, f.tenant.ID, "auditor", ledger.RoleStaff)
	if err != nil {
		t.Fatal(err)
	}
	_, otherSecret, err := f.l.CreateAPIKey(f.ctx, other.ID, "globex admin", ledger.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}

	// Another tenant's ID with this tenant's random part, garbage, and a
	// device token where a key is expected are all just unauthorized.
	ghost := uuid.Must(uuid.NewV7())
	for name, s := range map[string]string{
		"other tenant's id": withTenantID("ssk_", secret, other.ID),
		"unknown tenant":    withTenantID("ssk_", secret, ghost),
		"garbage":           "not a key",
		"empty":             "",
		"truncated":         secret[:len(secret)-1],
		"last char changed": flipLast(secret),
		"device prefix":     "ssd_" + secret[len("ssk_"):],
	} {
		if _, err := f.l.AuthenticateAPIKey(f.ctx, s); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			t.Errorf("%s: authenticate = %v, want unauthorized", name, err)
		}
	}
	if k, err := f.l.AuthenticateAPIKey(f.ctx, otherSecret); err != nil || k.TenantID != other.ID || k.Role != ledger.RoleAdmin {
		t.Errorf("other tenant's own key = %+v, %v", k, err)
	}

	// Revoking is once: a second revoke keeps the first time.
	f.clock.Advance(time.Minute)
	revokedAt := f.clock.Now()
	if err := f.l.RevokeAPIKey(f.ctx, f.tenant.ID, k.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.l.RevokeAPIKey(f.ctx, f.tenant.ID, k.ID); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	if _, err := f.l.AuthenticateAPIKey(f.ctx, secret); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
		t.Errorf("revoked key: authenticate = %v, want unauthorized", err)
	}
	if _, err := f.l.AuthenticateAPIKey(f.ctx, secret2); err != nil {
		t.Errorf("the other key stops working with the revoked one: %v", err)
	}
	wantCode(t, f.l.RevokeAPIKey(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7())), ledger.CodeNotFound)
	// A key is revoked under its own tenant only.
	wantCode(t, f.l.RevokeAPIKey(f.ctx, other.ID, k2.ID), ledger.CodeNotFound)

	ks, err := f.l.APIKeys(f.ctx, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	k.RevokedAt = revokedAt
	if !reflect.DeepEqual(ks, []ledger.APIKey{k, k2}) {
		t.Errorf("API keys, by creation:\n got  %+v\n want %+v", ks, []ledger.APIKey{k, k2})
	}

	// Bad input, and the store's own refusals.
	_, _, err = f.l.CreateAPIKey(f.ctx, f.tenant.ID, "x", "owner")
	wantCode(t, err, ledger.CodeInvalid)
	_, _, err = f.l.CreateAPIKey(f.ctx, f.tenant.ID, " ", ledger.RoleStaff)
	wantCode(t, err, ledger.CodeInvalid)
	_, _, err = f.l.CreateAPIKey(f.ctx, uuid.Must(uuid.NewV7()), "ghost", ledger.RoleStaff)
	wantCode(t, err, ledger.CodeNotFound)
	stray := ledger.APIKey{TenantID: uuid.Must(uuid.NewV7()), ID: uuid.Must(uuid.NewV7()), Name: "stray", Role: ledger.RoleStaff,
		Hash: make([]byte, 32), CreatedAt: f.clock.Now()}
	wantCode(t, f.store.InsertAPIKey(f.ctx, stray), ledger.CodeNotFound)
	dup := k2
	dup.ID = uuid.Must(uuid.NewV7())
	wantCode(t, f.store.InsertAPIKey(f.ctx, dup), ledger.CodeConflict)
}

func testEnrollment(t *testing.T, nf Factory) {
	f := setup(t, nf)
	ec, code, err := f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", 0)
	if err != nil {
		t.Fatalf("create enrollment code: %v", err)
	}
	if len(code) != 11 || code[5] != '-' || !ec.ExpiresAt.Equal(f.clock.Now().Add(ledger.DefaultEnrollmentTTL)) {
		t.Fatalf("code %q expiring %s", code, ec.ExpiresAt)
	}

	// Typed in lowercase, without the dash.
	f.clock.Advance(time.Hour)
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	e, err := f.l.Enroll(f.ctx, typed, "  aisle 7 scanner ", "1.4.2")
	d, wh, token := e.Device, e.Warehouse, e.Token
	if err != nil {
		t.Fatalf("enroll with %q: %v", typed, err)
	}
	if wh.Code != "W1" || d.WarehouseID != wh.ID || d.TenantID != f.tenant.ID || d.Name != "aisle 7 scanner" ||
		d.AppVersion != "1.4.2" || d.BatchPrefix == "" || token == "" || e.LedgerID != f.tenant.LedgerID {
		t.Fatalf("enrolled device %+v in %+v with token %q", d, wh, token)
	}
	stored, err := f.l.Device(f.ctx, f.tenant.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, d) {
		t.Errorf("stored device:\n got  %+v\n want %+v", stored, d)
	}
	authed, err := f.l.AuthenticateDevice(f.ctx, token)
	if err != nil || authed.ID != d.ID || authed.TenantID != f.tenant.ID {
		t.Fatalf("authenticate device = %+v, %v", authed, err)
	}

	// The code is stored used, by this device, and only as a hash.
	var back ledger.EnrollmentCode
	err = f.store.Read(f.ctx, func(tx ledger.ReadTx) (err error) { back, err = tx.EnrollmentCodeByHash(f.ctx, ec.Hash); return err })
	if err != nil {
		t.Fatal(err)
	}
	want := ec
	want.UsedAt, want.DeviceID = f.clock.Now(), d.ID
	if !reflect.DeepEqual(back, want) {
		t.Errorf("stored code:\n got  %+v\n want %+v", back, want)
	}

	// Used once.
	_, err = f.l.Enroll(f.ctx, code, "second", "1.4.2")
	wantCode(t, err, ledger.CodeUnauthorized)

	// Expired: valid until just before ExpiresAt.
	ec2, code2, err := f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Minute)
	_, err = f.l.Enroll(f.ctx, code2, "late", "")
	wantCode(t, err, ledger.CodeUnauthorized)
	// The expired code was not used up by the attempt.
	err = f.store.Read(f.ctx, func(tx ledger.ReadTx) (err error) { back, err = tx.EnrollmentCodeByHash(f.ctx, ec2.Hash); return err })
	if err != nil || !back.UsedAt.IsZero() {
		t.Errorf("expired code after a refused enroll: %+v, %v", back, err)
	}

	// Unknown codes, warehouses and bad lifetimes.
	_, err = f.l.Enroll(f.ctx, "00000-00000", "nobody", "")
	wantCode(t, err, ledger.CodeUnauthorized)
	_, _, err = f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W9", 0)
	wantCode(t, err, ledger.CodeNotFound)
	_, _, err = f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", 30*time.Second)
	wantCode(t, err, ledger.CodeInvalid)
	_, _, err = f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", ledger.MaxEnrollmentTTL+time.Minute)
	wantCode(t, err, ledger.CodeInvalid)
	ec3, code3, err := f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.l.Enroll(f.ctx, code3, "", "")
	wantCode(t, err, ledger.CodeInvalid)

	// The store refuses a code for a warehouse that does not exist and a
	// hash that is taken (by any tenant: the code alone finds it).
	stray := ledger.EnrollmentCode{TenantID: f.tenant.ID, ID: uuid.Must(uuid.NewV7()), WarehouseID: uuid.Must(uuid.NewV7()),
		Hash: make([]byte, 32), CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	wantCode(t, f.store.InsertEnrollmentCode(f.ctx, stray), ledger.CodeNotFound)
	dup := ec3
	dup.ID = uuid.Must(uuid.NewV7())
	wantCode(t, f.store.InsertEnrollmentCode(f.ctx, dup), ledger.CodeConflict)

	// Claiming directly: a used code conflicts, a missing one is not found.
	err = f.store.Write(f.ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.ClaimEnrollmentCode(f.ctx, f.tenant.ID, ec.ID, d.ID, f.clock.Now())
	})
	wantCode(t, err, ledger.CodeConflict)
	err = f.store.Write(f.ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.ClaimEnrollmentCode(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()), d.ID, f.clock.Now())
	})
	wantCode(t, err, ledger.CodeNotFound)
}

// testEnrollmentRace: two handhelds typing one code at once get one device.
func testEnrollmentRace(t *testing.T, nf Factory) {
	f := setup(t, nf)
	for round := range 3 {
		_, code, err := f.l.CreateEnrollmentCode(f.ctx, f.tenant.ID, "W1", 0)
		if err != nil {
			t.Fatal(err)
		}
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		devs := make([]ledger.Device, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var e ledger.Enrollment
				e, errs[i] = f.l.Enroll(f.ctx, code, "racer", "")
				devs[i] = e.Device
			}()
		}
		wg.Wait()
		var won []ledger.Device
		for i, err := range errs {
			switch ledger.ErrorCode(err) {
			case "":
				won = append(won, devs[i])
			case ledger.CodeUnauthorized:
			default:
				t.Errorf("round %d: enroll %d: %v", round, i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d of %d concurrent enrollments with one code succeeded, want 1", round, len(won), n)
		}
	}
	ds, err := f.l.Devices(f.ctx, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(f.devs)+3 {
		t.Errorf("%d devices after 3 raced codes, want %d", len(ds), len(f.devs)+3)
	}
}

func testDeviceTokens(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	token, err := f.l.IssueDeviceToken(f.ctx, f.tenant.ID, dev.ID)
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	token2, err := f.l.IssueDeviceToken(f.ctx, f.tenant.ID, dev.ID)
	if err != nil || token2 == token {
		t.Fatalf("second token %q, %v", token2, err)
	}
	for _, tok := range []string{token, token2} {
		got, err := f.l.AuthenticateDevice(f.ctx, tok)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		if !reflect.DeepEqual(got, dev) {
			t.Errorf("authenticated device:\n got  %+v\n want %+v", got, dev)
		}
	}

	other, err := f.l.CreateTenant(f.ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.l.IssueDeviceToken(f.ctx, other.ID, dev.ID)
	wantCode(t, err, ledger.CodeNotFound)
	_, err = f.l.IssueDeviceToken(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()))
	wantCode(t, err, ledger.CodeNotFound)
	for name, tok := range map[string]string{
		"other tenant's id": withTenantID("ssd_", token, other.ID),
		"last char changed": flipLast(token),
		"api key prefix":    "ssk_" + token[len("ssd_"):],
		"garbage":           "ssd_zz",
	} {
		if _, err := f.l.AuthenticateDevice(f.ctx, tok); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			t.Errorf("%s: authenticate = %v, want unauthorized", name, err)
		}
	}

	// A token is revoked with its device.
	if err := f.l.RevokeDevice(f.ctx, f.tenant.ID, dev.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{token, token2} {
		if _, err := f.l.AuthenticateDevice(f.ctx, tok); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			t.Errorf("revoked device: authenticate = %v, want unauthorized", err)
		}
	}
	if _, err := f.l.AuthenticateDevice(f.ctx, mustToken(t, f, f.devs[1])); err != nil {
		t.Errorf("another device stops working with the revoked one: %v", err)
	}

	// The store refuses a token for a device that does not exist, at the
	// latest on commit.
	err = f.store.Write(f.ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.InsertDeviceToken(f.ctx, ledger.DeviceToken{TenantID: f.tenant.ID, DeviceID: uuid.Must(uuid.NewV7()),
			Hash: make([]byte, 32), CreatedAt: f.clock.Now()})
	})
	wantCode(t, err, ledger.CodeNotFound)
}

// withTenantID returns a credential with its tenant part replaced: a
// secret of one tenant presented as another's.
func withTenantID(prefix, secret string, tenantID uuid.UUID) string {
	return prefix + hex.EncodeToString(tenantID[:]) + secret[len(prefix)+32:]
}

// flipLast changes the last character of a credential, keeping it
// well-formed base64url.
func flipLast(s string) string {
	last := "A"
	if strings.HasSuffix(s, "A") {
		last = "B"
	}
	return s[:len(s)-1] + last
}

func mustToken(t *testing.T, f *fixture, d ledger.Device) string {
	t.Helper()
	tok, err := f.l.IssueDeviceToken(f.ctx, f.tenant.ID, d.ID)
	if err != nil {
		t.Fatalf("issue token for %s: %v", d.Name, err)
	}
	return tok
}

func testReportDevice(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[1]
	seen := f.clock.Now().Add(-time.Second)
	err := f.l.ReportDevice(f.ctx, f.tenant.ID, dev.ID, ledger.DeviceReport{SeenAt: seen, AppVersion: "2.0.1", Pending: 42,
		OldestUnsent: 95*time.Minute + 1500*time.Millisecond})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	want := dev
	want.LastSeenAt, want.AppVersion, want.Pending, want.OldestUnsent = seen, "2.0.1", 42, 95*time.Minute+time.Second
	got, err := f.l.Device(f.ctx, f.tenant.ID, dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("device after report:\n got  %+v\n want %+v", got, want)
	}

	// A report without a version keeps the last one; without a time it
	// is now.
	f.clock.Advance(time.Minute)
	if err := f.l.ReportDevice(f.ctx, f.tenant.ID, dev.ID, ledger.DeviceReport{}); err != nil {
		t.Fatal(err)
	}
	want.LastSeenAt, want.Pending, want.OldestUnsent = f.clock.Now(), 0, 0
	ds, err := f.l.Devices(f.ctx, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	var listed ledger.Device
	for _, d := range ds {
		if d.ID == dev.ID {
			listed = d
		}
	}
	if !reflect.DeepEqual(listed, want) {
		t.Errorf("listed device after a bare report:\n got  %+v\n want %+v", listed, want)
	}

	// A merge keeps what the device reported.
	f.clock.Advance(time.Minute)
	f.push(dev, receive("WIDGET", "A1", 1, "", ""))
	got, err = f.l.Device(f.ctx, f.tenant.ID, dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AppVersion != "2.0.1" || got.AckedSeq != 1 {
		t.Errorf("after a merge: app %q, acked %d", got.AppVersion, got.AckedSeq)
	}

	wantCode(t, f.l.ReportDevice(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()), ledger.DeviceReport{}), ledger.CodeNotFound)
	other, err := f.l.CreateTenant(f.ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.l.ReportDevice(f.ctx, other.ID, dev.ID, ledger.DeviceReport{}), ledger.CodeNotFound)
	wantCode(t, f.l.ReportDevice(f.ctx, f.tenant.ID, dev.ID, ledger.DeviceReport{Pending: -1}), ledger.CodeInvalid)
}
