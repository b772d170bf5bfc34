package ledgertest

// Users and sessions of the web console (DESIGN.md section 6): accounts,
// sign-in, sessions and their end, the last-admin rule, and tenant
// isolation, exercised through ledger.Ledger.

import (
	"crypto/sha256"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// mustUser creates a user or fails the test.
func mustUser(t *testing.T, f *fixture, tenantID uuid.UUID, in ledger.UserInput) ledger.User {
	t.Helper()
	u, err := f.l.CreateUser(f.ctx, tenantID, in)
	if err != nil {
		t.Fatalf("create user %q: %v", in.Login, err)
	}
	return u
}

// mustSignIn signs in or fails the test, and returns the session's secret.
func mustSignIn(t *testing.T, f *fixture, slug, login, password string, ttl time.Duration) (ledger.Session, ledger.User, string) {
	t.Helper()
	s, u, secret, err := f.l.SignIn(f.ctx, slug, login, password, ttl)
	if err != nil {
		t.Fatalf("sign in %s/%s: %v", slug, login, err)
	}
	return s, u, secret
}

// wantSignedIn checks that secret authenticates as the session and user.
func wantSignedIn(t *testing.T, f *fixture, secret string, s ledger.Session, u ledger.User) {
	t.Helper()
	gs, gu, err := f.l.AuthenticateSession(f.ctx, secret)
	if err != nil {
		t.Fatalf("authenticate session: %v", err)
	}
	if gs != s || gu != u {
		t.Fatalf("authenticated as\n %+v\n %+v\nwant\n %+v\n %+v", gs, gu, s, u)
	}
}

// wantSignedOut checks that secret authenticates no more.
func wantSignedOut(t *testing.T, f *fixture, secret, why string) {
	t.Helper()
	if _, _, err := f.l.AuthenticateSession(f.ctx, secret); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
		t.Fatalf("%s: authenticate session = %v, want unauthorized", why, err)
	}
}

// sessionStored reports whether the store still holds the session of
// secret, expired or not.
func sessionStored(t *testing.T, f *fixture, tenantID uuid.UUID, secret string) bool {
	t.Helper()
	sum := sha256.Sum256([]byte(secret))
	err := f.store.Read(f.ctx, func(tx ledger.ReadTx) error {
		_, err := tx.SessionByHash(f.ctx, tenantID, sum[:])
		return err
	})
	if err != nil && ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("read session: %v", err)
	}
	return err == nil
}

