package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// The management API's JSON shapes. They show codes (warehouse, location,
// SKU, batch) wherever a person reads them, never the ledger's internal
// IDs of catalog rows; devices, reviews, operations and keys are named by
// their UUIDs because those are what the routes take.

// Page sizes of the management API's lists.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

type deviceJSON struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Warehouse   string     `json:"warehouse"`
	AppVersion  string     `json:"app_version"`
	AckedSeq    int64      `json:"acked_seq"`
	LastSeenAt  *time.Time `json:"last_seen_at"`
	Pending     int64      `json:"pending"`
	OldestUnsec int64      `json:"oldest_unsent_seconds"`
	RevokedAt   *time.Time `json:"revoked_at"`
	BatchPrefix string     `json:"batch_prefix"`
	CreatedAt   time.Time  `json:"created_at"`
	// ClockOffsetMS is server time minus device time at its last push.
	ClockOffsetMS int64 `json:"clock_offset_ms"`
}

// timePtr is nil for the zero time, so JSON says null rather than year 1.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func deviceToJSON(d ledger.Device, warehouses map[uuid.UUID]string) deviceJSON {
	return deviceJSON{
		ID: d.ID, Name: d.Name, Warehouse: warehouses[d.WarehouseID], AppVersion: d.AppVersion, AckedSeq: d.AckedSeq,
		LastSeenAt: timePtr(d.LastSeenAt), Pending: d.Pending, OldestUnsec: int64(d.OldestUnsent / time.Second),
		RevokedAt: timePtr(d.RevokedAt), BatchPrefix: d.BatchPrefix, CreatedAt: d.CreatedAt.UTC(),
		ClockOffsetMS: d.ClockOffset.Milliseconds(),
	}
}

// warehouseCodes maps the tenant's warehouse IDs to their codes. The
// ledger has no method for it, so it reads through the Store interface,
// still scoped to the tenant.
func (s *Server) warehouseCodes(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	err := s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		whs, err := tx.Warehouses(ctx, tenantID, nil)
		for _, w := range whs {
			out[w.ID] = w.Code
		}
		return err
	})
	return out, err
}

// reviewNames is what a review's JSON needs besides the review: device
// names, and the warehouse code of each location (the ledger's evidence
// names the location but not its warehouse). One snapshot, scoped to the
// tenant.
type reviewNames struct {
	devices    map[uuid.UUID]string
	warehouses map[uuid.UUID]string // by location ID
}

func (s *Server) reviewNames(ctx context.Context, tenantID uuid.UUID, rs ...ledger.Review) (reviewNames, error) {
	n := reviewNames{devices: map[uuid.UUID]string{}, warehouses: map[uuid.UUID]string{}}
	var locIDs []uuid.UUID
	for _, r := range rs {
		if r.LocationID != uuid.Nil {
			locIDs = append(locIDs, r.LocationID)
		}
	}
	err := s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		ds, err := tx.Devices(ctx, tenantID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			n.devices[d.ID] = d.Name
		}
		if len(locIDs) == 0 {
			return nil
		}
		locs, err := tx.LocationsByID(ctx, tenantID, locIDs)
		if err != nil {
			return err
		}
		whs, err := tx.Warehouses(ctx, tenantID, nil)
		if err != nil {
			return err
		}
		codes := map[uuid.UUID]string{}
		for _, w := range whs {
			codes[w.ID] = w.Code
		}
		for _, l := range locs {
			n.warehouses[l.ID] = codes[l.WarehouseID]
		}
		return nil
	})
	return n, err
}

// deviceNames maps the tenant's device IDs to their names.
func (s *Server) deviceNames(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]string, error) {
	ds, err := s.ledger.Devices(ctx, tenantID)
	out := make(map[uuid.UUID]string, len(ds))
	for _, d := range ds {
		out[d.ID] = d.Name
	}
	return out, err
}

// listDevices is GET /v1/devices.
func (s *Server) listDevices(c *gin.Context) {
	if q := newQuery(c); q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	ds, err := s.ledger.Devices(ctx, tid)
	if err != nil {
		s.fail(c, err)
		return
	}
	whs, err := s.warehouseCodes(ctx, tid)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceToJSON(d, whs))
	}
	s.writeJSON(c, http.StatusOK, gin.H{"devices": out})
}

// getDevice is GET /v1/devices/{id}.
func (s *Server) getDevice(c *gin.Context) {
	s.deviceAction(c, false)
}

