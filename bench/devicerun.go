package bench

// The device scenario: a wrapper around Device (device.go), which measures
// a handheld's record latency and its first pull.

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
)

// Goals of the device scenario.
const (
	deviceRecordP99Goal = 2 * time.Millisecond
	devicePullTimeGoal  = 15 * time.Second
	devicePullRSSGoal   = 150 << 20
)

func (e *env) runDevice(ctx context.Context) (Result, error) {
	res := Result{Unit: "ms"}
	dc := e.opts.Device
	dc.Dir = filepath.Join(e.dir, "device")
	server := "embedded SQLite"
	if e.pgBase != "" {
		u, err := e.newSchema(ctx, "device")
		if err != nil {
			return res, err
		}
		dc.DatabaseURL = u
		server = "PostgreSQL"
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&dc.Records, DefaultDeviceRecords}, {&dc.Items, DefaultDeviceItems}, {&dc.Balances, DefaultDeviceBalances}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	dr, err := Device(ctx, dc, e.log)
	if err != nil {
		return res, err
	}
	if dc.DatabaseURL != "" {
		// The scenario's server tenants are checked like every other.
		problems, err := checkAll(ctx, dc.DatabaseURL)
		if err != nil {
			return res, err
		}
		res.Problems = append(res.Problems, problems...)
	}
	res.Figure = float64(dr.RecordP99) / float64(time.Millisecond)
	res.FigureText = "record p99 " + ms(dr.RecordP99)
	res.BaselineText, res.RatioText = "-", "-"
	res.Met = dr.RecordP99 < deviceRecordP99Goal && dr.PullTime < devicePullTimeGoal && dr.PullPeakRSS < devicePullRSSGoal
	res.metric("record_p50_ms", float64(dr.RecordP50)/1e6)
	res.metric("record_p99_ms", float64(dr.RecordP99)/1e6)
	res.metric("pull_seconds", dr.PullTime.Seconds())
	res.metric("pull_peak_rss_mib", float64(dr.PullPeakRSS)/(1<<20))
	res.detail("recorded %d operations one by one: p50 %s, p99 %s (goal < 2 ms)", dc.Records, ms(dr.RecordP50), ms(dr.RecordP99))
	res.detail("first pull from a %s server of %d items and %d balances: %s, peak RSS %.1f MiB (goals < 15 s, < 150 MB)",
		server, dr.PulledItems, dr.PulledBalances, dr.PullTime.Round(time.Millisecond), float64(dr.PullPeakRSS)/(1<<20))
	if dr.PulledItems != dc.Items || dr.PulledBalances != dc.Balances {
		res.Problems = append(res.Problems, fmt.Sprintf("the device pulled %d items and %d balances, the server has %d and %d",
			dr.PulledItems, dr.PulledBalances, dc.Items, dc.Balances))
	}
	return res, nil
}

// checkAll runs the consistency check on every tenant of the PostgreSQL
// schema url names.
func checkAll(ctx context.Context, url string) ([]string, error) {
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ds, err := ledger.New(s, ledger.Options{Logger: quietLogger()}).Check(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("device scenario's server: check: %s %s (want %d, got %d)", d.Kind, d.Message, d.Want, d.Got))
	}
	return out, nil
}
