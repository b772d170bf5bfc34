package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"stocksync/ledger"
	"stocksync/ledger/sqlite"
)

// FuzzAuthenticate presents arbitrary strings as API keys and device
// tokens to a real ledger (SQLite) holding live and revoked credentials of
// a tenant: nothing but a live credential itself authenticates, and every
// refusal is unauthorized (never a panic, an internal error or another
// code that would tell a caller something).
func FuzzAuthenticate(f *testing.F) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "ledger.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	l := ledger.New(store, ledger.Options{Logger: slog.New(slog.DiscardHandler)})
	tn, err := l.CreateTenant(ctx, "alpha", "Alpha Ltd", nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := l.UpsertCatalog(ctx, tn.ID, testCatalog); err != nil {
		f.Fatal(err)
	}
	_, key, err := l.CreateAPIKey(ctx, tn.ID, "live", ledger.RoleAdmin)
	if err != nil {
		f.Fatal(err)
	}
	dead, deadKey, err := l.CreateAPIKey(ctx, tn.ID, "revoked", ledger.RoleAdmin)
	if err != nil {
		f.Fatal(err)
	}
	if err := l.RevokeAPIKey(ctx, tn.ID, dead.ID); err != nil {
		f.Fatal(err)
	}
	enroll := func(name string) (ledger.Device, string) {
		_, code, err := l.CreateEnrollmentCode(ctx, tn.ID, "W1", 0)
		if err != nil {
			f.Fatal(err)
		}
		e, err := l.Enroll(ctx, code, name, "1.0.0")
		if err != nil {
			f.Fatal(err)
		}
		return e.Device, e.Token
	}
	_, token := enroll("live")
	deadDev, deadToken := enroll("revoked")
	if err := l.RevokeDevice(ctx, tn.ID, deadDev.ID); err != nil {
		f.Fatal(err)
	}
	// The live secrets seed the fuzzer with near misses: the right tenant
	// and shape, one byte off.
	for _, s := range []string{key, deadKey, token, deadToken, strings.ToUpper(key), key + " ", key[:len(key)-1] + "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := l.AuthenticateAPIKey(ctx, s)
		switch {
		case s == key:
			if err != nil || k.TenantID != tn.ID {
				t.Fatalf("the live key does not authenticate: %v", err)
			}
		case err == nil:
			t.Fatalf("%q authenticates as API key %q", s, k.Name)
		case ledger.ErrorCode(err) != ledger.CodeUnauthorized:
			t.Fatalf("API key %q: %v is not unauthorized", s, err)
		}
		d, err := l.AuthenticateDevice(ctx, s)
		switch {
		case s == token:
			if err != nil || d.TenantID != tn.ID {
				t.Fatalf("the live token does not authenticate: %v", err)
			}
		case err == nil:
			t.Fatalf("%q authenticates as device %q", s, d.Name)
		case ledger.ErrorCode(err) != ledger.CodeUnauthorized:
			t.Fatalf("device token %q: %v is not unauthorized", s, err)
		}
	})
}