// revokeDevice is POST /v1/devices/{id}/revoke: the device's token stops
// working at once. Revoking a revoked device changes nothing.
func (s *Server) revokeDevice(c *gin.Context) {
	s.deviceAction(c, true)
}

func (s *Server) deviceAction(c *gin.Context, revoke bool) {
	if q := newQuery(c); q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	id, err := pathID(c, "device")
	if err == nil && revoke {
		err = s.ledger.RevokeDevice(ctx, tid, id)
	}
	var d ledger.Device
	if err == nil {
		d, err = s.ledger.Device(ctx, tid, id)
	}
	var whs map[uuid.UUID]string
	if err == nil {
		whs, err = s.warehouseCodes(ctx, tid)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, deviceToJSON(d, whs))
}

// ttl is an enrollment code's lifetime: a Go duration string ("30m",
// "24h") or a number of seconds.
type ttl time.Duration

func (t *ttl) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("ttl must be a duration such as \"30m\" or \"24h\", or a number of seconds, got %q", s)
		}
		*t = ttl(d)
		return nil
	}
	var secs int64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("ttl must be a duration such as \"30m\" or \"24h\", or a number of seconds, got %s", b)
	}
	*t = ttl(time.Duration(secs) * time.Second)
	return nil
}

type codeRequest struct {
	Warehouse string `json:"warehouse"`
	TTL       ttl    `json:"ttl,omitempty"`
}

type codeResponse struct {
	Code      string    `json:"code"`
	Warehouse string    `json:"warehouse"`
	ExpiresAt time.Time `json:"expires_at"`
}

// postCode is POST /v1/devices/codes: a single-use enrollment code for a
// warehouse, shown once.
func (s *Server) postCode(c *gin.Context) {
	var req codeRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		s.fail(c, err)
		return
	}
	if strings.TrimSpace(req.Warehouse) == "" {
		s.fail(c, syncproto.Errorf(syncproto.CodeInvalid, "warehouse is required"))
		return
	}
	ec, code, err := s.ledger.CreateEnrollmentCode(c.Request.Context(), tenantID(c), req.Warehouse, time.Duration(req.TTL))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusCreated, codeResponse{Code: code, Warehouse: strings.TrimSpace(req.Warehouse), ExpiresAt: ec.ExpiresAt.UTC()})
}

type balanceJSON struct {
	Warehouse string `json:"warehouse"`
	Location  string `json:"location"`
	SKU       string `json:"sku"`
	Batch     string `json:"batch"`
	OnHand    int64  `json:"on_hand"`
}

// getStock is GET /v1/stock: current balances, or stock as of an
// effective time with as_of.
func (s *Server) getStock(c *gin.Context) {
	q := newQuery(c, "warehouse", "location", "sku", "batch", "as_of", "nonzero")
	f := ledger.BalanceFilter{
		Warehouse: q.str("warehouse"), Location: q.str("location"), SKU: q.str("sku"), Batch: q.str("batch"),
		AsOf: q.time("as_of"), NonZero: q.bool("nonzero"),
	}
	if q.err != nil {
		s.fail(c, q.err)
		return
	}
	rows, err := s.ledger.Balances(c.Request.Context(), tenantID(c), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]balanceJSON, 0, len(rows))
	for _, b := range rows {
		out = append(out, balanceJSON{Warehouse: b.Warehouse, Location: b.Location, SKU: b.SKU, Batch: b.Batch, OnHand: b.OnHand})
	}
	resp := gin.H{"balances": out}
	if !f.AsOf.IsZero() {
		resp["as_of"] = f.AsOf.UTC()
	}
	s.writeJSON(c, http.StatusOK, resp)
}

type movementJSON struct {
	Position    int64      `json:"position"`
	Kind        string     `json:"kind"`
	Warehouse   string     `json:"warehouse"`
	Location    string     `json:"location"`
	SKU         string     `json:"sku"`
	Batch       string     `json:"batch"`
	Qty         int64      `json:"qty"`
	EffectiveAt time.Time  `json:"effective_at"`
	RecordedAt  time.Time  `json:"recorded_at"`
	OpID        *uuid.UUID `json:"op_id,omitempty"`
	DeviceID    *uuid.UUID `json:"device_id,omitempty"`
	ReviewID    *uuid.UUID `json:"review_id,omitempty"`
	Corrects    *uuid.UUID `json:"corrects,omitempty"`
	Order       string     `json:"order,omitempty"`
}