func testUsers(t *testing.T, nf Factory) {
	f := setup(t, nf)
	alice := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "  Alice@Example.COM ", Name: " Alice Admin ",
		Role: ledger.RoleAdmin, Password: "correct horse battery"})
	if alice.Login != "alice@example.com" || alice.Name != "Alice Admin" || alice.Role != ledger.RoleAdmin ||
		alice.TenantID != f.tenant.ID || alice.ID == uuid.Nil || !alice.CreatedAt.Equal(f.clock.Now()) || !alice.DisabledAt.IsZero() {
		t.Fatalf("created user = %+v", alice)
	}
	f.clock.Advance(time.Minute)
	// The name defaults to the login; the shortest and longest passwords
	// allowed are allowed.
	bob := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "Bob", Role: ledger.RoleStaff, Password: "0123456789"})
	if bob.Name != "bob" || bob.Login != "bob" {
		t.Errorf("user without a name = %+v, want name and login bob", bob)
	}
	carol := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "carol.m-1_x+y", Name: "Carol", Role: ledger.RoleManager,
		Password: strings.Repeat("p", ledger.MaxPasswordLen)})

	// Logins are unique case-insensitively.
	for _, login := range []string{"ALICE@example.com", "alice@example.com", " bob "} {
		_, err := f.l.CreateUser(f.ctx, f.tenant.ID, ledger.UserInput{Login: login, Role: ledger.RoleStaff, Password: "another password"})
		wantCode(t, err, ledger.CodeConflict)
	}

	us, err := f.l.Users(f.ctx, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ledger.User{alice, bob, carol}; !reflect.DeepEqual(us, want) {
		t.Errorf("users by login:\n got  %+v\n want %+v", us, want)
	}
	for _, u := range []ledger.User{alice, bob, carol} {
		got, err := f.l.User(f.ctx, f.tenant.ID, u.ID)
		if err != nil || got != u {
			t.Errorf("user %s = %+v, %v; want %+v", u.Login, got, err, u)
		}
	}
	_, err = f.l.User(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()))
	wantCode(t, err, ledger.CodeNotFound)

	// Bad input.
	for name, in := range map[string]ledger.UserInput{
		"empty login":        {Login: "  ", Role: ledger.RoleStaff, Password: "long enough"},
		"space in login":     {Login: "dan smith", Role: ledger.RoleStaff, Password: "long enough"},
		"punctuation first":  {Login: ".dan", Role: ledger.RoleStaff, Password: "long enough"},
		"non-ASCII login":    {Login: "dän", Role: ledger.RoleStaff, Password: "long enough"},
		"login too long":     {Login: strings.Repeat("d", ledger.MaxCodeLen+1), Role: ledger.RoleStaff, Password: "long enough"},
		"name on two lines":  {Login: "dan", Name: "Dan\nSmith", Role: ledger.RoleStaff, Password: "long enough"},
		"name too long":      {Login: "dan", Name: strings.Repeat("D", ledger.MaxCodeLen+1), Role: ledger.RoleStaff, Password: "long enough"},
		"name not UTF-8":     {Login: "dan", Name: "Dan \xff", Role: ledger.RoleStaff, Password: "long enough"},
		"unknown role":       {Login: "dan", Role: "owner", Password: "long enough"},
		"no role":            {Login: "dan", Password: "long enough"},
		"password too short": {Login: "dan", Role: ledger.RoleStaff, Password: "123456789"},
		"password too long":  {Login: "dan", Role: ledger.RoleStaff, Password: strings.Repeat("p", ledger.MaxPasswordLen+1)},
		"no password":        {Login: "dan", Role: ledger.RoleStaff},
	} {
		if _, err := f.l.CreateUser(f.ctx, f.tenant.ID, in); ledger.ErrorCode(err) != ledger.CodeInvalid {
			t.Errorf("%s: create user = %v, want invalid", name, err)
		}
	}
	// A password is taken byte for byte: spaces count and are kept.
	mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "eve", Role: ledger.RoleStaff, Password: "          "})
	mustSignIn(t, f, "acme", "eve", "          ", 0)
	_, err = f.l.CreateUser(f.ctx, uuid.Must(uuid.NewV7()), ledger.UserInput{Login: "dan", Role: ledger.RoleStaff, Password: "long enough"})
	wantCode(t, err, ledger.CodeNotFound)

	// The store's own refusals.
	stray := ledger.User{TenantID: uuid.Must(uuid.NewV7()), ID: uuid.Must(uuid.NewV7()), Login: "stray", Name: "stray",
		Role: ledger.RoleStaff, CreatedAt: f.clock.Now()}
	wantCode(t, f.store.InsertUser(f.ctx, stray, "$argon2id$..."), ledger.CodeNotFound)
	dup := bob
	dup.ID = uuid.Must(uuid.NewV7())
	wantCode(t, f.store.InsertUser(f.ctx, dup, "$argon2id$..."), ledger.CodeConflict)
}

