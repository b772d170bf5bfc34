package bench

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"stocksync/ledger/postgres/pgtest"
)

// TestDevice runs the Device scenario at a tiny size: the numbers are not
// judged, only that the scenario works and measures what it claims. The
// scenario itself checks that every recorded operation landed in the
// outbox (and that the server then took them all) and that the device
// pulled exactly what was seeded.
func TestDevice(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			cfg := DeviceConfig{Records: 200, Items: 2000, Balances: 5000, Dir: t.TempDir()}
			if db == "postgres" {
				cfg.DatabaseURL = pgtest.URL(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var log bytes.Buffer
			res, err := Device(ctx, cfg, &log)
			t.Logf("progress:\n%s", log.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.PulledItems != cfg.Items || res.PulledBalances != cfg.Balances {
				t.Errorf("pulled %d items and %d balances, want %d and %d", res.PulledItems, res.PulledBalances, cfg.Items, cfg.Balances)
			}
			if res.RecordP50 <= 0 || res.RecordP99 < res.RecordP50 {
				t.Errorf("record latency p50 %s, p99 %s: want 0 < p50 <= p99", res.RecordP50, res.RecordP99)
			}
			if res.FsyncP50 <= 0 || res.FsyncP99 < res.FsyncP50 {
				t.Errorf("fsync baseline p50 %s, p99 %s: want 0 < p50 <= p99", res.FsyncP50, res.FsyncP99)
			}
			if res.PullTime <= 0 {
				t.Errorf("pull time %s, want > 0", res.PullTime)
			}
			// Even an empty Go process holds a few MiB; below 1 MiB the
			// units were misread.
			if res.PullPeakRSS < 1<<20 {
				t.Errorf("pull peak RSS %d bytes: not measured", res.PullPeakRSS)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 of 1..100 = %d, want 50", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", p)
	}
	if p := percentile(d[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %d, want 1", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of none = %d, want 0", p)
	}
}

func TestDeviceShapeKeysAreDistinct(t *testing.T) {
	s := newDeviceShape(DeviceConfig{Items: 7, Balances: 400})
	seen := map[[3]string]bool{}
	n := 0
	for i := range s.items {
		for slot := range s.slots(i) {
			k := [3]string{s.slotLocation(i, slot), s.sku(i), s.slotBatch(i, slot)}
			if seen[k] {
				t.Fatalf("key %v twice", k)
			}
			seen[k] = true
			n++
		}
	}
	if n != 400 || s.locations < 58 {
		t.Fatalf("%d keys over %d locations, want 400 over at least 58", n, s.locations)
	}
}

// BenchmarkDevice runs the Device scenario at full size (10,000 records;
// 50,000 items and 200,000 balances pulled) once per database and reports
// its figures:
//
//	go test ./bench/ -run '^$' -bench BenchmarkDevice -benchtime 1x
//
// With STOCKSYNC_TEST_DATABASE_URL set the server side also runs on
// PostgreSQL. Seeding is untimed and takes most of the run.
func BenchmarkDevice(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			cfg := DeviceConfig{Dir: b.TempDir()}
			if db == "postgres" {
				cfg.DatabaseURL = pgtest.URL(b)
			}
			var res DeviceResult
			for range b.N {
				var err error
				if res, err = Device(context.Background(), cfg, os.Stderr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.RecordP50.Microseconds()), "record-p50-µs")
			b.ReportMetric(float64(res.RecordP99.Microseconds()), "record-p99-µs")
			b.ReportMetric(float64(res.FsyncP99.Microseconds()), "fsync-p99-µs")
			b.ReportMetric(res.PullTime.Seconds(), "pull-s")
			b.ReportMetric(float64(res.PullPeakRSS)/(1<<20), "pull-peak-MiB")
		})
	}
}
