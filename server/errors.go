package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// statusOf is the one table from an error code to its HTTP status. Codes
// that are not here (operation-level codes a request somehow failed with)
// are answered 400.
var statusOf = map[syncproto.Code]int{
	syncproto.CodeInvalid:             http.StatusBadRequest,
	syncproto.CodeUnauthorized:        http.StatusUnauthorized,
	syncproto.CodeForbidden:           http.StatusForbidden,
	syncproto.CodeNotFound:            http.StatusNotFound,
	syncproto.CodeConflict:            http.StatusConflict,
	syncproto.CodeSeqGap:              http.StatusConflict,
	syncproto.CodeSeqBehind:           http.StatusConflict,
	syncproto.CodeAlreadyResolved:     http.StatusConflict,
	syncproto.CodeTooLarge:            http.StatusRequestEntityTooLarge,
	syncproto.CodeUnsupportedProtocol: http.StatusUpgradeRequired,
	syncproto.CodeRateLimited:         http.StatusTooManyRequests,
	syncproto.CodeInternal:            http.StatusInternalServerError,
	syncproto.CodeUnavailable:         http.StatusServiceUnavailable,
}

// wireError converts any error a handler met into the error a client sees.
// Ledger codes are the same strings as the protocol's request-level codes,
// so they pass through; what the ledger adds (acked_seq, catalog rows) is
// carried over. Anything that is not a coded error is internal, and its
// text never reaches the client.
func wireError(err error) *syncproto.Error {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return pe
	}
	var ce *ledger.CatalogError
	if errors.As(err, &ce) {
		we := syncproto.Errorf(syncproto.CodeInvalid, "%d catalog row(s) are invalid; nothing was written", len(ce.Rows))
		for _, r := range ce.Rows {
			we.RowErrors = append(we.RowErrors, syncproto.RowError{Section: r.Section, Row: r.Row, Field: r.Field, Message: r.Message})
		}
		return we
	}
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code == ledger.CodeInternal {
		return syncproto.Errorf(syncproto.CodeInternal, "internal error")
	}
	we := &syncproto.Error{Code: syncproto.Code(le.Code), Message: le.Message}
	if le.Code == ledger.CodeSeqGap || le.Code == ledger.CodeSeqBehind {
		acked := le.AckedSeq
		we.AckedSeq = &acked
	}
	if _, ok := statusOf[we.Code]; !ok {
		// An operation-level code raised for the whole request: the
		// request is malformed, and the message says how.
		we = syncproto.Errorf(syncproto.CodeInvalid, "%s: %s", le.Code, le.Message)
	}
	return we
}

// fail answers the request with err and stops the handler chain. Internal
// errors are logged with their detail, which the client never sees.
func (s *Server) fail(c *gin.Context, err error) {
	we := wireError(err)
	status, ok := statusOf[we.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	if we.Code == syncproto.CodeInternal {
		s.log.ErrorContext(c.Request.Context(), "internal error", "method", c.Request.Method, "route", routeOf(c), "err", err)
	}
	s.failStatus(c, status, we)
}

// failStatus answers with an explicit status, for the few answers whose
// status is not the code's (405).
func (s *Server) failStatus(c *gin.Context, status int, we *syncproto.Error) {
	c.Set(ctxErrorCode, string(we.Code))
	s.writeJSON(c, status, syncproto.ErrorBody{Error: we})
	c.Abort()
}

// gzipMinBytes is the size below which a response is sent as is: gzip's
// header and the CPU are not worth it for a small answer.
const gzipMinBytes = 1024

// writeJSON encodes v and sends it, gzip-compressed when the client
// accepts gzip and the body is big enough to be worth it.
func (s *Server) writeJSON(c *gin.Context, status int, v any) {
	body, err := syncproto.Encode(v)
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "encode response", "route", routeOf(c), "err", err)
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	if len(body) >= gzipMinBytes && acceptsGzip(c.Request.Header.Get("Accept-Encoding")) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(body)
		if zw.Close() == nil {
			h.Set("Content-Encoding", "gzip")
			body = buf.Bytes()
		}
	}
	c.Data(status, h.Get("Content-Type"), body)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (and
// does not refuse it with q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// logAttrs are the request log's attributes a handler adds through the
// gin context.
const (
	ctxTenant    = "stocksync.tenant"
	ctxTenantID  = "stocksync.tenant_id"
	ctxDevice    = "stocksync.device"
	ctxKey       = "stocksync.api_key"
	ctxErrorCode = "stocksync.error_code"
)

// routeOf is the route pattern of the request for logs and metric labels;
// unmatched paths share one label so a scanner cannot blow up the metrics.
func routeOf(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	return "unmatched"
}
