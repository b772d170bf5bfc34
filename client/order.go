package client

import (
	"context"
	"errors"
	"net/url"
	"time"

	"stocksync/syncproto"
)

// OrderTimeout bounds Order: a person at a returns desk is waiting, and
// the device's own records are the fallback, so one short attempt beats
// the patient retries of Sync.
const OrderTimeout = 4 * time.Second

// OrderInfo is what the server knows an order shipped and got back, over
// every device of the tenant, as merged at ServerTime: the wire's answer
// as it is. The device's own unsent operations are not in it.
type OrderInfo = syncproto.OrderResponse

// OrderLine is what an order shipped and got back of one item and batch;
// Batch is empty for items that are not batch-tracked.
type OrderLine = syncproto.OrderLine

// Order asks the server what an order shipped and got back
// (GET /v1/sync/orders/{order}). It sends one request, bounded by
// OrderTimeout, and does not retry: the caller shows what the device knows
// instead. An order the server knows nothing of has no lines and is not an
// error. The error is ErrNotEnrolled, a *syncproto.Error (use ErrorCode:
// CodeInvalid for a malformed reference, CodeUnauthorized for a revoked
// device, CodeRateLimited, CodeUnavailable...), a network error, or ctx's
// error.
func (c *Client) Order(ctx context.Context, order string) (OrderInfo, error) {
	order, err := syncproto.ParseOrderRef(order)
	if err != nil {
		return OrderInfo{}, err
	}
	st, err := c.loadState(ctx)
	if err != nil {
		return OrderInfo{}, err
	}
	if !st.enrolled() {
		return OrderInfo{}, ErrNotEnrolled
	}
	ctx, cancel := context.WithTimeout(ctx, OrderTimeout)
	defer cancel()
	var resp OrderInfo
	err = c.do(ctx, st.ServerURL, request{method: "GET", path: "/v1/sync/orders/" + url.PathEscape(order), token: st.Token, out: &resp})
	if ae := (*attemptError)(nil); errors.As(err, &ae) {
		err = ae.err
	}
	if err != nil {
		return OrderInfo{}, err
	}
	if resp.Lines == nil {
		resp.Lines = []OrderLine{}
	}
	return resp, nil
}
