package ledger

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id and stored as PHC strings,
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with the salt and key in unpadded standard base64. Verification takes
// the parameters from the stored string, so raising passwordParams later
// (within the bounds below) leaves every existing hash verifiable.

// passwordParams are argon2id's parameters for new hashes: OWASP's
// recommended minimum (19 MiB, two passes, one lane), 16-byte salt, 32-byte
// key.
var passwordParams = argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

type argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  int
}

// Bounds on what a stored hash may ask for: small multiples of
// passwordParams (about three times the memory, five times the passes,
// four lanes), enough headroom to raise the parameters for new hashes
// later. A stored hash past them is invalid and its user cannot sign in:
// read from a tampered or corrupt row, it could otherwise make every
// sign-in attempt allocate gigabytes (hashSlots of them at once) or run
// for minutes, and a burst of attempts would take the server down.
const (
	maxArgon2Memory  = 64 * 1024 // KiB: 64 MiB
	maxArgon2Time    = 10
	maxArgon2Threads = 4
	minArgon2SaltLen = 8
	maxArgon2SaltLen = 64
	minArgon2KeyLen  = 16
	maxArgon2KeyLen  = 64
)

// hashSlots bounds the argon2 computations running at once: each holds
// its memory parameter (19 MiB for new hashes, at most maxArgon2Memory) for
// its whole run, and a burst of sign-ins must not add up to more memory
// than the CPUs can use.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// argon2Key computes the key, waiting for a free slot first. It returns
// ctx's error if ctx ends while waiting.
func argon2Key(ctx context.Context, password string, salt []byte, p argon2Params) ([]byte, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen)), nil
}

// hashPassword returns the PHC string of password under passwordParams
// and a fresh random salt.
func hashPassword(ctx context.Context, password string) (string, error) {
	p := passwordParams
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	key, err := argon2Key(ctx, password, salt, p)
	if err != nil {
		return "", err
	}
	return formatPasswordHash(p, salt, key), nil
}

func formatPasswordHash(p argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// errPasswordHash is what parsePasswordHash (and so verifyPassword)
// returns for any string that is not an argon2id PHC string within bounds.
var errPasswordHash = errors.New("not an argon2id password hash within bounds")

// parsePasswordHash parses a PHC argon2id string. It accepts exactly the
// form formatPasswordHash writes, with parameters within the bounds above,
// and never panics, whatever the input.
func parsePasswordHash(s string) (p argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errPasswordHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, errPasswordHash
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		// ParseUint takes no sign; it would take leading zeros, which a
		// canonical string never has.
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return p, nil, nil, errPasswordHash
		}
		if vals[i], err = strconv.ParseUint(v, 10, 32); err != nil {
			return p, nil, nil, errPasswordHash
		}
	}
	p.Memory, p.Time = uint32(vals[0]), uint32(vals[1])
	if vals[2] < 1 || vals[2] > maxArgon2Threads || p.Time < 1 || p.Time > maxArgon2Time ||
		uint64(p.Memory) < 8*vals[2] || p.Memory > maxArgon2Memory {
		return p, nil, nil, errPasswordHash
	}
	p.Threads = uint8(vals[2])
	if salt = decodePHCBase64(parts[4]); len(salt) < minArgon2SaltLen || len(salt) > maxArgon2SaltLen {
		return p, nil, nil, errPasswordHash
	}
	if key = decodePHCBase64(parts[5]); len(key) < minArgon2KeyLen || len(key) > maxArgon2KeyLen {
		return p, nil, nil, errPasswordHash
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	return p, salt, key, nil
}

// decodePHCBase64 decodes unpadded standard base64 in its one canonical
// form, or returns nil. The decoder alone would skip CR and LF and accept
// non-zero trailing bits, so the result must encode back to the input.
func decodePHCBase64(s string) []byte {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || base64.RawStdEncoding.EncodeToString(b) != s {
		return nil
	}
	return b
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing the keys in constant time. A malformed hash, or one whose
// parameters are out of bounds, is errPasswordHash, not a mismatch: it
// means a corrupt or tampered row, which an operator must hear about.
func verifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, key, err := parsePasswordHash(encoded)
	if err != nil {
		return false, err
	}
	got, err := argon2Key(ctx, password, salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyPasswordHash is verified against when there is no user to verify
// against, so a sign-in with an unknown login or tenant takes as long as
// one with a wrong password. It is made on first use: computing it at
// package load would slow every program that imports the ledger.
var dummyPasswordHash = sync.OnceValue(func() string {
	h, err := hashPassword(context.Background(), "stocksync: no such user")
	if err != nil {
		panic(err) // only ctx can fail it, and it has none
	}
	return h
})

// WarmSignIn makes the dummy hash that SignIn verifies unknown logins
// against, so the first sign-in after start does not take twice as long
// (which would also tell an unknown login from a wrong password). A
// server calls it once when it starts serving the console.
func WarmSignIn() { dummyPasswordHash() }
