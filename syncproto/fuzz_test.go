package syncproto

import (
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the headers every sync request carries and the
// enrollment body; FuzzDecodePush is in syncproto_test.go. Seed corpora
// live in testdata/fuzz.

// FuzzParseVersion feeds arbitrary Stocksync-Protocol values: a value is
// accepted only when it names a version of Versions, and refused with
// unsupported_protocol otherwise.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1", " 1\t", "", "2", "01", "+1", "1.0", "v1", "-1", "99999999999999999999", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		v, err := ParseVersion(h)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeUnsupportedProtocol {
				t.Fatalf("ParseVersion(%q): %v is not unsupported_protocol", h, err)
			}
			return
		}
		if v != Version {
			t.Fatalf("ParseVersion(%q) = %d, which this server does not speak", h, v)
		}
		if n, perr := strconv.Atoi(strings.TrimSpace(h)); perr != nil || n != v {
			t.Fatalf("ParseVersion(%q) = %d from a value that is not that number", h, v)
		}
	})
}

// FuzzParseBacklog feeds arbitrary values to the four backlog headers: a
// backlog is refused with invalid or accepted within its ranges, and what
// is accepted survives Set and ParseBacklog again.
func FuzzParseBacklog(f *testing.F) {
	f.Add("42", "5400", "1234", "1.4.0")
	f.Add("", "", "", "")
	f.Add("-1", "x", "1e3", strings.Repeat("v", MaxCodeLen+1))
	f.Add("9223372036854775807", "3153600000", "0", " 2.0 ")
	f.Add("9223372036854775808", "3153600001", "+7", "\x00")
	f.Fuzz(func(t *testing.T, pending, oldest, acked, app string) {
		h := map[string]string{HeaderPending: pending, HeaderOldestUnsent: oldest, HeaderAckedSeq: acked, HeaderAppVersion: app}
		b, err := ParseBacklog(func(k string) string { return h[k] })
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeInvalid {
				t.Fatalf("ParseBacklog: %v is not invalid", err)
			}
			return
		}
		if b.Pending < 0 || b.OldestUnsent < 0 || b.AckedSeq < -1 || len(b.AppVersion) > MaxCodeLen {
			t.Fatalf("ParseBacklog accepted %+v", b)
		}
		if strings.TrimSpace(acked) == "" && b.AckedSeq != -1 {
			t.Fatalf("no acked seq header read as %d", b.AckedSeq)
		}
		hdr := http.Header{}
		b.Set(hdr.Set)
		b2, err := ParseBacklog(hdr.Get)
		if err != nil {
			t.Fatalf("backlog %+v does not survive its own headers: %v", b, err)
		}
		// Header values lose surrounding space and what cannot be in a
		// header; the numbers must come back exactly.
		if b2.Pending != b.Pending || b2.OldestUnsent != b.OldestUnsent || b2.AckedSeq != b.AckedSeq {
			t.Fatalf("backlog %+v comes back as %+v", b, b2)
		}
	})
}

// FuzzDecodeEnroll feeds arbitrary bodies to the decoding of an enrollment
// request, the one body the server reads from a caller with no credential:
// it is refused with invalid, or it decodes, and then its encoding decodes
// to the same request.
func FuzzDecodeEnroll(f *testing.F) {
	f.Add(`{"code":"7K2QH-M4X9P","name":"handheld 1","app_version":"1.0.0"}`)
	f.Add(`{"code":"","name":""}`)
	f.Add(`{"code":"7K2QH-M4X9P","tenant_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c3"}`)
	f.Add(`{"code":"a"}{"code":"b"}`)
	f.Add(`{"code":1}`)
	f.Add(`{"CODE":"x","Name":"y"}`)
	f.Add(`{"code":"\ud800"}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, body string) {
		var req EnrollRequest
		if err := Decode(strings.NewReader(body), &req); err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeInvalid || pe.Message == "" {
				t.Fatalf("Decode(%q): %v is not invalid with a message", body, err)
			}
			return
		}
		b, err := Encode(req)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", req, err)
		}
		var again EnrollRequest
		if err := Decode(strings.NewReader(string(b)), &again); err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("%q decodes as %+v, then %+v", body, req, again)
		}
	})
}