func testSignIn(t *testing.T, nf Factory) {
	f := setup(t, nf)
	const password = "correct horse battery"
	alice := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "alice", Name: "Alice", Role: ledger.RoleManager, Password: password})
	mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "root", Role: ledger.RoleAdmin, Password: "the admin's password"})
	f.clock.Advance(time.Minute)

	s, u, secret := mustSignIn(t, f, "acme", "  ALICE ", password, 0)
	if u != alice {
		t.Errorf("signed in as %+v, want %+v", u, alice)
	}
	now := f.clock.Now()
	if s.TenantID != f.tenant.ID || s.UserID != alice.ID || s.ID == uuid.Nil || !s.CreatedAt.Equal(now) ||
		!s.ExpiresAt.Equal(now.Add(ledger.DefaultSessionTTL)) {
		t.Errorf("session = %+v", s)
	}
	if !strings.HasPrefix(secret, "sss_") {
		t.Errorf("session secret %q lacks its prefix", secret)
	}
	wantSignedIn(t, f, secret, s, alice)

	// Every failed sign-in says the same thing.
	var msgs []string
	for name, c := range map[string][3]string{
		"wrong password":        {"acme", "alice", password + "!"},
		"password's case":       {"acme", "alice", strings.ToUpper(password)},
		"empty password":        {"acme", "alice", ""},
		"unknown login":         {"acme", "alicia", password},
		"unknown tenant":        {"acme-corp", "alice", password},
		"malformed tenant":      {"ACME", "alice", password},
		"another user's secret": {"acme", "alice", "the admin's password"},
	} {
		_, _, _, err := f.l.SignIn(f.ctx, c[0], c[1], c[2], 0)
		if ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			t.Fatalf("%s: sign in = %v, want unauthorized", name, err)
		}
		msgs = append(msgs, ledger.ErrorMessage(err))
	}
	_, _, _, err := f.l.SignIn(f.ctx, "acme", "alice", password, 30*time.Second)
	wantCode(t, err, ledger.CodeInvalid)
	_, _, _, err = f.l.SignIn(f.ctx, "acme", "alice", password, ledger.MaxSessionTTL+time.Second)
	wantCode(t, err, ledger.CodeInvalid)

	// Secrets that are not this session's.
	for name, sec := range map[string]string{
		"garbage":           "not a session",
		"empty":             "",
		"truncated":         secret[:len(secret)-1],
		"last char changed": flipLast(secret),
		"API key prefix":    "ssk_" + secret[len("sss_"):],
		"device prefix":     "ssd_" + secret[len("sss_"):],
	} {
		wantSignedOut(t, f, sec, name)
	}

	// A role change keeps the session, which sees the new role.
	if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, alice.ID, ledger.RoleStaff); err != nil {
		t.Fatal(err)
	}
	alice.Role = ledger.RoleStaff
	wantSignedIn(t, f, secret, s, alice)

	// Sign-out ends one session, and is idempotent.
	s2, _, secret2 := mustSignIn(t, f, "acme", "alice", password, time.Hour)
	if err := f.l.SignOut(f.ctx, secret); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	wantSignedOut(t, f, secret, "signed out")
	wantSignedIn(t, f, secret2, s2, alice)
	for _, sec := range []string{secret, "garbage", ""} {
		if err := f.l.SignOut(f.ctx, sec); err != nil {
			t.Errorf("sign out %q again: %v", sec, err)
		}
	}

	// Expiry follows the ledger's clock: the session lives until, not
	// at, ExpiresAt.
	_, _, live := mustSignIn(t, f, "acme", "root", "the admin's password", 0)
	f.clock.Advance(time.Hour - time.Microsecond)
	wantSignedIn(t, f, secret2, s2, alice)
	f.clock.Advance(time.Microsecond)
	wantSignedOut(t, f, secret2, "expired")
	// The expired session stays stored until a sign-in of its tenant
	// sweeps it; a live one is kept.
	if !sessionStored(t, f, f.tenant.ID, secret2) {
		t.Fatal("the expired session is gone before any sign-in swept it")
	}
	f.clock.Advance(time.Second)
	mustSignIn(t, f, "acme", "root", "the admin's password", 0)
	if sessionStored(t, f, f.tenant.ID, secret2) {
		t.Error("a sign-in of the tenant left its expired session stored")
	}
	if !sessionStored(t, f, f.tenant.ID, live) {
		t.Error("a sign-in swept a live session")
	}

	// A password change ends every session of the user, and only theirs.
	_, _, secret3 := mustSignIn(t, f, "acme", "alice", password, 0)
	_, _, secret4 := mustSignIn(t, f, "acme", "alice", password, 0)
	const newPassword = "a brand new password"
	wantCode(t, f.l.SetUserPassword(f.ctx, f.tenant.ID, alice.ID, "too short"), ledger.CodeInvalid)
	wantCode(t, f.l.SetUserPassword(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()), newPassword), ledger.CodeNotFound)
	if _, _, err := f.l.AuthenticateSession(f.ctx, secret3); err != nil {
		t.Fatalf("a refused password change ended a session: %v", err)
	}
	if err := f.l.SetUserPassword(f.ctx, f.tenant.ID, alice.ID, newPassword); err != nil {
		t.Fatalf("set password: %v", err)
	}
	wantSignedOut(t, f, secret3, "password changed")
	wantSignedOut(t, f, secret4, "password changed")
	if _, _, err := f.l.AuthenticateSession(f.ctx, live); err != nil {
		t.Errorf("another user's session ended with alice's password: %v", err)
	}
	_, _, _, err = f.l.SignIn(f.ctx, "acme", "alice", password, 0)
	wantCode(t, err, ledger.CodeUnauthorized)
	msgs = append(msgs, ledger.ErrorMessage(err))
	_, _, secret5 := mustSignIn(t, f, "acme", "alice", newPassword, 0)

	// Disabling ends the sessions and refuses sign-in with the same
	// message as a wrong password; a second disable keeps the first time.
	disabledAt := f.clock.Now()
	if err := f.l.DisableUser(f.ctx, f.tenant.ID, alice.ID); err != nil {
		t.Fatalf("disable: %v", err)
	}
	wantSignedOut(t, f, secret5, "user disabled")
	_, _, _, err = f.l.SignIn(f.ctx, "acme", "alice", newPassword, 0)
	wantCode(t, err, ledger.CodeUnauthorized)
	msgs = append(msgs, ledger.ErrorMessage(err))
	f.clock.Advance(time.Minute)
	if err := f.l.DisableUser(f.ctx, f.tenant.ID, alice.ID); err != nil {
		t.Fatalf("disable again: %v", err)
	}
	got, err := f.l.User(f.ctx, f.tenant.ID, alice.ID)
	if err != nil || !got.DisabledAt.Equal(disabledAt) {
		t.Errorf("disabled user = %+v, %v; want disabled at %s", got, err, disabledAt)
	}
	wantCode(t, f.l.DisableUser(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7())), ledger.CodeNotFound)
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Errorf("failed sign-ins differ: %q and %q", msgs[0], m)
		}
	}
	if _, _, err := f.l.AuthenticateSession(f.ctx, live); err != nil {
		t.Errorf("the admin's session ended with alice's disable: %v", err)
	}
}

