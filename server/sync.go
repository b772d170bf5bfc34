package server

import (
	"time"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// enroll exchanges an enrollment code for a device and its token
// (POST /v1/devices/enroll). The tenant comes from the code.
func (s *Server) enroll(c *gin.Context) {
	var req syncproto.EnrollRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		s.fail(c, err)
		return
	}
	e, err := s.ledger.Enroll(c.Request.Context(), req.Code, req.Name, req.AppVersion)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(ctxTenant, e.Device.TenantID.String())
	c.Set(ctxDevice, e.Device.ID)
	s.writeJSON(c, 200, enrollResponseToWire(e))
}

// report reads the backlog headers and stores them with the device, so
// GET /v1/devices shows who is lagging. A failure to store is logged, not
// answered: the report is advisory and must not cost the device its sync.
func (s *Server) report(c *gin.Context, d ledger.Device) (syncproto.Backlog, bool) {
	b, err := syncproto.ParseBacklog(c.GetHeader)
	if err != nil {
		s.fail(c, err)
		return b, false
	}
	err = s.ledger.ReportDevice(c.Request.Context(), d.TenantID, d.ID, ledger.DeviceReport{
		SeenAt: s.now(), AppVersion: b.AppVersion, Pending: b.Pending, OldestUnsent: b.OldestUnsent,
	})
	if err != nil {
		s.log.WarnContext(c.Request.Context(), "store device report", "device", d.ID, "err", err)
	}
	return b, true
}

// push merges one push of a device (POST /v1/sync/push).
func (s *Server) push(c *gin.Context) {
	d := device(c)
	backlog, ok := s.report(c, d)
	if !ok {
		return
	}
	limit := s.cfg.MaxBodyBytes
	if err := requireJSON(c); err != nil {
		s.fail(c, err)
		return
	}
	b, err := openBody(c, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer b.close()
	req, err := syncproto.DecodePush(b)
	if err != nil {
		s.fail(c, b.decodeErr(err, limit))
		return
	}
	if req.DeviceID != d.ID {
		s.fail(c, syncproto.Errorf(syncproto.CodeForbidden, "device_id %s is not the device this token belongs to", req.DeviceID))
		return
	}
	mr := mergeRequestFromWire(d.TenantID, req)
	if backlog.AckedSeq >= 0 {
		known := backlog.AckedSeq
		mr.KnownAckedSeq = &known
	}
	ctx := c.Request.Context()
	start := time.Now()
	res, err := s.ledger.Merge(ctx, mr)
	s.metrics.mergeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.observePush(s.tenantSlug(ctx, d.TenantID), len(req.Ops), b.size(), res.Results)
	s.writeJSON(c, 200, pushResponseToWire(res))
}

// pull returns the next page of the device's pull feed
// (GET /v1/sync/pull).
func (s *Server) pull(c *gin.Context) {
	d := device(c)
	q := newQuery(c, "cursor", "limit")
	cursor := q.str("cursor")
	limit := q.int("limit", syncproto.DefaultPullLimit, 1, syncproto.MaxPullLimit)
	if q.err != nil {
		s.fail(c, q.err)
		return
	}
	if _, ok := s.report(c, d); !ok {
		return
	}
	page, err := s.ledger.Pull(c.Request.Context(), ledger.PullRequest{TenantID: d.TenantID, DeviceID: d.ID, Cursor: cursor, Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	out := pullPageToWire(page, d.ID)
	out.ServerTime = s.now().UTC()
	s.writeJSON(c, 200, out)
}
