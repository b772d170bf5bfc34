package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stocksync/syncproto"
)

// gzipThreshold is the body size from which requests are compressed: below
// it the gzip header costs about what it saves.
const gzipThreshold = 1024

// maxResponseBytes bounds what the client reads of one response; a pull
// page of 5,000 rows is a few MiB.
const maxResponseBytes = 64 << 20

// request is one HTTP exchange with the server.
type request struct {
	method string
	path   string // with the query
	token  string
	// backlog is reported with sync requests; nil for enrollment.
	backlog *syncproto.Backlog
	body    []byte
	// out receives the decoded 2xx body.
	out any
}

// attemptError is a failed attempt with what the retry loop needs.
type attemptError struct {
	err        error
	retryable  bool
	retryAfter time.Duration
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// do sends r once. Every failure comes back as an *attemptError; a
// request-level error the server answered wraps a *syncproto.Error with
// its HTTP status.
func (c *Client) do(ctx context.Context, server string, r request) error {
	var body io.Reader
	encoding := ""
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if len(r.body) > gzipThreshold {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(r.body); err != nil {
				return &attemptError{err: err}
			}
			if err := zw.Close(); err != nil {
				return &attemptError{err: err}
			}
			body, encoding = &buf, "gzip"
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, server+r.path, body)
	if err != nil {
		return &attemptError{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set(syncproto.HeaderProtocol, strconv.Itoa(syncproto.Version))
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.backlog != nil {
		r.backlog.Set(req.Header.Set)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &attemptError{err: ctx.Err()}
		}
		// Connection refused, reset, timeout: the server may or may not
		// have seen it; every push is idempotent, so send it again.
		return &attemptError{err: fmt.Errorf("%s %s: %w", r.method, req.URL.Path, err), retryable: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &attemptError{err: fmt.Errorf("%s %s: read response: %w", r.method, req.URL.Path, err), retryable: ctx.Err() == nil}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if r.out != nil {
			if err := json.Unmarshal(data, r.out); err != nil {
				// A truncated or garbled answer (a proxy's page): like a
				// 5xx, the retry rules say to try again.
				return &attemptError{err: fmt.Errorf("%s %s: HTTP %d with a body that is not the expected JSON: %w", r.method, req.URL.Path, resp.StatusCode, err), retryable: true}
			}
		}
		return nil
	}
	return errorFromResponse(resp, data)
}

// errorFromResponse maps a non-2xx answer to an attemptError following the
// retry rules of docs/protocol.md.
func errorFromResponse(resp *http.Response, data []byte) *attemptError {
	ae := &attemptError{retryAfter: parseRetryAfter(resp.Header.Get(syncproto.HeaderRetryAfter))}
	var eb syncproto.ErrorBody
	var pe *syncproto.Error
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		pe = eb.Error
	} else {
		// Not our error body: a proxy or load balancer answered. The
		// status alone decides.
		pe = &syncproto.Error{Code: codeForStatus(resp.StatusCode), Message: snippet(data)}
	}
	pe.Status = resp.StatusCode
	ae.err = pe
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUpgradeRequired:
		// Sending these again unchanged fails again; seq_gap, seq_behind
		// and too_large are handled by changing the push.
		ae.retryable = false
	default:
		// 429, 5xx, and statuses this client does not know.
		ae.retryable = true
	}
	return ae
}

func codeForStatus(status int) syncproto.Code {
	switch status {
	case http.StatusBadRequest:
		return syncproto.CodeInvalid
	case http.StatusUnauthorized:
		return syncproto.CodeUnauthorized
	case http.StatusForbidden:
		return syncproto.CodeForbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return syncproto.CodeNotFound
	case http.StatusRequestEntityTooLarge:
		return syncproto.CodeTooLarge
	case http.StatusUpgradeRequired:
		return syncproto.CodeUnsupportedProtocol
	case http.StatusTooManyRequests:
		return syncproto.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return syncproto.CodeUnavailable
	}
	return syncproto.CodeInternal
}

func snippet(data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "no error body"
	}
	return s
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; 0 when
// absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// retrying sends r until it succeeds, fails for good, runs out of attempts
// or ctx ends. Between attempts it waits an exponential backoff with full
// jitter, never less than the server's Retry-After. attempts counts every
// request sent. The error is the last attempt's, unwrapped to the
// *syncproto.Error or network error underneath.
func (c *Client) retrying(ctx context.Context, server string, r request, attempts *int) error {
	for n := 1; ; n++ {
		*attempts++
		err := c.do(ctx, server, r)
		if err == nil {
			return nil
		}
		var ae *attemptError
		if !errors.As(err, &ae) {
			return err
		}
		if !ae.retryable {
			return ae.err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w (last error: %s)", ctxErr, ae.err.Error())
		}
		if n >= c.opts.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", n, ae.err)
		}
		wait := max(c.backoff(n), ae.retryAfter)
		c.log.Warn("sync request failed, retrying", slog.String("path", pathOnly(r.path)),
			slog.Int("attempt", n), slog.Duration("wait", wait), slog.Any("error", ae.err))
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (while waiting to retry after: %s)", err, ae.err.Error())
		}
	}
}

// backoff is the wait before retry n (1-based): full jitter over an
// exponentially growing window, so a whole shift of devices that failed
// together does not come back together.
func (c *Client) backoff(n int) time.Duration {
	// BaseDelay×2^(n-1) up to MaxDelay, compared before shifting: the
	// shifted value overflows long before n reaches 63 (a minute after 27
	// doublings), and a negative window would panic in Int64N.
	window := c.opts.MaxDelay
	if shift := n - 1; shift < 63 && c.opts.BaseDelay <= c.opts.MaxDelay>>shift {
		window = c.opts.BaseDelay << shift
	}
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return time.Duration(c.opts.Rand.Int64N(int64(window) + 1))
}

func pathOnly(p string) string {
	u, err := url.Parse(p)
	if err != nil {
		return p
	}
	return u.Path
}