// idPtr is nil for uuid.Nil, so JSON leaves the field out.
func idPtr(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// listMovements is GET /v1/movements, by recorded position; page with
// after = the last position seen.
func (s *Server) listMovements(c *gin.Context) {
	q := newQuery(c, "warehouse", "location", "sku", "batch", "order", "op_id", "after", "limit")
	f := ledger.MovementFilter{
		Warehouse: q.str("warehouse"), Location: q.str("location"), SKU: q.str("sku"), Batch: q.str("batch"),
		Order: q.str("order"), OpID: q.uuid("op_id"), AfterPosition: q.int64("after"),
		Limit: q.int("limit", defaultListLimit, 1, maxListLimit),
	}
	if q.err != nil {
		s.fail(c, q.err)
		return
	}
	rows, err := s.ledger.Movements(c.Request.Context(), tenantID(c), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]movementJSON, 0, len(rows))
	for _, m := range rows {
		out = append(out, movementJSON{
			Position: m.Position, Kind: string(m.Kind), Warehouse: m.Warehouse, Location: m.Location, SKU: m.SKU, Batch: m.Batch,
			Qty: m.Qty, EffectiveAt: m.EffectiveAt.UTC(), RecordedAt: m.RecordedAt.UTC(), OpID: idPtr(m.OpID),
			DeviceID: idPtr(m.DeviceID), ReviewID: idPtr(m.ReviewID), Corrects: idPtr(m.Corrects), Order: m.Order,
		})
	}
	resp := gin.H{"movements": out}
	if len(rows) == f.Limit {
		resp["next_after"] = rows[len(rows)-1].Position
	}
	s.writeJSON(c, http.StatusOK, resp)
}

type reviewOpJSON struct {
	OpID     uuid.UUID `json:"op_id"`
	DeviceID uuid.UUID `json:"device_id"`
	Device   string    `json:"device,omitempty"`
}

type resolutionJSON struct {
	Action    string     `json:"action"`
	By        string     `json:"by"`
	At        time.Time  `json:"at"`
	Note      string     `json:"note,omitempty"`
	SettledBy *uuid.UUID `json:"settled_by,omitempty"`
	Batch     string     `json:"batch,omitempty"`
	Qty       int64      `json:"qty,omitempty"`
	SKU       string     `json:"sku,omitempty"`
	Location  string     `json:"location,omitempty"`
	Positions []int64    `json:"positions,omitempty"`
}

