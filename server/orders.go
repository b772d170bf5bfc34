package server

import (
	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// order answers what an order of the device's tenant shipped and got back
// (GET /v1/sync/orders/{order}), so a returns desk sees the shipment
// whichever device picked it. The route is a catch-all: an order
// reference may hold a slash ("PO 2026/17"), which arrives percent-decoded
// in the path. The tenant comes from the device token, never from the
// request; another tenant's order reads as an unknown one (no lines).
func (s *Server) order(c *gin.Context) {
	d := device(c)
	order, err := syncproto.ParseOrderRef(trimSlash(c.Param("order")))
	if err != nil {
		s.fail(c, err)
		return
	}
	lines, err := s.ledger.OrderLines(c.Request.Context(), d.TenantID, order)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := orderResponseToWire(order, lines)
	out.ServerTime = s.now().UTC()
	s.writeJSON(c, 200, out)
}

// trimSlash drops the leading slash gin leaves on a catch-all parameter.
func trimSlash(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return p[1:]
	}
	return p
}

func orderResponseToWire(order string, lines []ledger.OrderLineView) syncproto.OrderResponse {
	out := syncproto.OrderResponse{Order: order, Lines: make([]syncproto.OrderLine, len(lines))}
	for i, l := range lines {
		out.Lines[i] = syncproto.OrderLine{SKU: l.SKU, Batch: l.Batch, Shipped: l.Shipped, Returned: l.Returned}
	}
	return out
}
