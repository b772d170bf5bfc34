package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// observe logs every request once it is answered and counts it in the
// metrics. It logs the route pattern rather than the path so IDs and
// cursors do not spread through the logs, and never a header value, so no
// token or key is ever written down.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route, status := routeOf(c), c.Writer.Status()
	s.metrics.observeRequest(route, c.Request.Method, status, elapsed)

	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.Int("bytes", c.Writer.Size()),
	}
	if v := c.GetString(ctxTenant); v != "" {
		attrs = append(attrs, slog.String("tenant", v))
	}
	if v, ok := c.Get(ctxDevice); ok {
		attrs = append(attrs, slog.String("device", v.(uuid.UUID).String()))
	}
	if v, ok := c.Get(ctxKey); ok {
		attrs = append(attrs, slog.String("api_key", v.(ledger.APIKey).Name))
	}
	if v := c.GetString(ctxUserLogin); v != "" {
		attrs = append(attrs, slog.String("user", v))
	}
	if v := c.GetString(ctxErrorCode); v != "" {
		attrs = append(attrs, slog.String("code", v))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// recover turns a panic in a handler into a 500 internal answer and a log
// line with the stack; the client never sees the stack.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(p) // net/http's way of dropping a connection on purpose
		}
		s.log.ErrorContext(c.Request.Context(), "panic", "method", c.Request.Method, "route", routeOf(c),
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		s.fail(c, syncproto.Errorf(syncproto.CodeInternal, "internal error"))
	}()
	c.Next()
}

// requireProtocol refuses sync requests that do not name a protocol
// version this server speaks.
func (s *Server) requireProtocol(c *gin.Context) {
	if _, err := syncproto.ParseVersion(c.GetHeader(syncproto.HeaderProtocol)); err != nil {
		var we *syncproto.Error
		if errors.As(err, &we) {
			we.Versions = syncproto.Versions
		}
		s.fail(c, err)
	}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(c *gin.Context) (string, bool) {
	h := strings.TrimSpace(c.GetHeader("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) unauthorized(c *gin.Context, err error) {
	c.Header("WWW-Authenticate", `Bearer realm="stocksync"`)
	s.fail(c, err)
}

// authDevice authenticates a device token, then applies the device's and
// its tenant's rate limits. The device and tenant of the request come
// from the token and from nothing else.
func (s *Server) authDevice(c *gin.Context) {
	token, ok := bearer(c)
	if !ok {
		s.unauthorized(c, syncproto.Errorf(syncproto.CodeUnauthorized, "a device token is required: Authorization: Bearer <token>"))
		return
	}
	d, err := s.ledger.AuthenticateDevice(c.Request.Context(), token)
	if err != nil {
		s.refuseCredential(c, err)
		return
	}
	c.Set(ctxTenantID, d.TenantID)
	c.Set(ctxTenant, d.TenantID.String())
	c.Set(ctxDevice, d.ID)
	c.Set(ctxDeviceRow, d)
	if !s.takeToken(c, s.deviceLimit, d.ID.String()) || !s.takeToken(c, s.tenantLimit, d.TenantID.String()) {
		return
	}
	c.Next()
}

// refuseCredential answers a failed authentication: 401 with a challenge
// when the credential was refused, the error's own answer otherwise (the
// database may be down).
func (s *Server) refuseCredential(c *gin.Context, err error) {
	if ledger.ErrorCode(err) == ledger.CodeUnauthorized {
		s.unauthorized(c, err)
		return
	}
	s.fail(c, err)
}

// ctxDeviceRow holds the authenticated ledger.Device.
const ctxDeviceRow = "stocksync.device_row"

// authKey authenticates an API key and requires role need, then applies
// the tenant's rate limit. A device token is not an API key and is
// answered 401 like any unknown credential.
func (s *Server) authKey(need ledger.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		secret, ok := bearer(c)
		if !ok {
			s.unauthorized(c, syncproto.Errorf(syncproto.CodeUnauthorized, "an API key is required: Authorization: Bearer <key>"))
			return
		}
		k, err := s.ledger.AuthenticateAPIKey(c.Request.Context(), secret)
		if err != nil {
			s.refuseCredential(c, err)
			return
		}
		c.Set(ctxTenantID, k.TenantID)
		c.Set(ctxTenant, k.TenantID.String())
		c.Set(ctxKey, k)
		if !k.Role.Allows(need) {
			s.fail(c, syncproto.Errorf(syncproto.CodeForbidden, "this needs an API key with role %s or above; %q is %s", need, k.Name, k.Role))
			return
		}
		if !s.takeToken(c, s.tenantLimit, k.TenantID.String()) {
			return
		}
		c.Next()
	}
}

// limitEnroll applies the per-address enrollment limit.
func (s *Server) limitEnroll(c *gin.Context) {
	if s.takeToken(c, s.enrollLimit, clientKey(c.ClientIP())) {
		c.Next()
	}
}

// clientKey is the enrollment bucket of a client address: the address for
// IPv4, its /64 for IPv6. One IPv6 client holds a whole /64 and can send
// each request from a new address; keyed by address, each would get a
// fresh bucket, so the limit would stop nothing and the buckets would grow
// with the requests.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

// takeToken takes a token from key's bucket in l, or answers 429 with
// Retry-After and returns false.
func (s *Server) takeToken(c *gin.Context, l *limiter, key string) bool {
	ok, wait := l.allow(key)
	if ok {
		return true
	}
	s.metrics.rateLimited.WithLabelValues(l.scope).Inc()
	secs := retryAfterSeconds(wait)
	c.Header(syncproto.HeaderRetryAfter, strconv.Itoa(secs))
	s.fail(c, syncproto.Errorf(syncproto.CodeRateLimited, "too many requests for this %s; retry after %d second(s)", l.scope, secs))
	return false
}

// tenantID and apiKey read what the auth middleware stored.
func tenantID(c *gin.Context) uuid.UUID {
	v, _ := c.Get(ctxTenantID)
	id, _ := v.(uuid.UUID)
	return id
}

func apiKey(c *gin.Context) ledger.APIKey {
	v, _ := c.Get(ctxKey)
	k, _ := v.(ledger.APIKey)
	return k
}

func device(c *gin.Context) ledger.Device {
	v, _ := c.Get(ctxDeviceRow)
	d, _ := v.(ledger.Device)
	return d
}
