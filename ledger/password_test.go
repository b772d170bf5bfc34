package ledger

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, err := hashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry OWASP's parameters", h)
	}
	p, salt, key, err := parsePasswordHash(h)
	if err != nil {
		t.Fatalf("parse own hash: %v", err)
	}
	if p != passwordParams || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("parsed %+v, salt %d bytes, key %d bytes", p, len(salt), len(key))
	}
	if formatPasswordHash(p, salt, key) != h {
		t.Fatalf("format(parse(h)) != h")
	}
	h2, err := hashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}

	for _, tc := range []struct {
		name, hash, password string
		want                 bool
	}{
		{"right", h, "correct horse battery staple", true},
		{"right, other salt", h2, "correct horse battery staple", true},
		{"wrong", h, "correct horse battery stapler", false},
		{"case", h, "Correct horse battery staple", false},
		{"empty", h, "", false},
	} {
		ok, err := verifyPassword(ctx, tc.hash, tc.password)
		if err != nil || ok != tc.want {
			t.Errorf("%s: verify = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}

	// Parameters come from the string: a hash made with other (cheaper)
	// parameters still verifies, as old hashes must after a raise.
	salt = []byte("0123456789abcdef")
	cheap := argon2Params{Memory: 64, Time: 1, Threads: 2, SaltLen: len(salt), KeyLen: 24}
	old := formatPasswordHash(cheap, salt, argon2.IDKey([]byte("an older password"), salt, 1, 64, 2, 24))
	if ok, err := verifyPassword(ctx, old, "an older password"); err != nil || !ok {
		t.Errorf("hash with other parameters: verify = %v, %v", ok, err)
	}
	if ok, err := verifyPassword(ctx, old, "an older passworD"); err != nil || ok {
		t.Errorf("hash with other parameters, wrong password: verify = %v, %v", ok, err)
	}

	// A malformed stored hash, or one past the bounds, is an error, never
	// a match, and is refused before any hashing.
	for _, bad := range []string{
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=2097152,t=64,p=255$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
	} {
		if ok, err := verifyPassword(ctx, bad, "x"); !errors.Is(err, errPasswordHash) || ok {
			t.Errorf("%s: verify = %v, %v; want errPasswordHash", bad, ok, err)
		}
	}

	// A cancelled context waiting for a hashing slot gives up.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	_, err = hashPassword(cctx, "correct horse battery staple")
	for range cap(hashSlots) {
		<-hashSlots
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("hash with every slot taken and a cancelled context: %v", err)
	}
}

func TestParsePasswordHash(t *testing.T) {
	t.Parallel()
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64([]byte("0123456789abcdef")), b64([]byte("0123456789abcdef0123456789abcdef"))
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, _, _, err := parsePasswordHash(good); err != nil {
		t.Fatalf("good hash: %v", err)
	}
	// The bounds themselves are allowed: a few times today's parameters.
	for _, params := range []string{"m=65536,t=10,p=4", "m=32,t=1,p=4", "m=8,t=1,p=1"} {
		if p, _, _, err := parsePasswordHash("$argon2id$v=19$" + params + "$" + salt + "$" + key); err != nil {
			t.Errorf("%s: %v", params, err)
		} else if p.Memory > maxArgon2Memory || p.Time > maxArgon2Time || p.Threads > maxArgon2Threads {
			t.Errorf("%s parsed as %+v", params, p)
		}
	}
	for name, s := range map[string]string{
		"empty":              "",
		"argon2i":            "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"version 16":         "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"no version":         "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"params reordered":   "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"extra param":        "$argon2id$v=19$m=19456,t=2,p=1,k=1$" + salt + "$" + key,
		"no lanes":           "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"5 lanes":            "$argon2id$v=19$m=19456,t=2,p=5$" + salt + "$" + key,
		"255 lanes":          "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key,
		"256 lanes":          "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"no passes":          "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"11 passes":          "$argon2id$v=19$m=19456,t=11,p=1$" + salt + "$" + key,
		"64 passes":          "$argon2id$v=19$m=19456,t=64,p=1$" + salt + "$" + key,
		"memory under 8p":    "$argon2id$v=19$m=15,t=2,p=2$" + salt + "$" + key,
		"memory over 64 MiB": "$argon2id$v=19$m=65537,t=2,p=1$" + salt + "$" + key,
		"memory of 2 GiB":    "$argon2id$v=19$m=2097152,t=2,p=1$" + salt + "$" + key,
		"all at the old max": "$argon2id$v=19$m=2097152,t=64,p=255$" + salt + "$" + key,
		"memory overflow":    "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,
		"signed":             "$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key,
		"leading zero":       "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"empty value":        "$argon2id$v=19$m=,t=2,p=1$" + salt + "$" + key,
		"padded salt":        "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"short salt":         "$argon2id$v=19$m=19456,t=2,p=1$" + b64([]byte("1234567")) + "$" + key,
		"short key":          "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + b64([]byte("0123456789abcde")),
		"long key":           "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + b64(make([]byte, 65)),
		"url alphabet":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$-" + key[1:],
		"line break in salt": "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:4] + "\r\n" + salt[4:] + "$" + key,
		"trailing bits":      "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:len(salt)-1] + "x$" + key,
		"no key":             "$argon2id$v=19$m=19456,t=2,p=1$" + salt,
		"trailing dollar":    good + "$",
		"leading text":       "x" + good,
	} {
		if _, _, _, err := parsePasswordHash(s); err == nil {
			t.Errorf("%s: %q parsed", name, s)
		}
	}
}

// FuzzParsePasswordHash feeds arbitrary strings to parsePasswordHash, the
// parser of what the users table holds: it never panics, and what it
// accepts is within the bounds a verification may spend and formats back
// to the same string.
func FuzzParsePasswordHash(f *testing.F) {
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64([]byte("0123456789abcdef")), b64([]byte("0123456789abcdef0123456789abcdef"))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=2097152,t=64,p=255$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=65536,t=10,p=4$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=65537,t=10,p=4$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=65536,t=11,p=4$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=65536,t=10,p=5$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key)
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePasswordHash(s)
		if err != nil {
			return
		}
		if p.Threads < 1 || p.Threads > maxArgon2Threads || p.Time < 1 || p.Time > maxArgon2Time ||
			p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory {
			t.Fatalf("%q: parameters out of bounds: %+v", s, p)
		}
		if len(salt) < minArgon2SaltLen || len(salt) > maxArgon2SaltLen || len(key) < minArgon2KeyLen || len(key) > maxArgon2KeyLen ||
			p.SaltLen != len(salt) || p.KeyLen != len(key) {
			t.Fatalf("%q: salt %d or key %d bytes out of bounds (%+v)", s, len(salt), len(key), p)
		}
		if back := formatPasswordHash(p, salt, key); back != s {
			t.Fatalf("%q parsed, but formats back as %q", s, back)
		}
	})
}
