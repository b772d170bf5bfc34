package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role is what an API key may do.
type Role string

// Roles of API keys. Staff can only look; managers also decide reviews,
// load the catalog and enroll devices; admins also manage keys and devices.
const (
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleStaff   Role = "staff"
)

// Allows reports whether a key of role r may act as need.
func (r Role) Allows(need Role) bool {
	rank := map[Role]int{RoleStaff: 1, RoleManager: 2, RoleAdmin: 3}
	return rank[r] > 0 && rank[r] >= rank[need]
}

// APIKey is a credential for the management API. Only a hash of the secret
// is stored.
type APIKey struct {
	TenantID  uuid.UUID
	ID        uuid.UUID
	Name      string
	Role      Role
	Hash      []byte
	CreatedAt time.Time
	RevokedAt time.Time
}

// EnrollmentCode is a short, single-use, expiring code a handheld exchanges
// for its device token. Only a hash of the code is stored.
type EnrollmentCode struct {
	TenantID    uuid.UUID
	ID          uuid.UUID
	WarehouseID uuid.UUID
	Hash        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// UsedAt and DeviceID are set when a device enrolled with it.
	UsedAt   time.Time
	DeviceID uuid.UUID
}

// DeviceToken is a device's credential. Only a hash of it is stored; it is
// revoked with its device.
type DeviceToken struct {
	TenantID  uuid.UUID
	DeviceID  uuid.UUID
	Hash      []byte
	CreatedAt time.Time
}

// DeviceReport is what a device tells the server about itself with every
// sync request, so managers can see who is lagging.
type DeviceReport struct {
	SeenAt       time.Time
	AppVersion   string
	Pending      int64
	OldestUnsent time.Duration
}

// Credential prefixes make a leaked secret recognizable to scanners and
// people; the tenant ID that follows lets the server find the hash under the
// tenant's key without a global index.
const (
	apiKeyPrefix      = "ssk_"
	deviceTokenPrefix = "ssd_"
)

// DefaultEnrollmentTTL is how long an enrollment code lives when the
// caller does not say.
const DefaultEnrollmentTTL = 24 * time.Hour

// MaxEnrollmentTTL bounds an enrollment code's life: it is short enough to
// type, so it must not live long.
const MaxEnrollmentTTL = 7 * 24 * time.Hour

// newSecret returns a credential: prefix, the tenant ID in hex, an
// underscore and 256 random bits in base64url.
func newSecret(prefix string, tenantID uuid.UUID) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + hex.EncodeToString(tenantID[:]) + "_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// parseSecret returns the tenant a credential names and the hash it is
// stored under, or false when it is not a credential of that kind.
func parseSecret(prefix, secret string) (uuid.UUID, []byte, bool) {
	rest, ok := strings.CutPrefix(secret, prefix)
	if !ok || len(rest) != 32+1+43 || rest[32] != '_' {
		return uuid.Nil, nil, false
	}
	raw, err := hex.DecodeString(rest[:32])
	if err != nil {
		return uuid.Nil, nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest[33:]); err != nil {
		return uuid.Nil, nil, false
	}
	return uuid.UUID(raw), hashSecret(secret), true
}

func hashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// enrollAlphabet is Crockford's base32: no I, L, O or U, so a code read
// aloud or typed on a handheld is hard to get wrong.
var enrollAlphabet = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newEnrollmentCode returns ten characters (50 random bits) as XXXXX-XXXXX.
func newEnrollmentCode() string {
	var b [7]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	s := enrollAlphabet.EncodeToString(b[:])[:10]
	return s[:5] + "-" + s[5:]
}

// normalizeEnrollmentCode upper-cases a typed code, drops separators and
// maps the letters people confuse with digits, as Crockford's base32 does.
func normalizeEnrollmentCode(code string) string {
	var sb strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// CreateAPIKey creates an API key and returns it with its secret, which is
// shown once and never stored. Returns CodeInvalid for a bad name or role
// and CodeNotFound for an unknown tenant.
func (l *Ledger) CreateAPIKey(ctx context.Context, tenantID uuid.UUID, name string, role Role) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > MaxCodeLen || !validText(name) {
		return APIKey{}, "", Errorf(CodeInvalid, "API key name must be 1-%d characters of text", MaxCodeLen)
	}
	if role != RoleAdmin && role != RoleManager && role != RoleStaff {
		return APIKey{}, "", Errorf(CodeInvalid, "role must be admin, manager or staff, got %q", role)
	}
	if _, err := l.Tenant(ctx, tenantID); err != nil {
		return APIKey{}, "", err
	}
	secret := newSecret(apiKeyPrefix, tenantID)
	k := APIKey{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), Name: name, Role: role, Hash: hashSecret(secret), CreatedAt: l.clock()}
	if err := l.store.InsertAPIKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// APIKeys lists the tenant's API keys, revoked ones included.
