package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"stocksync/client"
	"stocksync/syncproto"
)

// DefaultDeviceDir is where 'stocksync device' keeps the handheld's
// database when neither --dir nor STOCKSYNC_DEVICE_DIR is set.
const DefaultDeviceDir = "./device"

// deviceDBFile is the device database's file name inside --dir.
const deviceDBFile = "device.db"

// deviceAppVersion is what the command-line handheld reports as its app
// version, so managers can tell it from the mobile app.
const deviceAppVersion = "stocksync-cli"

// progressThreshold is the backlog above which 'device sync' draws a
// progress bar: smaller syncs finish before a bar would be read.
const progressThreshold = 1000

// deviceActions are the device commands, in the order usage lists them.
var deviceActions = []struct{ name, args, summary string }{
	{"enroll", "--server URL --code CODE [--name NAME]", "exchange a manager's enrollment code for this device's identity"},
	{"record", "--kind KIND --sku SKU|--barcode CODE --qty N --location LOC [...]", "record one stock movement, offline"},
	{"sync", "", "push pending operations and pull the catalog, stock and decisions"},
	{"status", "", "identity, pending operations, last sync"},
	{"ops", "[--problems] [--pending] [--limit N]", "recorded operations with their results and decisions"},
	{"stock", "[--sku SKU] [--location LOC] [--batch B]", "optimistic stock: pulled balances plus unsynced operations"},
	{"item", "<sku-or-barcode>", "one item of the pulled catalog, its batches and stock"},
	{"serve", "[--addr 127.0.0.1:8090] [--sync-interval 30s]", "run the handheld's scanning app on localhost"},
}

// deviceCommand is the configuration of 'stocksync device ...': a handheld
// run from the command line, for scripts, tests and the quickstart.
type deviceCommand struct {
	Action string
	// Dir holds the device database, Dir/device.db.
	Dir  string
	JSON bool

	// enroll
	Server, Code, Name string

	// record
	Op         client.OpInput
	OccurredAt string

	// ops
	Problems, Pending bool
	Limit             int

	// stock
	Filter client.StockFilter

	// serve (device_serve.go)
	Serve deviceServeConfig

	// Args are the positional words after the action (item's code).
	Args []string
}

func (m *Main) deviceUsage() {
	w := m.Stderr
	fmt.Fprintf(w, "Usage: stocksync device <action> [flags]\n\nA handheld from the command line; its database is <dir>/%s.\n\nActions:\n", deviceDBFile)
	for _, a := range deviceActions {
		fmt.Fprintf(w, "  %-7s %s\n", a.name, a.summary)
		if a.args != "" {
			fmt.Fprintf(w, "          %s\n", a.args)
		}
	}
	fmt.Fprintf(w, "\nFlags of every action:\n")
	fmt.Fprintf(w, "  --dir         the device's directory (env STOCKSYNC_DEVICE_DIR, default %s)\n", DefaultDeviceDir)
	fmt.Fprintf(w, "  --json        print the result as JSON\n")
	fmt.Fprintf(w, "  --log-format, --log-level as for every command\n")
	fmt.Fprintf(w, "\nRun 'stocksync device <action> -h' for the flags of one action.\n")
}

