// Package syncproto is stocksync's sync protocol, version 1 (DESIGN.md
// section 4): the wire types a handheld and the server exchange, their
// statuses, error codes and limits, and the request-level validation both
// sides share. It imports nothing else of stocksync, so a client can depend
// on it alone; docs/protocol.md describes the same protocol for clients
// written in other languages.
package syncproto

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the protocol version this package speaks.
const Version = 1

// Versions lists every protocol version the server speaks, oldest first. A
// request naming another version is answered 426 with this list.
var Versions = []int{Version}

// Header names. Every request carries HeaderProtocol; sync requests also
// carry the device's backlog so the server knows each device's sync lag.
const (
	HeaderProtocol = "Stocksync-Protocol"
	// HeaderPending is the number of operations the device has not yet had
	// acknowledged.
	HeaderPending = "Stocksync-Pending"
	// HeaderOldestUnsent is the age, in whole seconds, of the device's
	// oldest unacknowledged operation (0 when none).
	HeaderOldestUnsent = "Stocksync-Oldest-Unsent"
	// HeaderAckedSeq is the acked_seq the device last heard from the
	// server. A device restored from an old backup knows a lower one than
	// the server has, and reuses seqs the server holds for other
	// operations: such a push is answered 409 seq_behind, so the device
	// renumbers its pending operations instead of having them rejected as
	// op_conflict. (A lost answer also leaves the device knowing less, but
	// its resent operations are the same ones, and replay.)
	HeaderAckedSeq = "Stocksync-Acked-Seq"
	// HeaderAppVersion is the device app's version, shown to managers.
	HeaderAppVersion = "Stocksync-App-Version"
	// HeaderRetryAfter is the standard header of 429 and 503 answers, in
	// whole seconds.
	HeaderRetryAfter = "Retry-After"
)

// Limits of one request. A push beyond them is answered 413 too_large; a
// body over MaxBodyBytes before more than MaxBodyBytes of it is read.
const (
	MaxOpsPerPush = 1000
	MaxBodyBytes  = 4 << 20
	// DefaultPullLimit and MaxPullLimit bound the rows of one pull page.
	DefaultPullLimit = 1000
	MaxPullLimit     = 5000
	// MaxTextLen bounds every free-text field of an operation; codes
	// (SKUs, batches, locations, orders) are bounded by MaxCodeLen.
	MaxCodeLen = 128
	MaxTextLen = 1000
)

// ParseVersion reads a Stocksync-Protocol header value. It returns an
// *Error with CodeUnsupportedProtocol when the header is missing, is not a
// number, or names a version the server does not speak.
func ParseVersion(header string) (int, error) {
	h := strings.TrimSpace(header)
	if h == "" {
		return 0, Errorf(CodeUnsupportedProtocol, "the %s header is required; this server speaks %s", HeaderProtocol, versionList())
	}
	v, err := strconv.Atoi(h)
	if err != nil {
		return 0, Errorf(CodeUnsupportedProtocol, "%s %q is not a version number; this server speaks %s", HeaderProtocol, h, versionList())
	}
	for _, s := range Versions {
		if s == v {
			return v, nil
		}
	}
	return 0, Errorf(CodeUnsupportedProtocol, "protocol version %d is not supported; this server speaks %s", v, versionList())
}

func versionList() string {
	parts := make([]string, len(Versions))
	for i, v := range Versions {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// Backlog is what a device reports about its unsent work with every sync
// request.
type Backlog struct {
	Pending      int64
	OldestUnsent time.Duration
	// AckedSeq is the acked_seq the device last heard; -1 when it did not
	// say.
	AckedSeq   int64
	AppVersion string
}

// ParseBacklog reads the backlog headers through get (for example
// http.Header.Get). Missing headers read as zero (AckedSeq as -1); a present
// but malformed one is an *Error with CodeInvalid.
func ParseBacklog(get func(string) string) (Backlog, error) {
	b := Backlog{AckedSeq: -1, AppVersion: strings.TrimSpace(get(HeaderAppVersion))}
	if len(b.AppVersion) > MaxCodeLen {
		return b, Errorf(CodeInvalid, "%s is longer than %d bytes", HeaderAppVersion, MaxCodeLen)
	}
	for _, h := range []struct {
		name string
		dst  *int64
	}{{HeaderPending, &b.Pending}, {HeaderAckedSeq, &b.AckedSeq}} {
		s := strings.TrimSpace(get(h.name))
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return b, Errorf(CodeInvalid, "%s must be a non-negative integer, got %q", h.name, s)
		}
		*h.dst = n
	}
	if s := strings.TrimSpace(get(HeaderOldestUnsent)); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > int64(100*365*24*3600) {
			return b, Errorf(CodeInvalid, "%s must be a number of seconds, got %q", HeaderOldestUnsent, s)
		}
		b.OldestUnsent = time.Duration(n) * time.Second
	}
	return b, nil
}

// Set writes the backlog headers through set (for example http.Header.Set).
func (b Backlog) Set(set func(key, value string)) {
	set(HeaderPending, strconv.FormatInt(b.Pending, 10))
	set(HeaderOldestUnsent, strconv.FormatInt(int64(b.OldestUnsent/time.Second), 10))
	if b.AckedSeq >= 0 {
		set(HeaderAckedSeq, strconv.FormatInt(b.AckedSeq, 10))
	}
	if b.AppVersion != "" {
		set(HeaderAppVersion, b.AppVersion)
	}
}

// String describes the backlog for logs.
func (b Backlog) String() string {
	return fmt.Sprintf("pending=%d oldest_unsent=%s acked_seq=%d", b.Pending, b.OldestUnsent, b.AckedSeq)
}
