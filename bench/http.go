package bench

// The scenarios that push over HTTP to the real server (http, shift-end),
// and hot-keys, which shares their concurrent uploaders in process.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"stocksync/server"
	"stocksync/syncproto"
)

// benchAppVersion is what the bench's devices report.
const benchAppVersion = "stocksync-bench"

// gzipFrom is the body size from which pushes are gzipped, as the device
// client does.
const gzipFrom = 1024

// benchServer is the real server on a free port of 127.0.0.1.
type benchServer struct {
	url    string
	client *http.Client
	stop   func() error
}

// startServer serves t's ledger the way 'stocksync serve' does, with the
// rate limits off (the bench pushes faster than a floor on purpose) and
// the request log formatted and discarded.
func startServer(ctx context.Context, t *target) (*benchServer, error) {
	srv, err := server.New(server.Config{
		Ledger:     t.l,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeviceRate: -1, TenantRate: -1, EnrollRate: -1,
	})
	if err != nil {
		return nil, err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	return &benchServer{
		url:    "http://" + ln.Addr().String(),
		client: &http.Client{Transport: tr, Timeout: 10 * time.Minute},
		stop: func() error {
			cancel()
			err := <-done
			tr.CloseIdleConnections()
			return err
		},
	}, nil
}

// stopInto stops the server, for a deferred call: a failure to stop
// becomes *err unless that already holds an error.
func (s *benchServer) stopInto(err *error) {
	if serr := s.stop(); serr != nil && *err == nil {
		*err = fmt.Errorf("stop the server: %w", serr)
	}
}

// post sends one protocol request and decodes a 200 answer into out.
func (s *benchServer) post(ctx context.Context, path, token string, body []byte, gzipped bool, backlog *syncproto.Backlog, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(syncproto.HeaderProtocol, strconv.Itoa(syncproto.Version))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if backlog != nil {
		backlog.Set(req.Header.Set)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, out)
}

// enroll enrolls the workload's devices through POST /v1/devices/enroll,
// each with a fresh enrollment code, so they push with real tokens.
func (s *benchServer) enroll(ctx context.Context, bt *benchTenant) error {
	n := len(bt.w.Devices)
	bt.devices, bt.tokens = make([]uuid.UUID, n), make([]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, dw := range bt.w.Devices {
		g.Go(func() error {
			_, code, err := bt.t.l.CreateEnrollmentCode(gctx, bt.id, benchWarehouse, 0)
			if err != nil {
				return fmt.Errorf("%s: enrollment code: %w", bt.slug, err)
			}
			body, err := json.Marshal(syncproto.EnrollRequest{Code: code, Name: dw.Name, AppVersion: benchAppVersion})
			if err != nil {
				return err
			}
			var out syncproto.EnrollResponse
			if err := s.post(gctx, "/v1/devices/enroll", "", body, false, nil, &out); err != nil {
				return fmt.Errorf("%s: enroll %s: %w", bt.slug, dw.Name, err)
			}
			bt.devices[i], bt.tokens[i] = out.DeviceID, out.Token
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return nil
}

// pushBody is one push request's body, built before the clock starts.
type pushBody struct {
	data    []byte
	gzipped bool
}

// pushBodies encodes every push of the tenant's devices as a device
// would: JSON, gzipped when larger than 1 KiB. A repeated push is the very
// same body sent again.
func (bt *benchTenant) pushBodies() ([][]pushBody, error) {
	out := make([][]pushBody, len(bt.w.Devices))
	for d, dw := range bt.w.Devices {
		out[d] = make([]pushBody, len(dw.Deliveries))
		for j, dl := range dw.Deliveries {
			if dl.Repeat && j > 0 {
				out[d][j] = out[d][j-1]
				continue
			}
			ops := dw.Batch(dl)
			req := syncproto.PushRequest{DeviceID: bt.devices[d], DeviceTime: time.Now().UTC(), Ops: make([]syncproto.Op, len(ops))}
			for i, op := range ops {
				req.Ops[i] = syncproto.Op{OpID: op.OpID, Seq: op.Seq, Kind: string(op.Kind), OccurredAt: op.OccurredAt,
					SKU: op.SKU, Barcode: op.Barcode, Batch: op.Batch, Expiry: op.Expiry, Qty: op.Qty, Location: op.Location,
					ToLocation: op.ToLocation, Order: op.Order, Ref: op.Ref, Reason: op.Reason, ExchangeOf: op.ExchangeOf,
					Actor: op.Actor, Note: op.Note}
			}
			b, err := json.Marshal(req)
			if err != nil {
				return nil, err
			}
			if len(b) <= gzipFrom {
				out[d][j] = pushBody{data: b}
				continue
			}
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(b); err != nil {
				return nil, err
			}
			if err := zw.Close(); err != nil {
				return nil, err
			}
			out[d][j] = pushBody{data: buf.Bytes(), gzipped: true}
		}
	}
	return out, nil
}

// pushFunc pushes one delivery of a device.
type pushFunc func(ctx context.Context, d, j int) error

// httpPusher pushes the prebuilt bodies over HTTP with the devices'
// tokens and backlog headers, and records the answers in tl.
func (s *benchServer) httpPusher(bt *benchTenant, bodies [][]pushBody, tl *tally) pushFunc {
	return func(ctx context.Context, d, j int) error {
		dw := &bt.w.Devices[d]
		dl := dw.Deliveries[j]
		// The device reports what it has not had acknowledged, and the
		// acked seq it last heard: for a push sent again after a lost
		// answer, the one from before.
		backlog := syncproto.Backlog{Pending: int64(len(dw.Ops) - dl.From), OldestUnsent: time.Hour, AckedSeq: int64(dl.From), AppVersion: benchAppVersion}
		var resp syncproto.PushResponse
		start := time.Now()
		if err := s.post(ctx, "/v1/sync/push", bt.tokens[d], bodies[d][j].data, bodies[d][j].gzipped, &backlog, &resp); err != nil {
			return fmt.Errorf("%s: %s's push of seq %d-%d: %w", bt.slug, dw.Name, dl.From+1, dl.To, err)
		}
		lat := time.Since(start)
		out := make([]outcome, len(resp.Results))
		for i, r := range resp.Results {
			out[i] = outcome{string(r.Status), string(r.Code), r.Replayed}
		}
		tl.record(bt.slug+"/"+dw.Name, dl, out, lat)
		return nil
	}
}

// inProcessPusher merges through the ledger directly.
func (bt *benchTenant) inProcessPusher(tl *tally) pushFunc {
	return func(ctx context.Context, d, j int) error {
		_, err := bt.mergeInProcess(ctx, d, bt.w.Devices[d].Deliveries[j], tl)
		return err
	}
}

// runPass pushes every delivery of devs, each device's in order, with
// uploaders devices pushing at once (0: every device at once, each on its
// own), and returns the wall time.
func runPass(ctx context.Context, w *Workload, devs []int, uploaders int, push pushFunc) (time.Duration, error) {
	if uploaders <= 0 || uploaders > len(devs) {
		uploaders = len(devs)
	}
	next := make(chan int, len(devs))
	for _, d := range devs {
		next <- d
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range uploaders {
		g.Go(func() error {
			for d := range next {
				for j := range w.Devices[d].Deliveries {
					if err := push(gctx, d, j); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

// rounds splits the devices into up to four groups of at least uploaders
// devices, so two passes measured side by side can alternate group by
// group and see the same machine state.
func rounds(devs []int, uploaders int) [][]int {
	n := min(4, max(1, len(devs)/max(uploaders, 1)))
	var out [][]int
	for r := range n {
		out = append(out, devs[r*len(devs)/n:(r+1)*len(devs)/n])
	}
	return out
}

// watch prints the progress of a pass every ten seconds until stopped.
func (e *env) watch(label string, tl *tally, total int) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		tk := time.NewTicker(10 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				tl.mu.Lock()
				n := tl.ops
				tl.mu.Unlock()
				e.progress("%s: %d/%d ops, %s", label, n, total, opsText(rate(n, time.Since(start))))
			}
		}
	}()
	return func() { close(done) }
}

// sidePass is one of two passes measured side by side.
type sidePass struct {
	label string
	push  pushFunc
	tl    *tally
	time  time.Duration
}

// sideBySide runs the two passes over the same devices, alternating group
// by group (and which goes first), with uploaders devices at once.
func (e *env) sideBySide(ctx context.Context, w *Workload, uploaders int, a, b *sidePass) error {
	total := w.DeliveredOps()
	for r, devs := range rounds(allDevices(w), uploaders) {
		order := []*sidePass{a, b}
		if r%2 == 1 {
			order = []*sidePass{b, a}
		}
		for _, p := range order {
			stop := e.watch(p.label, p.tl, total)
			d, err := runPass(ctx, w, devs, uploaders, p.push)
			stop()
			p.time += d
			if err != nil {
				return err
			}
			e.progress("%s: devices %d-%d done: %d/%d ops so far, %s", p.label, devs[0]+1, devs[len(devs)-1]+1,
				p.tl.ops, total, opsText(rate(p.tl.ops, p.time)))
		}
	}
	return nil
}

// verifyAll checks the invariants of every tenant.
func verifyAll(ctx context.Context, bts ...*benchTenant) ([]string, error) {
	var out []string
	for _, bt := range bts {
		p, err := bt.verify(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

// runHTTP: the workload through the real server, 16 uploaders at once,
// against the same pushes merged in process into another tenant by as
// many goroutines.
func (e *env) runHTTP(ctx context.Context, t *target) (res Result, err error) {
	w := e.workload()
	srv, err := startServer(ctx, t)
	if err != nil {
		return res, err
	}
	defer srv.stopInto(&err)
	inproc, err := e.newTenantWithDevices(ctx, t, "http-inproc", w)
	if err != nil {
		return res, err
	}
	over, err := e.newTenant(ctx, t, "http", w)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := srv.enroll(ctx, over); err != nil {
		return res, err
	}
	bodies, err := over.pushBodies()
	if err != nil {
		return res, err
	}
	e.progress("http: enrolled %d devices and encoded their pushes in %s", len(w.Devices), since(start))
	u := e.opts.Uploaders
	a := &sidePass{label: "http: over HTTP", tl: newTally()}
	a.push = srv.httpPusher(over, bodies, a.tl)
	b := &sidePass{label: "http: in process", tl: newTally()}
	b.push = inproc.inProcessPusher(b.tl)
	if err := e.sideBySide(ctx, w, u, a, b); err != nil {
		return res, err
	}
	figure, baseline := rate(a.tl.ops, a.time), rate(b.tl.ops, b.time)
	res.setRatio(figure, baseline, 0.85, true)
	res.metric("http_ops_per_second", figure)
	res.metric("in_process_ops_per_second", baseline)
	la, lb := sortedLatencies(a.tl), sortedLatencies(b.tl)
	res.metric("http_push_p50_ms", float64(quantile(la, 0.5))/1e6)
	res.metric("http_push_p99_ms", float64(quantile(la, 0.99))/1e6)
	res.detail("%d uploaders; HTTP: %d ops in %s, push p50 %s, p99 %s; in process: %d ops in %s, push p50 %s, p99 %s",
		u, a.tl.ops, a.time.Round(time.Millisecond), ms(quantile(la, 0.5)), ms(quantile(la, 0.99)),
		b.tl.ops, b.time.Round(time.Millisecond), ms(quantile(lb, 0.5)), ms(quantile(lb, 0.99)))
	res.detail("HTTP results: %s", a.tl.summary())
	res.detail("in-process results: %s", b.tl.summary())
	res.Problems = append(a.tl.unexpected(), b.tl.unexpected()...)
	p, err := verifyAll(ctx, over, inproc)
	res.Problems = append(res.Problems, p...)
	return res, err
}

func sortedLatencies(tl *tally) []time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	l := slices.Clone(tl.latencies)
	slices.Sort(l)
	return l
}

// runShiftEnd: every device pushing at once over HTTP against the same
// operations from 1, 2, 4 and 8 sequential uploaders, each pass on a fresh
// tenant; the best of those is the baseline.
func (e *env) runShiftEnd(ctx context.Context, t *target) (res Result, err error) {
	w := e.workload()
	srv, err := startServer(ctx, t)
	if err != nil {
		return res, err
	}
	defer srv.stopInto(&err)
	// The all-at-once pass runs in the middle, so the database has grown
	// as much before it as it does after it.
	var plan []int
	for _, k := range []int{1, 2, 0, 4, 8} {
		if k == 0 || k == 1 || k < len(w.Devices) {
			plan = append(plan, k)
		}
	}
	type pass struct {
		uploaders int
		tl        *tally
		wall      time.Duration
	}
	var all pass
	var seqs []pass
	for _, k := range plan {
		slug := "shift-end-all"
		if k > 0 {
			slug = fmt.Sprintf("shift-end-seq%d", k)
		}
		bt, err := e.newTenant(ctx, t, slug, w)
		if err != nil {
			return res, err
		}
		if err := srv.enroll(ctx, bt); err != nil {
			return res, err
		}
		bodies, err := bt.pushBodies()
		if err != nil {
			return res, err
		}
		p := pass{uploaders: k, tl: newTally()}
		stop := e.watch(slug, p.tl, w.DeliveredOps())
		p.wall, err = runPass(ctx, w, allDevices(w), k, srv.httpPusher(bt, bodies, p.tl))
		stop()
		if err != nil {
			return res, err
		}
		e.progress("%s: %d ops in %s: %s", slug, p.tl.ops, p.wall.Round(time.Millisecond), opsText(rate(p.tl.ops, p.wall)))
		res.Problems = append(res.Problems, p.tl.unexpected()...)
		problems, err := bt.verify(ctx)
		if err != nil {
			return res, err
		}
		res.Problems = append(res.Problems, problems...)
		if k == 0 {
			all = p
		} else {
			seqs = append(seqs, p)
		}
	}
	best := seqs[0]
	var seqText []string
	for _, p := range seqs {
		r := rate(p.tl.ops, p.wall)
		if r > rate(best.tl.ops, best.wall) {
			best = p
		}
		seqText = append(seqText, fmt.Sprintf("%d: %s", p.uploaders, opsText(r)))
	}
	lat := sortedLatencies(all.tl)
	p50, p99 := quantile(lat, 0.5), quantile(lat, 0.99)
	res.setRatio(rate(all.tl.ops, all.wall), rate(best.tl.ops, best.wall), 0.9, p99 <= 10*p50)
	res.metric("all_at_once_ops_per_second", res.Figure)
	res.metric("best_sequential_ops_per_second", res.Baseline)
	res.metric("best_sequential_uploaders", float64(best.uploaders))
	res.metric("push_p50_ms", float64(p50)/1e6)
	res.metric("push_p99_ms", float64(p99)/1e6)
	res.metric("push_max_ms", float64(quantile(lat, 1))/1e6)
	res.detail("all %d devices at once: %d ops in %s; push latency p50 %s, p99 %s (%.1f x p50), max %s",
		len(w.Devices), all.tl.ops, all.wall.Round(time.Millisecond), ms(p50), ms(p99), float64(p99)/float64(max(p50, 1)), ms(quantile(lat, 1)))
	res.detail("sequential uploaders (each a fresh tenant, run in the order 1, 2, all, 4, 8): %s; best %d", strings.Join(seqText, ", "), best.uploaders)
	res.detail("all-at-once results: %s", all.tl.summary())
	return res, nil
}

// runHotKeys: the hot-keys workload (80% of the operations on 1% of the
// keys) against the uniform one, both merged in process by 16 uploaders
// into tenants of their own, counting the pushes retried after a deadlock
// or a serialization failure.
func (e *env) runHotKeys(ctx context.Context, t *target) (Result, error) {
	var res Result
	uni := e.workload()
	start := time.Now()
	hot := NewWorkload(e.opts.Config, true)
	e.progress("hot-keys: hot workload made in %s: %d of %d ops on %d of %d keys", since(start), hot.HotKeyOps, hot.DeviceOps(), hot.HotKeys, hot.Keys)
	btHot, err := e.newTenantWithDevices(ctx, t, "hot-keys-hot", hot)
	if err != nil {
		return res, err
	}
	btUni, err := e.newTenantWithDevices(ctx, t, "hot-keys-uniform", uni)
	if err != nil {
		return res, err
	}
	u := e.opts.Uploaders
	a := &sidePass{label: "hot-keys: hot", tl: newTally()}
	a.push = btHot.inProcessPusher(a.tl)
	b := &sidePass{label: "hot-keys: uniform", tl: newTally()}
	b.push = btUni.inProcessPusher(b.tl)
	if err := e.sideBySide(ctx, hot, u, a, b); err != nil {
		return res, err
	}
	share := func(tl *tally) float64 { return float64(tl.retried) / float64(max(tl.pushes, 1)) }
	res.setRatio(rate(a.tl.ops, a.time), rate(b.tl.ops, b.time), 0.8, share(a.tl) <= 0.01)
	res.metric("hot_ops_per_second", res.Figure)
	res.metric("uniform_ops_per_second", res.Baseline)
	res.metric("hot_retried_share", share(a.tl))
	res.metric("uniform_retried_share", share(b.tl))
	res.detail("hot: %d of %d ops on %d of %d keys; %d uploaders in process", hot.HotKeyOps, hot.DeviceOps(), hot.HotKeys, hot.Keys, u)
	res.detail("retried after a deadlock or serialization failure (40P01, 40001): hot %d of %d pushes (%.2f%%, %d retries), uniform %d of %d (%.2f%%, %d retries)",
		a.tl.retried, a.tl.pushes, 100*share(a.tl), a.tl.retries, b.tl.retried, b.tl.pushes, 100*share(b.tl), b.tl.retries)
	res.detail("hot results: %s", a.tl.summary())
	res.detail("uniform results: %s", b.tl.summary())
	res.Problems = append(a.tl.unexpected(), b.tl.unexpected()...)
	p, err := verifyAll(ctx, btHot, btUni)
	res.Problems = append(res.Problems, p...)
	return res, err
}