// parseDeviceFlags parses 'stocksync device <action> [flags]'. The device
// commands work on the handheld's own database, so they take --dir instead
// of the server's --db; they set the log flags themselves.
func (m *Main) parseDeviceFlags(args []string) error {
	d := &m.device
	m.LogFormat = m.env("STOCKSYNC_LOG_FORMAT", "text")
	m.LogLevel = m.env("STOCKSYNC_LOG_LEVEL", "info")
	if len(args) == 0 {
		m.deviceUsage()
		return usageError("device needs an action: %s", deviceActionNames())
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		m.deviceUsage()
		return flag.ErrHelp
	}
	d.Action = args[0]
	known := false
	for _, a := range deviceActions {
		known = known || a.name == d.Action
	}
	if !known {
		m.deviceUsage()
		if strings.HasPrefix(d.Action, "-") {
			return usageError("the action comes first: stocksync device <action> [flags]")
		}
		return usageError("unknown device action %q: use %s", d.Action, deviceActionNames())
	}

	fs := flag.NewFlagSet("stocksync device "+d.Action, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&d.Dir, "dir", m.env("STOCKSYNC_DEVICE_DIR", DefaultDeviceDir), "the device's directory, holding "+deviceDBFile)
	fs.BoolVar(&d.JSON, "json", false, "print the result as JSON")
	fs.StringVar(&m.LogFormat, "log-format", m.LogFormat, "log format: text or json")
	fs.StringVar(&m.LogLevel, "log-level", m.LogLevel, "log level: debug, info, warn or error")
	var qty optionalInt
	switch d.Action {
	case "enroll":
		fs.StringVar(&d.Server, "server", m.Getenv("STOCKSYNC_SERVER"), "the server's URL, e.g. https://stock.example.com (env STOCKSYNC_SERVER)")
		fs.StringVar(&d.Code, "code", "", "the enrollment code a manager created for this device's warehouse")
		fs.StringVar(&d.Name, "name", "", "a name for this device, shown to managers (default: the host name)")
	case "record":
		op := &d.Op
		fs.StringVar(&op.Kind, "kind", "", "receive, pick, return, transfer, count or adjust")
		fs.StringVar(&op.SKU, "sku", "", "the item's SKU")
		fs.StringVar(&op.Barcode, "barcode", "", "the item's scanned barcode (instead of or with --sku)")
		fs.Var(&qty, "qty", "quantity in the item's unit: positive; for count what was counted; for adjust signed")
		fs.StringVar(&op.Location, "location", "", "the location (bin) code")
		fs.StringVar(&op.ToLocation, "to-location", "", "transfer: the target location")
		fs.StringVar(&op.Batch, "batch", "", "the batch (lot) code, for batch-tracked items")
		fs.StringVar(&op.Expiry, "expiry", "", "receive: the batch's expiry date, YYYY-MM-DD")
		fs.StringVar(&op.Order, "order", "", "pick, return: the order")
		fs.StringVar(&op.Ref, "ref", "", "receive: the purchase order or delivery reference")
		fs.StringVar(&op.Reason, "reason", "", "return, adjust: the reason code")
		fs.StringVar(&op.ExchangeOf, "exchange-of", "", "pick: the op id of the return this pick exchanges")
		fs.StringVar(&op.Actor, "actor", "", "the staff badge of who did it")
		fs.StringVar(&op.Note, "note", "", "a free-text note")
		fs.StringVar(&d.OccurredAt, "occurred-at", "", "when it happened, RFC 3339 (default: now)")
	case "ops":
		fs.BoolVar(&d.Problems, "problems", false, "only operations that came back flagged, held or rejected")
		fs.BoolVar(&d.Pending, "pending", false, "only operations the server has not acknowledged")
		fs.IntVar(&d.Limit, "limit", 0, "only the most recent N operations (default: all)")
	case "stock":
		fs.StringVar(&d.Filter.SKU, "sku", "", "only this item (SKU or barcode)")
		fs.StringVar(&d.Filter.Location, "location", "", "only this location")
		fs.StringVar(&d.Filter.Batch, "batch", "", "only this batch")
	case "serve":
		m.deviceServeFlags(fs)
	}
	fs.Usage = func() {
		for _, a := range deviceActions {
			if a.name == d.Action {
				fmt.Fprintf(m.Stderr, "Usage: stocksync device %s [flags] %s\n\n%s.\n\nFlags:\n", a.name, a.args, a.summary)
			}
		}
		fs.PrintDefaults()
	}
	words, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	d.Args = words
	if err := m.validateDevice(qty); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return nil
}

