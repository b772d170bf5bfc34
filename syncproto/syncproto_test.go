package syncproto

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		header string
		ok     bool
	}{{"1", true}, {" 1 ", true}, {"", false}, {"2", false}, {"0", false}, {"v1", false}, {"1.0", false}} {
		v, err := ParseVersion(tc.header)
		if tc.ok != (err == nil) {
			t.Errorf("ParseVersion(%q) = %d, %v; want ok=%v", tc.header, v, err, tc.ok)
			continue
		}
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Code != CodeUnsupportedProtocol || !strings.Contains(pe.Message, "1")) {
			t.Errorf("ParseVersion(%q): error %v is not an unsupported_protocol naming the versions", tc.header, err)
		}
	}
}

func TestBacklogRoundTrip(t *testing.T) {
	h := http.Header{}
	in := Backlog{Pending: 42, OldestUnsent: 90*time.Minute + 700*time.Millisecond, AckedSeq: 1234, AppVersion: "1.4.0"}
	in.Set(h.Set)
	out, err := ParseBacklog(h.Get)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.OldestUnsent = 90 * time.Minute // whole seconds on the wire
	if out != want {
		t.Errorf("round trip: got %+v, want %+v", out, want)
	}

	empty, err := ParseBacklog(http.Header{}.Get)
	if err != nil || empty.AckedSeq != -1 || empty.Pending != 0 {
		t.Errorf("no headers: got %+v, %v; want zero backlog with AckedSeq -1", empty, err)
	}
	for _, bad := range []struct{ k, v string }{{HeaderPending, "-1"}, {HeaderPending, "x"}, {HeaderAckedSeq, "1e3"}, {HeaderOldestUnsent, "-5"}} {
		h := http.Header{}
		h.Set(bad.k, bad.v)
		if _, err := ParseBacklog(h.Get); err == nil {
			t.Errorf("%s: %q accepted", bad.k, bad.v)
		}
	}
}

func TestDecodePush(t *testing.T) {
	dev := uuid.New()
	op := func(seq int) string {
		return `{"op_id":"` + uuid.NewString() + `","seq":` + string(rune('0'+seq)) + `,"kind":"pick","occurred_at":"2026-11-27T10:00:00Z","sku":"A","qty":1,"location":"L"}`
	}
	body := func(ops ...string) string {
		return `{"device_id":"` + dev.String() + `","device_time":"2026-11-27T10:00:00Z","ops":[` + strings.Join(ops, ",") + `]}`
	}
	for _, tc := range []struct {
		name, body string
		code       Code
	}{
		{"ok", body(op(1), op(2)), ""},
		{"empty ops", body(), ""},
		{"unknown top-level field", strings.Replace(body(op(1)), `"ops"`, `"tenant_id":"x","ops"`, 1), CodeInvalid},
		{"server-owned field in an op", body(strings.Replace(op(1), `"kind"`, `"status":"applied","kind"`, 1)), CodeInvalid},
		{"gap in seqs", body(op(1), op(3)), CodeInvalid},
		{"descending seqs", body(op(2), op(1)), CodeInvalid},
		{"zero seq", body(op(0)), CodeInvalid},
		{"trailing data", body(op(1)) + `{}`, CodeInvalid},
		{"not json", `{"device_id":`, CodeInvalid},
		{"empty", ``, CodeInvalid},
		{"no device", `{"device_time":"2026-11-27T10:00:00Z","ops":[]}`, CodeInvalid},
		{"wrong type", strings.Replace(body(op(1)), `"qty":1`, `"qty":"1"`, 1), CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePush(strings.NewReader(tc.body))
			var pe *Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("want ok, got %v", err)
			case tc.code != "" && (!errors.As(err, &pe) || pe.Code != tc.code):
				t.Fatalf("want %s, got %v", tc.code, err)
			}
		})
	}
}

func TestPushOverOpLimitIsTooLarge(t *testing.T) {
	req := PushRequest{DeviceID: uuid.New(), DeviceTime: time.Now()}
	for i := range MaxOpsPerPush + 1 {
		req.Ops = append(req.Ops, Op{OpID: uuid.New(), Seq: int64(i + 1)})
	}
	var pe *Error
	if err := req.Validate(); !errors.As(err, &pe) || pe.Code != CodeTooLarge {
		t.Fatalf("%d ops: got %v, want too_large", len(req.Ops), err)
	}
}

func FuzzDecodePush(f *testing.F) {
	f.Add(`{"device_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c3","device_time":"2026-11-27T10:00:00Z","ops":[{"op_id":"019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c4","seq":1,"kind":"pick","occurred_at":"2026-11-27T10:00:00Z","sku":"A","qty":1,"location":"L"}]}`)
	f.Add(`{}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodePush(strings.NewReader(body))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || (pe.Code != CodeInvalid && pe.Code != CodeTooLarge) {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		// Whatever decodes must satisfy the push invariants.
		if req.DeviceID == uuid.Nil || req.DeviceTime.IsZero() {
			t.Fatal("accepted a push without device_id or device_time")
		}
		for i := 1; i < len(req.Ops); i++ {
			if req.Ops[i].Seq != req.Ops[i-1].Seq+1 {
				t.Fatal("accepted non-contiguous seqs")
			}
		}
	})
}

func TestParseOrderRef(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "SO-1", "SO-1", true},
		{"trimmed", "  SO-1\t", "SO-1", true},
		{"slashes and spaces inside", "PO 2026/17", "PO 2026/17", true},
		{"longest", strings.Repeat("x", MaxCodeLen), strings.Repeat("x", MaxCodeLen), true},
		{"empty", "", "", false},
		{"only spaces", "   ", "", false},
		{"too long", strings.Repeat("x", MaxCodeLen+1), "", false},
		{"NUL", "SO\x001", "", false},
		{"not UTF-8", "SO-\xff", "", false},
	} {
		got, err := ParseOrderRef(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("%s: ParseOrderRef(%q) = %q, %v; want %q ok=%v", tc.name, tc.in, got, err, tc.want, tc.ok)
		}
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Code != CodeInvalid) {
			t.Errorf("%s: error %v is not invalid", tc.name, err)
		}
	}
}