func (l *Ledger) APIKeys(ctx context.Context, tenantID uuid.UUID) (ks []APIKey, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { ks, err = tx.APIKeys(ctx, tenantID); return err })
	return ks, err
}

// RevokeAPIKey revokes an API key. Returns CodeNotFound.
func (l *Ledger) RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID) error {
	return l.store.RevokeAPIKey(ctx, tenantID, keyID, l.clock())
}

// AuthenticateAPIKey returns the live API key a secret belongs to. Returns
// CodeUnauthorized for anything else, without saying why, so a caller
// learns nothing about other tenants' keys.
func (l *Ledger) AuthenticateAPIKey(ctx context.Context, secret string) (APIKey, error) {
	tenantID, hash, ok := parseSecret(apiKeyPrefix, secret)
	if !ok {
		return APIKey{}, Errorf(CodeUnauthorized, "the API key is malformed")
	}
	var k APIKey
	err := l.store.Read(ctx, func(tx ReadTx) (err error) { k, err = tx.APIKeyByHash(ctx, tenantID, hash); return err })
	if ErrorCode(err) == CodeNotFound || (err == nil && subtle.ConstantTimeCompare(k.Hash, hash) != 1) {
		return APIKey{}, Errorf(CodeUnauthorized, "the API key is unknown or was revoked")
	}
	if err != nil {
		return APIKey{}, err
	}
	if !k.RevokedAt.IsZero() {
		return APIKey{}, Errorf(CodeUnauthorized, "the API key is unknown or was revoked")
	}
	return k, nil
}

// CreateEnrollmentCode creates a single-use code that enrolls one device in
// the warehouse, valid for ttl (DefaultEnrollmentTTL when zero). The code
// is returned once and stored only as a hash. Returns CodeNotFound for an
// unknown warehouse and CodeInvalid for a bad ttl.
func (l *Ledger) CreateEnrollmentCode(ctx context.Context, tenantID uuid.UUID, warehouse string, ttl time.Duration) (EnrollmentCode, string, error) {
	if ttl == 0 {
		ttl = DefaultEnrollmentTTL
	}
	if ttl < time.Minute || ttl > MaxEnrollmentTTL {
		return EnrollmentCode{}, "", Errorf(CodeInvalid, "an enrollment code lives between 1m and %s", MaxEnrollmentTTL)
	}
	code := newEnrollmentCode()
	now := l.clock()
	ec := EnrollmentCode{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), Hash: hashSecret(normalizeEnrollmentCode(code)),
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := l.store.Read(ctx, func(tx ReadTx) error {
		whs, err := tx.Warehouses(ctx, tenantID, []string{strings.TrimSpace(warehouse)})
		if err != nil {
			return err
		}
		if len(whs) == 0 {
			return Errorf(CodeNotFound, "warehouse %q not found", warehouse)
		}
		ec.WarehouseID = whs[0].ID
		return nil
	})
	if err != nil {
		return EnrollmentCode{}, "", err
	}
	if err := l.store.InsertEnrollmentCode(ctx, ec); err != nil {
		return EnrollmentCode{}, "", err
	}
	return ec, code, nil
}

// Enrollment is what a handheld gets for its enrollment code.
type Enrollment struct {
	Device    Device
	Warehouse Warehouse
	// LedgerID is the tenant's ledger, which the device's pulls will name.
	LedgerID uuid.UUID
	// Token is the device's credential, returned once; only its hash is
	// stored.
	Token string
}