// validateDevice checks the whole device command line at once.
func (m *Main) validateDevice(qty optionalInt) error {
	d := &m.device
	var errs []error
	if m.LogFormat != "text" && m.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, got %q", m.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(m.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", m.LogLevel))
	}
	if d.Dir == "" {
		errs = append(errs, errors.New("--dir is empty"))
	}
	wantArgs := 0
	if d.Action == "item" {
		wantArgs = 1
	}
	if len(d.Args) != wantArgs {
		if wantArgs == 0 {
			errs = append(errs, fmt.Errorf("device %s takes no arguments, got %q", d.Action, d.Args))
		} else {
			errs = append(errs, fmt.Errorf("device item takes one SKU or barcode, got %q", d.Args))
		}
	}
	switch d.Action {
	case "enroll":
		if d.Server == "" {
			errs = append(errs, errors.New("enroll needs --server, the server's URL"))
		} else if _, err := client.NormalizeServerURL(d.Server); err != nil {
			errs = append(errs, fmt.Errorf("--server: %w", err))
		}
		if strings.TrimSpace(d.Code) == "" {
			errs = append(errs, errors.New("enroll needs --code, the enrollment code from a manager"))
		}
	case "record":
		if d.Op.Kind == "" {
			errs = append(errs, fmt.Errorf("record needs --kind: one of %s", strings.Join(syncproto.Kinds, ", ")))
		}
		if !qty.set {
			errs = append(errs, errors.New("record needs --qty"))
		}
		d.Op.Qty = qty.v
		if d.OccurredAt != "" {
			t, err := time.Parse(time.RFC3339Nano, d.OccurredAt)
			if err != nil {
				errs = append(errs, fmt.Errorf("--occurred-at %q is not an RFC 3339 time such as 2026-11-27T14:32:00Z", d.OccurredAt))
			}
			d.Op.OccurredAt = t
		}
	case "serve":
		errs = append(errs, d.Serve.validate()...)
	case "ops":
		if d.Limit < 0 {
			errs = append(errs, fmt.Errorf("--limit must not be negative, got %d", d.Limit))
		}
	}
	return errors.Join(errs...)
}

func deviceActionNames() string {
	names := make([]string, len(deviceActions))
	for i, a := range deviceActions {
		names[i] = a.name
	}
	return strings.Join(names, ", ")
}

// optionalInt is an int64 flag that knows whether it was given, since 0 is
// a valid count.
type optionalInt struct {
	v   int64
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return fmt.Sprint(o.v)
}

func (o *optionalInt) Set(s string) error {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	o.v, o.set = v, true
	return nil
}

// runDevice opens the device database and runs the action.
func (m *Main) runDevice(ctx context.Context) error {
	d := &m.device
	file := filepath.Join(d.Dir, deviceDBFile)
	switch d.Action {
	case "enroll", "record", "serve":
		// These may start a device's life: they create the database.
	default:
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no device database in %s: enroll this device first (stocksync device enroll --server URL --code CODE), or point --dir at it", d.Dir)
		}
	}
	opts := client.Options{Logger: m.Logger, AppVersion: deviceAppVersion}
	if d.Action == "serve" {
		opts = deviceServeClientOptions(opts)
	}
	c, err := client.Open(ctx, file, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	switch d.Action {
	case "enroll":
		return m.deviceEnroll(ctx, c)
	case "record":
		return m.deviceRecord(ctx, c)
	case "sync":
		return m.deviceSync(ctx, c)
	case "status":
		return m.deviceStatus(ctx, c)
	case "ops":
		return m.deviceOps(ctx, c)
	case "stock":
		return m.deviceStock(ctx, c)
	case "item":
		return m.deviceItem(ctx, c)
	case "serve":
		return m.deviceServe(ctx, c)
	}
	return usageError("unknown device action %q", d.Action)
}

