package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"time"
)

// network carries every device's requests to the server handler, in
// process, and decides each request's fate from the run's seeded source.
// It is driven from one goroutine: a client's request runs the handler
// before RoundTrip returns.
type network struct {
	handler http.Handler
	rng     *rand.Rand
	clock   *Clock
	faults  Faults
	armed   bool
	// rate is the share of requests that get a fault while armed.
	rate float64
	// delayed are requests still in flight, to arrive when the scheduler
	// says, after requests sent later.
	delayed []delayedRequest
}

// delayedRequest is a request held back by the network.
type delayedRequest struct {
	method, url string
	header      http.Header
	body        []byte
}

// errNet is what a lost request or answer looks like to a client.
var errNet = errors.New("sim: connection reset by peer")

// deliver runs one request through the handler and returns its answer.
func (n *network) deliver(ctx context.Context, method, url string, header http.Header, body []byte) *http.Response {
	req := httptest.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	req.Header = header.Clone()
	rec := httptest.NewRecorder()
	n.handler.ServeHTTP(rec, req)
	return rec.Result()
}

// deliverDelayed lets the oldest delayed request arrive; its answer goes
// nowhere, the client gave up on it long ago.
func (n *network) deliverDelayed() bool {
	if len(n.delayed) == 0 {
		return false
	}
	d := n.delayed[0]
	n.delayed = n.delayed[1:]
	n.faults[FaultDelayedArrive]++
	resp := n.deliver(context.Background(), d.method, d.url, d.header, d.body)
	_ = resp.Body.Close()
	return true
}

// transport is one device's view of the network: an http.RoundTripper
// that also knows how to crash its device in the middle of a request.
type transport struct {
	net *network
	// crash, when set, kills the device's current sync (its context is
	// canceled); the scheduler then closes and reopens the device.
	crash   func()
	crashed bool
}

// RoundTrip sends req through the seeded network.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	n := t.net
	// Latency: the virtual clock moves with every request, so backoff,
	// clock offsets and device times see a network that takes time.
	n.clock.Advance(time.Duration(n.rng.Int64N(int64(1500 * time.Millisecond))))
	url, ctx := req.URL.String(), req.Context()
	if !n.armed || n.rng.Float64() >= n.rate {
		return n.deliver(ctx, req.Method, url, req.Header, body), nil
	}
	switch r := n.rng.IntN(100); {
	case r < 25:
		n.faults[FaultDropRequest]++
		return nil, fmt.Errorf("%w (request lost)", errNet)
	case r < 50:
		n.faults[FaultDropResponse]++
		resp := n.deliver(ctx, req.Method, url, req.Header, body)
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%w (answer lost)", errNet)
	case r < 70:
		n.faults[FaultDuplicate]++
		first := n.deliver(ctx, req.Method, url, req.Header, body)
		_ = first.Body.Close()
		return n.deliver(ctx, req.Method, url, req.Header, body), nil
	case r < 90:
		n.faults[FaultDelay]++
		n.delayed = append(n.delayed, delayedRequest{method: req.Method, url: url, header: req.Header.Clone(), body: body})
		n.clock.Advance(30 * time.Second)
		return nil, fmt.Errorf("%w (timed out)", errNet)
	default:
		if t.crash == nil {
			return n.deliver(ctx, req.Method, url, req.Header, body), nil
		}
		// The server handles the request; the device dies before it
		// reads the answer.
		n.faults[FaultDeviceCrashIO]++
		resp := n.deliver(ctx, req.Method, url, req.Header, body)
		_ = resp.Body.Close()
		t.crash()
		t.crashed = true
		return nil, context.Canceled
	}
}