type reviewJSON struct {
	ID       uuid.UUID `json:"id"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Status   string    `json:"status"`
	// OpID and DeviceID are the operation that opened the review; Ops
	// lists every operation involved, that one first.
	OpID        uuid.UUID           `json:"op_id"`
	DeviceID    uuid.UUID           `json:"device_id"`
	Device      string              `json:"device,omitempty"`
	Ops         []reviewOpJSON      `json:"ops"`
	Warehouse   string              `json:"warehouse,omitempty"`
	Location    string              `json:"location,omitempty"`
	SKU         string              `json:"sku,omitempty"`
	Batch       string              `json:"batch,omitempty"`
	Order       string              `json:"order,omitempty"`
	Evidence    ledger.Evidence     `json:"evidence"`
	Suggestions []ledger.Suggestion `json:"suggestions"`
	OpenedAt    time.Time           `json:"opened_at"`
	Resolution  *resolutionJSON     `json:"resolution"`
}

// reviewToJSON names the review's key by the codes its evidence carries
// (the ledger writes them there when it opens the review), so a reader
// sees "A-01-01", not a location's UUID.
func reviewToJSON(r ledger.Review, names reviewNames) reviewJSON {
	devices := names.devices
	out := reviewJSON{
		ID: r.ID, Kind: string(r.Kind), Severity: string(r.Severity), Status: string(r.Status),
		OpID: r.OpID, DeviceID: r.DeviceID, Device: devices[r.DeviceID], Ops: make([]reviewOpJSON, 0, len(r.Ops)),
		Warehouse: r.Evidence.Warehouse, Location: r.Evidence.Location, SKU: r.Evidence.SKU, Batch: r.Evidence.Batch,
		Order: r.Order, Evidence: r.Evidence, Suggestions: r.Suggestions, OpenedAt: r.OpenedAt.UTC(),
	}
	if out.Order == "" {
		out.Order = r.Evidence.Order
	}
	if out.Warehouse == "" {
		out.Warehouse = names.warehouses[r.LocationID]
	}
	if out.Suggestions == nil {
		out.Suggestions = []ledger.Suggestion{}
	}
	for _, o := range r.Ops {
		out.Ops = append(out.Ops, reviewOpJSON{OpID: o.OpID, DeviceID: o.DeviceID, Device: devices[o.DeviceID]})
	}
	if res := r.Resolution; res != nil {
		out.Resolution = &resolutionJSON{
			Action: string(res.Action), By: res.By, At: res.At.UTC(), Note: res.Note, SettledBy: idPtr(res.SettledBy),
			Batch: res.Batch, Qty: res.Qty, SKU: res.SKU, Location: res.Location, Positions: res.Positions,
		}
	}
	return out
}

var reviewKinds = []string{
	string(ledger.ReviewWrongBatchReturn), string(ledger.ReviewOverReturn), string(ledger.ReviewUnknownOrder),
	string(ledger.ReviewNegativeStock), string(ledger.ReviewCountVariance), string(ledger.ReviewCountAmbiguous),
	string(ledger.ReviewUnknownReference), string(ledger.ReviewExpiredBatch),
}

// listReviews is GET /v1/reviews, oldest first.
func (s *Server) listReviews(c *gin.Context) {
	q := newQuery(c, "status", "kind", "device_id", "op_id", "limit")
	f := ledger.ReviewFilter{
		Status:   ledger.ReviewStatus(q.oneOf("status", string(ledger.ReviewOpen), string(ledger.ReviewResolved))),
		Kind:     ledger.ReviewKind(q.oneOf("kind", reviewKinds...)),
		DeviceID: q.uuid("device_id"), OpID: q.uuid("op_id"),
		Limit: q.int("limit", defaultListLimit, 1, maxListLimit),
	}
	if q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	rows, err := s.ledger.Reviews(ctx, tid, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	names, err := s.reviewNames(ctx, tid, rows...)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]reviewJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, reviewToJSON(r, names))
	}
	s.writeJSON(c, http.StatusOK, gin.H{"reviews": out})
}

// getReview is GET /v1/reviews/{id}.
func (s *Server) getReview(c *gin.Context) {
	if q := newQuery(c); q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	id, err := pathID(c, "review")
	var r ledger.Review
	if err == nil {
		r, err = s.ledger.Review(ctx, tid, id)
	}
	s.answerReview(c, r, err)
}

func (s *Server) answerReview(c *gin.Context, r ledger.Review, err error) {
	var names reviewNames
	if err == nil {
		names, err = s.reviewNames(c.Request.Context(), tenantID(c), r)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, reviewToJSON(r, names))
}

// resolveRequest is a manager's decision; who decided is the API key's
// name, never a field of the body.
type resolveRequest struct {
	Action     string `json:"action"`
	Batch      string `json:"batch,omitempty"`
	Qty        int64  `json:"qty,omitempty"`
	SKU        string `json:"sku,omitempty"`
	Location   string `json:"location,omitempty"`
	ToLocation string `json:"to_location,omitempty"`
	Note       string `json:"note,omitempty"`
}

// resolveReview is POST /v1/reviews/{id}/resolve.
func (s *Server) resolveReview(c *gin.Context) {
	id, err := pathID(c, "review")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req resolveRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		s.fail(c, err)
		return
	}
	switch ledger.Action(req.Action) {
	case ledger.ActionAccept, ledger.ActionReassignBatch, ledger.ActionReverse, ledger.ActionAdjust, ledger.ActionMapReference:
	default:
		s.fail(c, syncproto.Errorf(syncproto.CodeInvalid, "action must be one of accept, reassign_batch, reverse, adjust, map_reference; got %q", req.Action))
		return
	}
	r, err := s.ledger.ResolveReview(c.Request.Context(), tenantID(c), id, ledger.Resolution{
		Action: ledger.Action(req.Action), Batch: req.Batch, Qty: req.Qty, SKU: req.SKU, Location: req.Location,
		ToLocation: req.ToLocation, By: apiKey(c).Name, Note: req.Note,
	})
	s.answerReview(c, r, err)
}

type opJSON struct {
	DeviceID    uuid.UUID              `json:"device_id"`
	Device      string                 `json:"device,omitempty"`
	Seq         int64                  `json:"seq"`
	OpID        uuid.UUID              `json:"op_id"`
	Kind        string                 `json:"kind"`
	ReceivedAt  time.Time              `json:"received_at"`
	EffectiveAt *time.Time             `json:"effective_at,omitempty"`
	Status      string                 `json:"status"`
	Code        string                 `json:"code,omitempty"`
	Message     string                 `json:"message,omitempty"`
	ReviewIDs   []uuid.UUID            `json:"review_ids,omitempty"`
	Batch       string                 `json:"batch,omitempty"`
	Allocations []syncproto.Allocation `json:"allocations,omitempty"`
	Replayed    bool                   `json:"replayed,omitempty"`
	// Posted is true once the operation's movements are in the ledger.
	Posted bool `json:"posted"`
	// Conflict marks an op_conflict kept apart because its seq was taken;
	// Renumbered an entry that only records a seq of an operation logged
	// under another one (a device restored from a backup).
	Conflict   bool `json:"conflict,omitempty"`
	Renumbered bool `json:"renumbered,omitempty"`
	// Op is the operation as the device sent it.
	Op *syncproto.Op `json:"op,omitempty"`
}

var opStatuses = []string{string(ledger.StatusApplied), string(ledger.StatusFlagged), string(ledger.StatusHeld), string(ledger.StatusRejected)}

// listOps is GET /v1/ops: the op log, rejected operations and op_conflicts
// included, by device and seq; page with device_id and after_seq.
func (s *Server) listOps(c *gin.Context) {
	q := newQuery(c, "device_id", "status", "after_seq", "limit")
	f := ledger.OpLogFilter{
		DeviceID: q.uuid("device_id"), Status: ledger.Status(q.oneOf("status", opStatuses...)),
		AfterSeq: q.int64("after_seq"), Limit: q.int("limit", defaultListLimit, 1, maxListLimit),
	}
	if q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	rows, err := s.ledger.OpLog(ctx, tid, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	names, err := s.deviceNames(ctx, tid)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]opJSON, 0, len(rows))
	for _, e := range rows {
		w := resultToWire(e.Result)
		o := opJSON{
			DeviceID: e.DeviceID, Device: names[e.DeviceID], Seq: e.Seq, OpID: e.OpID, Kind: string(e.Kind),
			ReceivedAt: e.ReceivedAt.UTC(), EffectiveAt: timePtr(e.EffectiveAt), Status: string(w.Status), Code: string(w.Code),
			Message: w.Message, ReviewIDs: w.ReviewIDs, Batch: w.Batch, Allocations: w.Allocations, Replayed: w.Replayed,
			Posted: e.Posted, Conflict: e.Conflict, Renumbered: !e.Canonical && !e.Conflict,
		}
		if op, err := e.Operation(); err == nil {
			wop := opToWire(op)
			wop.Seq = e.Seq
			o.Op = &wop
		} else {
			s.log.WarnContext(ctx, "decode op log payload", "op_id", e.OpID, "err", err)
		}
		out = append(out, o)
	}
	s.writeJSON(c, http.StatusOK, gin.H{"ops": out})
}

type keyJSON struct {
	ID        uuid.UUID  `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	// APIKey is the secret, present only in the answer that created it.
	APIKey string `json:"api_key,omitempty"`
}