func (m *Main) deviceEnroll(ctx context.Context, c *client.Client) error {
	d := &m.device
	name := d.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	id, err := c.Enroll(ctx, d.Server, d.Code, name)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if d.JSON {
		return m.printJSON(id)
	}
	fmt.Fprintf(m.Stdout, "enrolled as device %s (%q) in warehouse %s at %s\n", id.DeviceID, id.Name, id.Warehouse, id.Server)
	fmt.Fprintf(m.Stdout, "generated batch codes start with %s\n", id.BatchPrefix)
	fmt.Fprintf(m.Stdout, "next: stocksync device sync --dir %s   (pulls the catalog)\n", d.Dir)
	return nil
}

func (m *Main) deviceRecord(ctx context.Context, c *client.Client) error {
	d := &m.device
	r, err := c.Record(ctx, d.Op)
	if err != nil {
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			if d.JSON {
				_ = m.printJSON(syncproto.ErrorBody{Error: pe})
			}
			return fmt.Errorf("not recorded (%s): %s", pe.Code, pe.Message)
		}
		return err
	}
	if d.JSON {
		return m.printJSON(r)
	}
	op := r.Op
	item := op.SKU
	if item == "" {
		item = "barcode " + op.Barcode
	}
	fmt.Fprintf(m.Stdout, "recorded %s #%d: %d × %s at %s", op.Kind, op.Seq, op.Qty, item, op.Location)
	if op.ToLocation != "" {
		fmt.Fprintf(m.Stdout, " → %s", op.ToLocation)
	}
	fmt.Fprintf(m.Stdout, " (op %s)\n", op.OpID)
	if r.GeneratedBatch {
		fmt.Fprintf(m.Stdout, "batch %s generated on the device: print it on the label\n", r.Batch)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(m.Stdout, "warning: %s\n", w.Message)
	}
	return nil
}

// syncResult is what 'device sync --json' prints.
type syncResult struct {
	Report client.SyncReport `json:"report"`
	Error  *syncError        `json:"error,omitempty"`
}

type syncError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func (m *Main) deviceSync(ctx context.Context, c *client.Client) error {
	d := &m.device
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var opts client.SyncOptions
	var bar *progressBar
	if !d.JSON && st.Pending > progressThreshold && isTerminal(m.Stderr) {
		bar = &progressBar{w: m.Stderr}
		opts.Progress = bar.update
	}
	rep, err := c.Sync(ctx, opts)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		err = explainSyncError(err, rep)
	}
	if d.JSON {
		out := syncResult{Report: rep}
		if err != nil {
			out.Error = &syncError{Code: string(client.ErrorCode(err)), Message: err.Error()}
		}
		if perr := m.printJSON(out); perr != nil && err == nil {
			return perr
		}
		return err
	}
	if rep.Pushed == 0 && err == nil {
		fmt.Fprintf(m.Stdout, "nothing to push\n")
	}
	if rep.Pushed > 0 {
		fmt.Fprintf(m.Stdout, "pushed %d %s: %d applied, %d flagged, %d held, %d rejected", rep.Pushed, plural(rep.Pushed, "operation", "operations"),
			rep.Applied, rep.Flagged, rep.Held, rep.Rejected)
		if rep.Replayed > 0 {
			fmt.Fprintf(m.Stdout, " (%d already on the server)", rep.Replayed)
		}
		fmt.Fprintf(m.Stdout, "\n")
	}
	if rep.Renumbered > 0 {
		fmt.Fprintf(m.Stdout, "restored from a backup: %d pending %s renumbered after the server's acked seq\n", rep.Renumbered, plural(rep.Renumbered, "operation", "operations"))
	}
	if rep.LedgerChanged {
		fmt.Fprintf(m.Stdout, "the server's ledger was replaced: catalog and stock downloaded again, no operation lost\n")
	}
	if err == nil {
		fmt.Fprintf(m.Stdout, "pulled %d %s in %d %s; %d pending\n", rep.Pulled, plural(rep.Pulled, "row", "rows"), rep.Pages, plural(rep.Pages, "page", "pages"), rep.Pending)
	}
	if rep.Problems() > 0 {
		fmt.Fprintf(m.Stdout, "%d need a manager's look: stocksync device ops --problems\n", rep.Problems())
	}
	return err
}

