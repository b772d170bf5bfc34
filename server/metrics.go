package server

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// metrics are the server's Prometheus metrics. Tenants are labelled by
// slug, which people recognize; routes by their pattern, never the path.
type metrics struct {
	handler      http.Handler
	ops          *prometheus.CounterVec
	mergeSeconds prometheus.Histogram
	pushOps      prometheus.Histogram
	pushBytes    prometheus.Histogram
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_operations_total",
			Help: "Operations answered in pushes, by tenant and status (applied, flagged, held, rejected, or replayed for a replay of any status).",
		}, []string{"tenant", "status"}),
		mergeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stocksync_merge_duration_seconds",
			Help:    "Time to merge one push in the ledger, its database transaction included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		pushOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stocksync_push_operations",
			Help:    "Operations per push.",
			Buckets: []float64{0, 1, 5, 10, 50, 100, 250, 500, 1000},
		}),
		pushBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stocksync_push_bytes",
			Help:    "Decompressed body size of a push, in bytes.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stocksync_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_rate_limited_total",
			Help: "Requests answered 429 by a rate limit, by scope (device, tenant, enroll).",
		}, []string{"scope"}),
	}
	for _, c := range []prometheus.Collector{m.ops, m.mergeSeconds, m.pushOps, m.pushBytes, m.requests, m.duration, m.rateLimited, newOpenReviews(s)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m, nil
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// methodLabel is the method as a metric label. net/http accepts any token
// as a method, so anything but the standard ones shares one label, as
// unmatched paths share one route label.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

func (m *metrics) observePush(tenant string, ops int, bytes int64, results []ledger.Result) {
	m.pushOps.Observe(float64(ops))
	m.pushBytes.Observe(float64(bytes))
	for _, r := range results {
		status := string(r.Status)
		if r.Replayed {
			status = "replayed"
		}
		m.ops.WithLabelValues(tenant, status).Inc()
	}
}

// serveMetrics is GET /metrics, behind a bearer token when one is set.
func (s *Server) serveMetrics(c *gin.Context) {
	if want := s.cfg.MetricsToken; want != "" {
		got, _ := bearer(c)
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			s.unauthorized(c, syncproto.Errorf(syncproto.CodeUnauthorized, "/metrics needs Authorization: Bearer <metrics token>"))
			return
		}
	}
	s.metrics.handler.ServeHTTP(c.Writer, c.Request)
}

// openReviews reports the open reviews per tenant, counted when Prometheus
// scrapes and kept for openReviewsTTL so frequent scrapes from several
// Prometheus servers cost the database one count.
type openReviews struct {
	s    *Server
	desc *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	samples map[string]int
}

const (
	openReviewsTTL = 15 * time.Second
	// openReviewsCap bounds the count per tenant: the ledger has no count
	// query, so counting reads the reviews, and a queue this long means
	// the number itself no longer matters.
	openReviewsCap = 50_000
)

func newOpenReviews(s *Server) *openReviews {
	return &openReviews{s: s, desc: prometheus.NewDesc("stocksync_open_reviews",
		"Open reviews per tenant, counted at scrape time (saturates at 50000).", []string{"tenant"}, nil)}
}

func (o *openReviews) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *openReviews) Collect(ch chan<- prometheus.Metric) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.samples == nil || time.Since(o.at) > openReviewsTTL {
		samples, err := o.count()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(o.desc, err)
			return
		}
		o.samples, o.at = samples, time.Now()
	}
	for tenant, n := range o.samples {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(n), tenant)
	}
}

func (o *openReviews) count() (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := o.s.ledger
	ts, err := l.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(ts))
	for _, t := range ts {
		o.s.slugs.Store(t.ID, t.Slug)
		rs, err := l.Reviews(ctx, t.ID, ledger.ReviewFilter{Status: ledger.ReviewOpen, Limit: openReviewsCap})
		if err != nil {
			return nil, err
		}
		out[t.Slug] = len(rs)
	}
	return out, nil
}
