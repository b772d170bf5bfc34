package server

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
)

// When a device counts as lagging on the devices page. A handheld that
// holds operations it has not sent means the ledger is missing what
// happened on the floor: half an hour is longer than any normal gap
// between syncs on a shift with signal, and a device unseen for a day
// while it holds operations is likely switched off in a locker or lost.
const (
	lagUnsentMax = 30 * time.Minute
	lagUnseenMax = 24 * time.Hour
)

// enrollTTLs are the lifetimes an enrollment code can be given in the
// console; the ledger allows 1m to 7d.
var enrollTTLs = []option{{"15m", "15 minutes"}, {"1h", "1 hour"}, {"8h", "8 hours (a shift)"}, {"24h", "24 hours"}, {"168h", "7 days"}}

type deviceRow struct {
	ledger.Device
	Warehouse string
	// Oldest is the age of the oldest unsent operation now: what the
	// device reported, plus the time since it reported it.
	Oldest  time.Duration
	Lagging bool
	Revoked bool
}

type devicesData struct {
	Rows       []deviceRow
	Lagging    int
	Chart      template.HTML
	Warehouses []string
	TTLs       []option
	LagUnsent  time.Duration
	LagUnseen  time.Duration
}

// lagOf computes a device's current lag and whether it is lagging.
func lagOf(d ledger.Device, now time.Time) (time.Duration, bool) {
	if d.Pending <= 0 {
		return 0, false
	}
	oldest := d.OldestUnsent
	if !d.LastSeenAt.IsZero() {
		oldest += max(0, now.Sub(d.LastSeenAt))
	}
	unseen := d.LastSeenAt.IsZero() || now.Sub(d.LastSeenAt) > lagUnseenMax
	return oldest, oldest > lagUnsentMax || unseen
}

// devicesPage is GET /devices: every handheld, how far behind it is, and
// the forms to enroll a new one.
func (cn *console) devicesPage(c *gin.Context) {
	ctx, tid, now := c.Request.Context(), tenantID(c), cn.s.now()
	ds, err := cn.s.ledger.Devices(ctx, tid)
	if err != nil {
		cn.fail(c, err)
		return
	}
	codes, err := cn.s.warehouseCodes(ctx, tid)
	if err != nil {
		cn.fail(c, err)
		return
	}
	d := devicesData{TTLs: enrollTTLs, LagUnsent: lagUnsentMax, LagUnseen: lagUnseenMax}
	for _, code := range codes {
		d.Warehouses = append(d.Warehouses, code)
	}
	sort.Strings(d.Warehouses)
	var bars []lagBar
	for _, dv := range ds {
		row := deviceRow{Device: dv, Warehouse: codes[dv.WarehouseID], Revoked: !dv.RevokedAt.IsZero()}
		row.Oldest, row.Lagging = lagOf(dv, now)
		if row.Revoked {
			row.Lagging = false
		} else {
			bars = append(bars, lagBar{Device: dv.Name, Lag: row.Oldest, Pending: int(min(dv.Pending, 1<<31-1)), Lagging: row.Lagging})
		}
		if row.Lagging {
			d.Lagging++
		}
		d.Rows = append(d.Rows, row)
	}
	// Lagging first, then by name: the ones to chase are at the top.
	slices.SortStableFunc(d.Rows, func(a, b deviceRow) int {
		if a.Lagging != b.Lagging {
			if a.Lagging {
				return -1
			}
			return 1
		}
		if a.Revoked != b.Revoked {
			if b.Revoked {
				return -1
			}
			return 1
		}
		return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	slices.SortStableFunc(bars, func(a, b lagBar) int { return cmp.Or(cmp.Compare(b.Lag, a.Lag), cmp.Compare(a.Device, b.Device)) })
	d.Chart = lagChart(bars)
	cn.render(c, http.StatusOK, "devices", "Devices", "devices", d)
}

// revokeDevice is POST /devices/{id}/revoke: the device's token stops
// working at once.
func (cn *console) revokeDevice(c *gin.Context) {
	id, ok := cn.pathID(c, "device")
	if !ok {
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	dv, err := cn.s.ledger.Device(ctx, tid, id)
	if err == nil {
		err = cn.s.ledger.RevokeDevice(ctx, tid, id)
	}
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.logAction(c, "revoke device", "device", dv.Name, "device_id", id.String())
	cn.redirect(c, "/devices", flash{Kind: "ok", Text: fmt.Sprintf("Device %q is revoked: it can no longer sync. Enroll it again with a new code to use it.", dv.Name)})
}

type codeData struct {
	Code      string
	Warehouse string
	ExpiresAt time.Time
	QR        template.HTML
}

// createCode is POST /devices/codes: a single-use enrollment code, shown
// once in big type and as a QR code for the handheld to scan. The answer
// is the page itself rather than a redirect, because the code is stored
// only as a hash and cannot be shown again.
func (cn *console) createCode(c *gin.Context) {
	ctx, tid := c.Request.Context(), tenantID(c)
	p := c.Request.PostForm
	wh := strings.TrimSpace(p.Get("warehouse"))
	ttl, err := time.ParseDuration(cmp.Or(p.Get("ttl"), "24h"))
	if wh == "" || err != nil {
		cn.redirect(c, "/devices", flash{Kind: "error", Text: "Choose a warehouse and how long the code lives."})
		return
	}
	ec, code, err := cn.s.ledger.CreateEnrollmentCode(ctx, tid, wh, ttl)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInternal {
			cn.fail(c, err)
			return
		}
		cn.redirect(c, "/devices", flash{Kind: "error", Text: "No code was created: " + failMessage(err)})
		return
	}
	// The code itself is a credential: only its ID is logged.
	cn.logAction(c, "create enrollment code", "warehouse", wh, "code_id", ec.ID.String(), "expires_at", ec.ExpiresAt)
	d := codeData{Code: code, Warehouse: wh, ExpiresAt: ec.ExpiresAt}
	if d.QR, err = qrSVG(code); err != nil {
		cn.logFailure(c, "enrollment QR code", err)
	}
	cn.render(c, http.StatusCreated, "code", "Enrollment code", "devices", d)
}