// testSessionInsertRace: the store inserts a session only for an enabled
// user whose password hash is still the one the sign-in verified, so a
// sign-in that raced with a password change or a disable never outlives it.
func testSessionInsertRace(t *testing.T, nf Factory) {
	f := setup(t, nf)
	alice := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "alice", Role: ledger.RoleStaff, Password: "correct horse battery"})
	var hash string
	err := f.store.Read(f.ctx, func(tx ledger.ReadTx) (err error) {
		var u ledger.User
		u, hash, err = tx.UserByLogin(f.ctx, f.tenant.ID, "alice")
		if err == nil && u != alice {
			t.Errorf("user by login = %+v, want %+v", u, alice)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored password hash %q is not argon2id with OWASP's parameters", hash)
	}
	now := f.clock.Now()
	// session returns a new session of alice and a hash to store it under.
	session := func() (ledger.Session, []byte) {
		sum := sha256.Sum256([]byte(uuid.NewString()))
		return ledger.Session{TenantID: f.tenant.ID, ID: uuid.Must(uuid.NewV7()), UserID: alice.ID, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour)}, sum[:]
	}
	s, h := session()
	if err := f.store.InsertSession(f.ctx, s, h, hash); err != nil {
		t.Fatalf("insert session: %v", err)
	}
	err = f.store.Read(f.ctx, func(tx ledger.ReadTx) error {
		got, err := tx.SessionByHash(f.ctx, f.tenant.ID, h)
		if err == nil && got != s {
			t.Errorf("session by hash = %+v, want %+v", got, s)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s, h = session()
	wantCode(t, f.store.InsertSession(f.ctx, s, h, hash+"x"), ledger.CodeConflict)
	s, h = session()
	s.UserID = uuid.Must(uuid.NewV7())
	wantCode(t, f.store.InsertSession(f.ctx, s, h, hash), ledger.CodeNotFound)
	if err := f.l.DisableUser(f.ctx, f.tenant.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	s, h = session()
	wantCode(t, f.store.InsertSession(f.ctx, s, h, hash), ledger.CodeConflict)
}

func testLastAdmin(t *testing.T, nf Factory) {
	f := setup(t, nf)
	a1 := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "a1", Role: ledger.RoleAdmin, Password: "first admin's password"})
	_, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleManager)
	wantCode(t, err, ledger.CodeConflict)
	wantCode(t, f.l.DisableUser(f.ctx, f.tenant.ID, a1.ID), ledger.CodeConflict)
	if u, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleAdmin); err != nil || u != a1 {
		t.Errorf("keeping the last admin an admin = %+v, %v", u, err)
	}
	_, err = f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, "root")
	wantCode(t, err, ledger.CodeInvalid)
	_, err = f.l.SetUserRole(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()), ledger.RoleStaff)
	wantCode(t, err, ledger.CodeNotFound)

	a2 := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "a2", Role: ledger.RoleAdmin, Password: "second admin's password"})
	u, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleManager)
	if err != nil {
		t.Fatalf("demote one of two admins: %v", err)
	}
	want := a1
	want.Role = ledger.RoleManager
	if u != want {
		t.Errorf("demoted user = %+v, want %+v", u, want)
	}
	if got, err := f.l.User(f.ctx, f.tenant.ID, a1.ID); err != nil || got.Role != ledger.RoleManager {
		t.Errorf("demoted user reads back as %+v, %v", got, err)
	}
	wantCode(t, f.l.DisableUser(f.ctx, f.tenant.ID, a2.ID), ledger.CodeConflict)
	if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := f.l.DisableUser(f.ctx, f.tenant.ID, a2.ID); err != nil {
		t.Fatalf("disable one of two admins: %v", err)
	}
	// A disabled admin is no admin: a1 is the last again. Demoting the
	// disabled one is fine.
	_, err = f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleStaff)
	wantCode(t, err, ledger.CodeConflict)
	if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a2.ID, ledger.RoleStaff); err != nil {
		t.Errorf("demote a disabled admin: %v", err)
	}
	// A tenant that never had an admin has no last one to protect.
	m := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "m", Role: ledger.RoleManager, Password: "a manager's password"})
	if err := f.l.DisableUser(f.ctx, f.tenant.ID, m.ID); err != nil {
		t.Errorf("disable a manager: %v", err)
	}

	// Two admins demoting (or disabling) each other at once: one wins.
	for round := range 3 {
		b1 := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "b1-" + string(rune('a'+round)), Role: ledger.RoleAdmin, Password: "racing admin one"})
		b2 := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "b2-" + string(rune('a'+round)), Role: ledger.RoleAdmin, Password: "racing admin two"})
		// a1 steps down, so b1 and b2 are the only enabled admins.
		if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleStaff); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []uuid.UUID{b1.ID, b2.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if round%2 == 0 {
					_, errs[i] = f.l.SetUserRole(f.ctx, f.tenant.ID, id, ledger.RoleManager)
				} else {
					errs[i] = f.l.DisableUser(f.ctx, f.tenant.ID, id)
				}
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch ledger.ErrorCode(err) {
			case "":
				won++
			case ledger.CodeConflict:
			default:
				t.Errorf("round %d: %d: %v", round, i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of 2 admins removing each other at once succeeded, want 1", round, won)
		}
		admins := 0
		us, err := f.l.Users(f.ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Role == ledger.RoleAdmin && u.DisabledAt.IsZero() {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d: %d enabled admins, want 1", round, admins)
		}
		// Hand the role back to a1 for the next round.
		if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, a1.ID, ledger.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		for _, id := range []uuid.UUID{b1.ID, b2.ID} {
			if _, err := f.l.SetUserRole(f.ctx, f.tenant.ID, id, ledger.RoleStaff); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testUserTenantIsolation(t *testing.T, nf Factory) {
	f := setup(t, nf)
	other, err := f.l.CreateTenant(f.ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	const acmePass, globexPass = "acme's alice password", "globex's alice password"
	acmeAlice := mustUser(t, f, f.tenant.ID, ledger.UserInput{Login: "alice", Role: ledger.RoleAdmin, Password: acmePass})
	globexAlice := mustUser(t, f, other.ID, ledger.UserInput{Login: "ALICE", Role: ledger.RoleStaff, Password: globexPass})
	if acmeAlice.ID == globexAlice.ID || globexAlice.TenantID != other.ID || globexAlice.Login != "alice" {
		t.Fatalf("one login in two tenants: %+v and %+v", acmeAlice, globexAlice)
	}
	mustUser(t, f, other.ID, ledger.UserInput{Login: "gadmin", Role: ledger.RoleAdmin, Password: "globex admin password"})

	// Each alice signs in with her own password under her own tenant only.
	_, _, _, err = f.l.SignIn(f.ctx, "globex", "alice", acmePass, 0)
	wantCode(t, err, ledger.CodeUnauthorized)
	_, _, _, err = f.l.SignIn(f.ctx, "acme", "alice", globexPass, 0)
	wantCode(t, err, ledger.CodeUnauthorized)
	as, au, asecret := mustSignIn(t, f, "acme", "alice", acmePass, 0)
	gs, gu, gsecret := mustSignIn(t, f, "globex", "alice", globexPass, 0)
	if au != acmeAlice || gu != globexAlice || as.TenantID != f.tenant.ID || gs.TenantID != other.ID {
		t.Fatalf("signed in as %+v (%+v) and %+v (%+v)", au, as, gu, gs)
	}
	// A session names its tenant; under another tenant's ID it is nothing.
	wantSignedOut(t, f, withTenantID("sss_", asecret, other.ID), "acme session under globex's id")
	wantSignedOut(t, f, withTenantID("sss_", gsecret, f.tenant.ID), "globex session under acme's id")
	if err := f.l.SignOut(f.ctx, withTenantID("sss_", asecret, other.ID)); err != nil {
		t.Fatal(err)
	}
	wantSignedIn(t, f, asecret, as, acmeAlice)

	// Another tenant's user is not found by ID under this tenant.
	_, err = f.l.User(f.ctx, other.ID, acmeAlice.ID)
	wantCode(t, err, ledger.CodeNotFound)
	_, err = f.l.SetUserRole(f.ctx, other.ID, acmeAlice.ID, ledger.RoleStaff)
	wantCode(t, err, ledger.CodeNotFound)
	wantCode(t, f.l.SetUserPassword(f.ctx, other.ID, acmeAlice.ID, "a takeover attempt"), ledger.CodeNotFound)
	wantCode(t, f.l.DisableUser(f.ctx, other.ID, acmeAlice.ID), ledger.CodeNotFound)
	wantSignedIn(t, f, asecret, as, acmeAlice)
	us, err := f.l.Users(f.ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0] != globexAlice || us[1].Login != "gadmin" {
		t.Errorf("globex's users = %+v", us)
	}
	// Ending one alice's sessions leaves the other's alone.
	if err := f.l.SetUserPassword(f.ctx, other.ID, globexAlice.ID, "globex's new password"); err != nil {
		t.Fatal(err)
	}
	wantSignedOut(t, f, gsecret, "globex alice's password changed")
	wantSignedIn(t, f, asecret, as, acmeAlice)
	// The last admin rule counts one tenant's admins: globex's admin does
	// not save acme's.
	wantCode(t, f.l.DisableUser(f.ctx, f.tenant.ID, acmeAlice.ID), ledger.CodeConflict)
	// The store refuses a session of a user under another tenant.
	var hash string
	if err := f.store.Read(f.ctx, func(tx ledger.ReadTx) (err error) {
		_, hash, err = tx.UserByLogin(f.ctx, f.tenant.ID, "alice")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	cross := ledger.Session{TenantID: other.ID, ID: uuid.Must(uuid.NewV7()), UserID: acmeAlice.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	wantCode(t, f.store.InsertSession(f.ctx, cross, make([]byte, 32), hash), ledger.CodeNotFound)
}