func keyToJSON(k ledger.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: string(k.Role), CreatedAt: k.CreatedAt.UTC(), RevokedAt: timePtr(k.RevokedAt)}
}

// listKeys is GET /v1/keys: the tenant's API keys, never their secrets.
func (s *Server) listKeys(c *gin.Context) {
	if q := newQuery(c); q.err != nil {
		s.fail(c, q.err)
		return
	}
	ks, err := s.ledger.APIKeys(c.Request.Context(), tenantID(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyToJSON(k))
	}
	s.writeJSON(c, http.StatusOK, gin.H{"keys": out})
}

type keyRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// createKey is POST /v1/keys; the secret is in this answer only.
func (s *Server) createKey(c *gin.Context) {
	var req keyRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		s.fail(c, err)
		return
	}
	k, secret, err := s.ledger.CreateAPIKey(c.Request.Context(), tenantID(c), req.Name, ledger.Role(req.Role))
	if err != nil {
		s.fail(c, err)
		return
	}
	out := keyToJSON(k)
	out.APIKey = secret
	s.writeJSON(c, http.StatusCreated, out)
}

// revokeKey is POST /v1/keys/{id}/revoke. A key may revoke itself.
func (s *Server) revokeKey(c *gin.Context) {
	if q := newQuery(c); q.err != nil {
		s.fail(c, q.err)
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	id, err := pathID(c, "API key")
	if err == nil {
		err = s.ledger.RevokeAPIKey(ctx, tid, id)
	}
	var ks []ledger.APIKey
	if err == nil {
		ks, err = s.ledger.APIKeys(ctx, tid)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	for _, k := range ks {
		if k.ID == id {
			s.writeJSON(c, http.StatusOK, keyToJSON(k))
			return
		}
	}
	s.fail(c, syncproto.Errorf(syncproto.CodeNotFound, "API key %s not found", id))
}
