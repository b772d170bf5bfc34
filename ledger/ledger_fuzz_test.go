package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Fuzz targets for the ledger's decoders of untrusted input: the pull
// cursor a device sends back, the operations it pushes, and the
// credentials and enrollment codes anyone can present. Seed corpora live in
// testdata/fuzz; CI runs each target for a few seconds.

// FuzzDecodeCursor feeds arbitrary cursors to decodeCursor: each either
// decodes to a cursor that satisfies the cursor's invariants or is refused
// with CodeInvalid, and a decoded cursor re-encodes to a string that
// decodes to the same cursor and encodes the same again.
func FuzzDecodeCursor(f *testing.F) {
	key := &FeedKey{Changed: 7, ID: uuid.MustParse("019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c3")}
	for _, c := range []feedCursor{
		{Version: 1, LedgerID: uuid.MustParse("019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4")},
		{Version: 1, Since: 5, Upto: 9, Phase: phaseBalances, After: key},
		{Version: 1, Since: 5, Upto: 9, Phase: phaseReviews},
	} {
		f.Add(c.encode())
	}
	f.Add("")
	f.Add("e30")                                                                // {}
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"s":-1}`)))       // negative since
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"s":3,"u":2}`)))  // upto before since
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"p":9,"u":1}`)))  // no such phase
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"a":{},"u":0}`))) // after outside a round
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"s":1e30}`)))     // not an int64
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"l":"nope"}`)))   // not a UUID
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"v":1}`)))                 // padded
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("decodeCursor(%q): %v is not CodeInvalid", s, err)
			}
			return
		}
		if c.Version != 1 || c.Since < 0 || c.Upto < 0 || (c.Upto != 0 && c.Upto < c.Since) ||
			c.Phase < 0 || c.Phase >= phaseCount || (c.Upto == 0 && (c.Phase != 0 || c.After != nil)) {
			t.Fatalf("decodeCursor(%q) accepted %+v", s, c)
		}
		enc := c.encode()
		c2, err := decodeCursor(enc)
		if err != nil {
			t.Fatalf("re-encoded cursor %q of %q does not decode: %v", enc, s, err)
		}
		if !sameCursor(c, c2) {
			t.Fatalf("cursor %q: %+v re-decodes as %+v", s, c, c2)
		}
		if enc2 := c2.encode(); enc2 != enc {
			t.Fatalf("cursor %q re-encodes unstably: %q then %q", s, enc, enc2)
		}
	})
}

func sameCursor(a, b feedCursor) bool {
	if (a.After == nil) != (b.After == nil) || (a.After != nil && *a.After != *b.After) {
		return false
	}
	a.After, b.After = nil, nil
	return a == b
}

// FuzzOperation feeds arbitrary JSON to the decoding of an operation, the
// way a pushed op reaches the ledger: normalizing, validating and
// canonicalizing never panic (a panic would answer every push of the
// device 500 and wedge it), the canonical payload is stable under
// normalizing again and under decoding it back, and an operation that
// validates round-trips through its payload unchanged.
func FuzzOperation(f *testing.F) {
	for _, s := range []string{
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":1,"kind":"receive","occurred_at":"2026-11-27T10:00:00Z","sku":"WIDGET","qty":5,"location":"A1","ref":"PO-1"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":2,"kind":"pick","occurred_at":"2026-11-27T10:00:00.123456789+02:00","barcode":"4000001000013","qty":1,"location":" A1 ","order":"SO-1"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":3,"kind":"return","occurred_at":"2026-11-27T10:00:00Z","sku":"BOLT","batch":"L1","qty":1,"location":"RET","order":"SO-1","reason":"damaged","exchange_of":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c5"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":4,"kind":"transfer","occurred_at":"2026-11-27T10:00:00Z","sku":"W","qty":2,"location":"A1","to_location":"A2"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":5,"kind":"count","occurred_at":"2026-11-27T10:00:00Z","sku":"W","qty":0,"location":"A1","actor":"badge 7","note":"recount"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":6,"kind":"adjust","occurred_at":"2026-11-27T10:00:00Z","sku":"W","qty":-3,"location":"A1","reason":"damage"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":7,"kind":"receive","occurred_at":"2026-11-27T10:00:00Z","sku":"BOLT","expiry":"2027-02-30","qty":1,"location":"A1"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":8,"kind":"pick","occurred_at":"0000-01-01T00:00:00+01:00","sku":"W","qty":1,"location":"A1"}`,
		`{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":9,"kind":"pick","occurred_at":"9999-12-31T23:59:59-23:59","sku":"W","qty":1,"location":"A1"}`,
		`{"seq":1,"kind":"teleport","qty":1000000000001,"sku":"\u0000"}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var op Operation
		if json.Unmarshal(data, &op) != nil {
			return
		}
		verr := op.Validate()
		if verr != nil && ErrorCode(verr) == CodeInternal {
			t.Fatalf("Validate: %v is not a coded error", verr)
		}
		norm := op.normalize()
		if norm.normalize() != norm {
			t.Fatalf("normalize is not idempotent: %+v", norm)
		}
		payload, hash := op.canonicalPayload()
		if p2, h2 := norm.canonicalPayload(); !bytes.Equal(p2, payload) || !bytes.Equal(h2, hash) {
			t.Fatalf("canonical payload changes once normalized:\n%s\n%s", payload, p2)
		}
		rec := OpRecord{Seq: op.Seq, Payload: payload}
		back, err := rec.Operation()
		if err != nil {
			t.Fatalf("canonical payload %s does not decode: %v", payload, err)
		}
		if verr != nil || norm.Validate() != nil {
			// Only valid operations are promised to round-trip: an invalid
			// text field is stored as JSON makes it, and rejected anyway.
			return
		}
		if p3, _ := back.canonicalPayload(); !bytes.Equal(p3, payload) {
			t.Fatalf("canonical payload is not stable through its own decoding:\n%s\n%s", payload, p3)
		}
		if !back.OccurredAt.Equal(norm.OccurredAt) {
			t.Fatalf("occurred_at %v comes back as %v", norm.OccurredAt, back.OccurredAt)
		}
		back.OccurredAt = norm.OccurredAt
		if back != norm {
			t.Fatalf("valid operation does not round-trip:\n%+v\n%+v", norm, back)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("valid operation is invalid once decoded from its payload: %v", err)
		}
	})
}

// FuzzParseSecret feeds arbitrary strings to the credential parser and the
// enrollment code normalizer. parseSecret accepts exactly the shape
// newSecret makes, and the tenant it returns is the one the secret names;
// normalizeEnrollmentCode is idempotent, so a normalized code hashes the
// same however often it is normalized.
func FuzzParseSecret(f *testing.F) {
	tenant := uuid.MustParse("019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c3")
	f.Add(newSecret(apiKeyPrefix, tenant))
	f.Add(newSecret(deviceTokenPrefix, tenant))
	f.Add("ssk_nonsense")
	f.Add("ssk_" + strings.Repeat("g", 32) + "_" + strings.Repeat("A", 43))
	f.Add("ssd_" + strings.Repeat("0", 32) + "_" + strings.Repeat("=", 43))
	f.Add(newEnrollmentCode())
	f.Add("abcde-fghij")
	f.Add("oIl-ǰ ß\u0130\t")
	f.Fuzz(func(t *testing.T, s string) {
		for _, prefix := range []string{apiKeyPrefix, deviceTokenPrefix} {
			id, hash, ok := parseSecret(prefix, s)
			if !ok {
				if id != uuid.Nil || hash != nil {
					t.Fatalf("parseSecret(%q) refused it but returned %v %x", s, id, hash)
				}
				continue
			}
			if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+32+1+43 {
				t.Fatalf("parseSecret(%q, %q) accepted a secret of the wrong shape", prefix, s)
			}
			if got := strings.ToLower(strings.ReplaceAll(id.String(), "-", "")); got != strings.ToLower(s[len(prefix):len(prefix)+32]) {
				t.Fatalf("parseSecret(%q) names tenant %s", s, id)
			}
			if !bytes.Equal(hash, hashSecret(s)) {
				t.Fatalf("parseSecret(%q) hash is not the secret's", s)
			}
		}
		n := normalizeEnrollmentCode(s)
		if n2 := normalizeEnrollmentCode(n); n2 != n {
			t.Fatalf("normalizeEnrollmentCode is not idempotent: %q -> %q -> %q", s, n, n2)
		}
	})
}