// Enroll exchanges an enrollment code for a new device in the code's
// warehouse and the device's token, which is returned once. The code is
// used up in the same transaction, so two handhelds racing with one code
// get one device. Returns CodeUnauthorized for an unknown, expired or used
// code and CodeInvalid for a bad name or app version.
func (l *Ledger) Enroll(ctx context.Context, code, name, appVersion string) (Enrollment, error) {
	name, appVersion = strings.TrimSpace(name), strings.TrimSpace(appVersion)
	if name == "" || len(name) > MaxCodeLen || !validText(name) {
		return Enrollment{}, Errorf(CodeInvalid, "device name must be 1-%d characters of text", MaxCodeLen)
	}
	if len(appVersion) > MaxCodeLen || !validText(appVersion) {
		return Enrollment{}, Errorf(CodeInvalid, "app_version must be at most %d characters of text", MaxCodeLen)
	}
	hash := hashSecret(normalizeEnrollmentCode(code))
	var ec EnrollmentCode
	err := l.store.Read(ctx, func(tx ReadTx) (err error) { ec, err = tx.EnrollmentCodeByHash(ctx, hash); return err })
	if ErrorCode(err) == CodeNotFound {
		return Enrollment{}, Errorf(CodeUnauthorized, "the enrollment code is unknown")
	}
	if err != nil {
		return Enrollment{}, err
	}
	now := l.clock()
	if !ec.UsedAt.IsZero() {
		return Enrollment{}, Errorf(CodeUnauthorized, "the enrollment code was already used; ask a manager for a new one")
	}
	if !now.Before(ec.ExpiresAt) {
		return Enrollment{}, Errorf(CodeUnauthorized, "the enrollment code expired; ask a manager for a new one")
	}
	d := Device{TenantID: ec.TenantID, ID: uuid.Must(uuid.NewV7()), WarehouseID: ec.WarehouseID, Name: name,
		AppVersion: appVersion, CreatedAt: now}
	d.BatchPrefix = strings.ToUpper(strings.ReplaceAll(d.ID.String(), "-", "")[24:30])
	token := newSecret(deviceTokenPrefix, ec.TenantID)
	out := Enrollment{Device: d, Token: token}
	err = l.writeKeepingKnown(ctx, ec.TenantID, func(tx Tx) error {
		if err := tx.ClaimEnrollmentCode(ctx, ec.TenantID, ec.ID, d.ID, now); err != nil {
			if ErrorCode(err) == CodeConflict {
				return Errorf(CodeUnauthorized, "the enrollment code was already used; ask a manager for a new one")
			}
			return err
		}
		t, err := tx.Tenant(ctx, ec.TenantID)
		if err != nil {
			return err
		}
		out.LedgerID = t.LedgerID
		whs, err := tx.Warehouses(ctx, ec.TenantID, nil)
		if err != nil {
			return err
		}
		for _, w := range whs {
			if w.ID == ec.WarehouseID {
				out.Warehouse = w
			}
		}
		if err := tx.InsertDevice(ctx, d); err != nil {
			return err
		}
		return tx.InsertDeviceToken(ctx, DeviceToken{TenantID: ec.TenantID, DeviceID: d.ID, Hash: hashSecret(token), CreatedAt: now})
	})
	if err != nil {
		return Enrollment{}, err
	}
	return out, nil
}

// IssueDeviceToken gives a registered device a new token, for operators and
// tests that register devices directly. Returns CodeNotFound.
func (l *Ledger) IssueDeviceToken(ctx context.Context, tenantID, deviceID uuid.UUID) (string, error) {
	token := newSecret(deviceTokenPrefix, tenantID)
	err := l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		if _, err := tx.Device(ctx, tenantID, deviceID); err != nil {
			return err
		}
		return tx.InsertDeviceToken(ctx, DeviceToken{TenantID: tenantID, DeviceID: deviceID, Hash: hashSecret(token), CreatedAt: l.clock()})
	})
	return token, err
}

// AuthenticateDevice returns the device a token belongs to. Returns
// CodeUnauthorized for a malformed or unknown token or a revoked device.
func (l *Ledger) AuthenticateDevice(ctx context.Context, token string) (Device, error) {
	tenantID, hash, ok := parseSecret(deviceTokenPrefix, token)
	if !ok {
		return Device{}, Errorf(CodeUnauthorized, "the device token is malformed")
	}
	var d Device
	err := l.store.Read(ctx, func(tx ReadTx) (err error) { d, err = tx.DeviceByTokenHash(ctx, tenantID, hash); return err })
	if ErrorCode(err) == CodeNotFound {
		return Device{}, Errorf(CodeUnauthorized, "the device token is unknown")
	}
	if err != nil {
		return Device{}, err
	}
	if !d.RevokedAt.IsZero() {
		return Device{}, Errorf(CodeUnauthorized, "this device was revoked; enroll it again with a new code")
	}
	return d, nil
}

// ReportDevice records what a device said about itself with a sync
// request. It is one row update outside the tenant's ledger lock, so a
// thousand devices pulling at once do not queue behind merges. Returns
// CodeInvalid for a bad report and CodeNotFound.
func (l *Ledger) ReportDevice(ctx context.Context, tenantID, deviceID uuid.UUID, r DeviceReport) error {
	if r.Pending < 0 || r.OldestUnsent < 0 || len(r.AppVersion) > MaxCodeLen || !validText(r.AppVersion) {
		return Errorf(CodeInvalid, "device report out of range")
	}
	if r.SeenAt.IsZero() {
		r.SeenAt = l.clock()
	}
	r.OldestUnsent = r.OldestUnsent.Truncate(time.Second)
	return l.store.ReportDevice(ctx, tenantID, deviceID, r)
}