// explainSyncError turns the sync engine's error into what the person at
// the handheld should do, always saying that nothing was lost.
func explainSyncError(err error, rep client.SyncReport) error {
	kept := fmt.Sprintf("%d unsent %s kept on the device", rep.Pending, plural(rep.Pending, "operation is", "operations are"))
	switch code := client.ErrorCode(err); {
	case errors.Is(err, client.ErrNotEnrolled):
		return fmt.Errorf("sync: %w (stocksync device enroll --server URL --code CODE)", err)
	case code == syncproto.CodeUnauthorized:
		return fmt.Errorf("sync refused: the server does not accept this device's token (revoked, or enrolled with another server); %s. Ask a manager. (%w)", kept, err)
	case code == syncproto.CodeUnsupportedProtocol:
		return fmt.Errorf("sync refused: the server does not speak this version of the sync protocol; update stocksync. %s. (%w)", kept, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sync interrupted; %s and go out with the next sync (%w)", kept, err)
	}
	return fmt.Errorf("sync failed; %s and go out with the next sync: %w", kept, err)
}

func (m *Main) deviceStatus(ctx context.Context, c *client.Client) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if m.device.JSON {
		return m.printJSON(st)
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	if st.Enrolled {
		fmt.Fprintf(w, "device:\t%s (%q)\n", st.DeviceID, st.DeviceName)
		fmt.Fprintf(w, "server:\t%s\n", st.Server)
		wh := st.Warehouse
		if st.WarehouseName != "" {
			wh += " (" + st.WarehouseName + ")"
		}
		fmt.Fprintf(w, "warehouse:\t%s\n", wh)
	} else {
		fmt.Fprintf(w, "device:\tnot enrolled (stocksync device enroll --server URL --code CODE)\n")
	}
	pending := fmt.Sprintf("%d %s", st.Pending, plural(st.Pending, "operation", "operations"))
	if st.Pending > 0 {
		pending += fmt.Sprintf(", oldest recorded %s ago", st.OldestUnsent.Round(time.Second))
	}
	fmt.Fprintf(w, "pending:\t%s\n", pending)
	fmt.Fprintf(w, "seq:\tlast %d, acked by the server %d\n", st.LastSeq, st.AckedSeq)
	fmt.Fprintf(w, "problems:\t%d flagged, held or rejected; %d open %s\n", st.Problems, st.OpenReviews, plural(st.OpenReviews, "review", "reviews"))
	fmt.Fprintf(w, "catalog:\t%d items, %d locations, %d balances\n", st.Items, st.Locations, st.Balances)
	last := "never"
	if st.LastSync != nil {
		last = st.LastSync.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "last sync:\t%s\n", last)
	if st.LastError != "" {
		fmt.Fprintf(w, "last error:\t%s\n", st.LastError)
	}
	return w.Flush()
}

func (m *Main) deviceOps(ctx context.Context, c *client.Client) error {
	d := &m.device
	ops, err := c.Ops(ctx, client.OpsFilter{Problems: d.Problems, Pending: d.Pending, Limit: d.Limit})
	if err != nil {
		return err
	}
	if d.JSON {
		if ops == nil {
			ops = []client.OpView{}
		}
		return m.printJSON(ops)
	}
	if len(ops) == 0 {
		switch {
		case d.Problems:
			fmt.Fprintln(m.Stdout, "no problems: nothing came back flagged, held or rejected")
		default:
			fmt.Fprintln(m.Stdout, "no operations")
		}
		return nil
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tKIND\tITEM\tQTY\tLOCATION\tBATCH\tSTATE\tRESULT\tREVIEW")
	for _, v := range ops {
		item := v.Op.SKU
		if item == "" {
			item = v.Op.Barcode
		}
		loc := v.Op.Location
		if v.Op.ToLocation != "" {
			loc += "→" + v.Op.ToLocation
		}
		state := "acked"
		if v.Pending {
			state = "pending"
			if v.SentCount > 0 {
				state = fmt.Sprintf("sent %d×", v.SentCount)
			}
		}
		result := string(v.Status)
		if v.Code != "" {
			result += " " + string(v.Code)
		}
		if v.Message != "" {
			result += ": " + v.Message
		}
		if result == "" {
			result = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Op.Seq, v.Op.Kind, item, v.Op.Qty, loc, orDash(v.Batch), state, result, describeDecisions(v))
	}
	return w.Flush()
}

// describeDecisions says where the reviews of an operation stand.
func describeDecisions(v client.OpView) string {
	if len(v.Decisions) == 0 {
		if len(v.ReviewIDs) > 0 {
			return "open (not pulled yet)"
		}
		return "-"
	}
	var parts []string
	for _, d := range v.Decisions {
		s := d.Kind + " " + d.Status
		if d.Status == syncproto.ReviewResolved {
			s += ": " + d.Action
			if d.DecidedBy != "" {
				s += " by " + d.DecidedBy
			}
			if d.Note != "" {
				s += fmt.Sprintf(" (%s)", d.Note)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m *Main) deviceStock(ctx context.Context, c *client.Client) error {
	rows, err := c.Stock(ctx, m.device.Filter)
	if err != nil {
		return err
	}
	if m.device.JSON {
		return m.printJSON(map[string][]client.StockRow{"stock": rows})
	}
	return m.printStock(rows)
}

func (m *Main) printStock(rows []client.StockRow) error {
	if len(rows) == 0 {
		fmt.Fprintln(m.Stdout, "no stock")
		return nil
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "LOCATION\tSKU\tBATCH\tON HAND\tUNSYNCED\tSTOCK\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%+d\t%d\t\n", r.Location, r.SKU, orDash(r.Batch), r.OnHand, r.Pending, r.Stock)
	}
	return w.Flush()
}

func (m *Main) deviceItem(ctx context.Context, c *client.Client) error {
	it, err := c.Item(ctx, m.device.Args[0])
	if err != nil {
		return err
	}
	if m.device.JSON {
		return m.printJSON(it)
	}
	fmt.Fprintf(m.Stdout, "%s  %s (%s)\n", it.SKU, it.Name, it.Unit)
	if len(it.Barcodes) > 0 {
		fmt.Fprintf(m.Stdout, "barcodes: %s\n", strings.Join(it.Barcodes, ", "))
	}
	var flags []string
	if it.BatchTracked {
		flags = append(flags, "batch-tracked")
	}
	if it.ExpiryTracked {
		flags = append(flags, "expiry-tracked")
	}
	if len(flags) > 0 {
		fmt.Fprintf(m.Stdout, "%s\n", strings.Join(flags, ", "))
	}
	for _, b := range it.Batches {
		fmt.Fprintf(m.Stdout, "batch %s", b.Code)
		if b.Expiry != "" {
			fmt.Fprintf(m.Stdout, " expires %s", b.Expiry)
		}
		fmt.Fprintln(m.Stdout)
	}
	return m.printStock(it.Stock)
}

// isTerminal reports whether w is a character device, such as a terminal,
// where a redrawn progress bar makes sense; a file or pipe gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar redraws one line on a terminal as a sync goes.
type progressBar struct {
	w     io.Writer
	drawn bool
}

const progressWidth = 30

func (b *progressBar) update(p client.Progress) {
	b.drawn = true
	if p.Phase == client.PhasePull {
		fmt.Fprintf(b.w, "\r\033[Kpulled %d rows", p.Pulled)
		return
	}
	filled := 0
	if p.Total > 0 {
		filled = progressWidth * p.Sent / p.Total
	}
	fmt.Fprintf(b.w, "\r\033[Kpushing [%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat("-", progressWidth-filled), p.Sent, p.Total)
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
