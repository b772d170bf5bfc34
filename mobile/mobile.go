// Package mobile is the handheld app's view of package client, shaped for
// gomobile (DESIGN.md section 5): `gomobile bind ./mobile` turns it into an
// Android library (a Java/Kotlin class per type) and an iOS framework
// (Objective-C, usable from Swift). docs/mobile.md says how to bind and use
// it.
//
// Only what gobind can carry crosses the boundary: strings, bools, int and
// int64, structs of those passed by pointer, and errors. So lists are small
// types with Len and Get, times are Unix milliseconds (int64, 0 for "none"),
// durations are whole seconds, and ids are strings.
//
// Every call blocks until it is done: call from a background thread
// (Kotlin Dispatchers.IO, a Swift Task), never from the UI thread. A Device
// is safe for use from several threads at once. Errors carry a stable
// code: their text is "code: message", and ErrorCode and ErrorMessage take
// them apart.
package mobile

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"stocksync/client"
)

// DatabaseFile is the name of the device database inside the directory
// given to Open.
const DatabaseFile = "device.db"

var (
	appVersionMu sync.Mutex
	appVersion   string
)

// SetAppVersion sets the app version that devices opened afterwards report
// to the server, at enrollment and with every sync, so managers can see
// which handhelds need an update. Call it once, before Open.
func SetAppVersion(version string) {
	appVersionMu.Lock()
	defer appVersionMu.Unlock()
	appVersion = version
}

func currentAppVersion() string {
	appVersionMu.Lock()
	defer appVersionMu.Unlock()
	return appVersion
}

// Device is the handheld's store of operations and its connection to the
// server. Open one per app (the database allows one writer) and Close it
// when the app ends. It is safe for concurrent use: a picker may record
// while a sync runs.
type Device struct {
	c *client.Client

	// life is held shared by every call and exclusively by Close, so
	// Close waits for calls in flight (which it cancels first) and later
	// calls fail with CodeClosed instead of using a closed database.
	life   sync.RWMutex
	closed bool
	// ctx is cancelled by Close.
	ctx  context.Context
	stop context.CancelFunc

	// mu guards the fields below.
	mu sync.Mutex
	// runCtx is what Sync and Enroll run under; Cancel cancels it and
	// starts a new one, so only the calls in flight end.
	runCtx    context.Context
	cancelRun context.CancelFunc
	actor     string
}

// Open opens the device database in dir (the file DatabaseFile), creating
// the directory and the database if needed. On Android pass
// context.getFilesDir(), on iOS the Application Support directory. Returns
// CodeInvalid for an empty dir and CodeStorage when the database cannot be
// opened.
func Open(dir string) (*Device, error) {
	return open(dir, client.Options{})
}

// NewDevice is Open. gobind makes it the Java constructor new Device(dir),
// which throws the error undeclared (catch Exception around it), and an
// Objective-C initializer that returns nil without the error, so prefer
// Open from Swift. Without NewDevice gobind would generate a constructor
// without arguments, whose Device has no database (its calls fail with
// CodeClosed).
func NewDevice(dir string) (*Device, error) {
	return Open(dir)
}

// open is Open with client options, for tests.
func open(dir string, opts client.Options) (*Device, error) {
	if dir == "" {
		return nil, newError(CodeInvalid, "open: the directory is empty")
	}
	if opts.AppVersion == "" {
		opts.AppVersion = currentAppVersion()
	}
	ctx, stop := context.WithCancel(context.Background())
	c, err := client.Open(ctx, filepath.Join(dir, DatabaseFile), opts)
	if err != nil {
		stop()
		return nil, wrapError(err, CodeStorage)
	}
	d := &Device{c: c, ctx: ctx, stop: stop}
	d.runCtx, d.cancelRun = context.WithCancel(ctx)
	return d, nil
}

// Close cancels the calls in flight, waits for them, and closes the
// database. The Device cannot be used afterwards (calls fail with
// CodeClosed); a second Close does nothing.
func (d *Device) Close() error {
	if d.stop != nil {
		d.stop()
	}
	d.life.Lock()
	defer d.life.Unlock()
	if d.closed || d.c == nil {
		return nil
	}
	d.closed = true
	if err := d.c.Close(); err != nil {
		return wrapError(err, CodeStorage)
	}
	return nil
}

// begin starts a call: it fails once the Device is closed, and otherwise
// keeps Close waiting until end is called.
func (d *Device) begin() (end func(), err error) {
	d.life.RLock()
	if d.closed || d.c == nil {
		d.life.RUnlock()
		return nil, newError(CodeClosed, "the device is closed")
	}
	return d.life.RUnlock, nil
}

// run returns the context of a Sync or Enroll: cancelled by Cancel, Close,
// or after timeout when it is positive.
func (d *Device) run(timeout time.Duration) (context.Context, context.CancelFunc) {
	d.mu.Lock()
	ctx := d.runCtx
	d.mu.Unlock()
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}

// Cancel ends the Sync and Enroll calls in flight: they return an error
// with CodeCanceled. Nothing recorded is lost; calls made after Cancel
// run normally.
func (d *Device) Cancel() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancelRun == nil {
		return // a Device made without Open runs nothing
	}
	d.cancelRun()
	d.runCtx, d.cancelRun = context.WithCancel(d.ctx)
}

// SetActor sets the staff badge recorded with every following operation
// that names none itself: scan the picker's badge at sign-in, and set ""
// at sign-out.
func (d *Device) SetActor(badge string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actor = badge
}

// Actor returns the badge set with SetActor.
func (d *Device) Actor() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.actor
}

// Enroll exchanges an enrollment code from a manager (the console's
// Devices page shows it with a QR code) for this device's identity, and
// stores it. serverURL is the server's http:// or https:// address; name is
// how managers will see the device. Sync afterwards to download the
// catalog. Operations recorded before enrolling are kept and sent by the
// first Sync.
//
// Returns CodeInvalid for a bad URL or an empty code, CodeAlreadyEnrolled
// when the device already has an identity, CodeUnauthorized when the
// server does not know the code (unknown, used or expired: the message says
// which), CodeRateLimited, CodeNetwork when the server cannot be reached,
// CodeCanceled.
func (d *Device) Enroll(serverURL, code, name string) error {
	end, err := d.begin()
	if err != nil {
		return err
	}
	defer end()
	if _, err := client.NormalizeServerURL(serverURL); err != nil {
		return newError(CodeInvalid, err.Error())
	}
	if strings.TrimSpace(code) == "" {
		return newError(CodeInvalid, "the enrollment code is empty")
	}
	ctx, cancel := d.run(0)
	defer cancel()
	if _, err := d.c.Enroll(ctx, serverURL, code, name); err != nil {
		return wrapCallError(ctx, err, CodeNetwork)
	}
	return nil
}

// Status is what the handheld shows about itself. Times are Unix
// milliseconds, 0 when they never happened.
type Status struct {
	// Enrolled is false until Enroll succeeded; the identity fields are
	// empty until then.
	Enrolled      bool
	DeviceID      string
	DeviceName    string
	Server        string
	Warehouse     string
	WarehouseName string
	// Online is true when the last sync reached the server: it finished,
	// or the server itself answered an error. It is false before the
	// first sync, and after one that could not reach the server or was
	// cancelled.
	Online bool
	// Pending is the operations the server has not acknowledged yet;
	// OldestUnsentSeconds the age of the oldest of them (0 when none).
	Pending             int
	OldestUnsentSeconds int64
	// LastSeq is the seq of the latest recorded operation; AckedSeq the
	// highest the server acknowledged, as last heard.
	LastSeq  int64
	AckedSeq int64
	// Problems is the operations that came back flagged, held or rejected
	// (see Problems); OpenReviews the reviews of them a manager has yet to
	// decide.
	Problems    int
	OpenReviews int
	// Items, Locations and Balances count what was downloaded.
	Items     int
	Locations int
	Balances  int
	// LastSyncMillis is when a sync last finished without error;
	// LastAttemptMillis when one last started.
	LastSyncMillis    int64
	LastAttemptMillis int64
	// LastErrorCode and LastError say why the last sync failed (an error
	// code as in ErrorCode, such as CodeNetwork); both are empty after a
	// sync that succeeded.
	LastErrorCode string
	LastError     string
}

// Status reads the device's state from its database; it never calls the
// server, so it answers at once, offline too. Returns CodeStorage,
// CodeClosed.
func (d *Device) Status() (*Status, error) {
	end, err := d.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	s, err := d.c.Status(d.ctx)
	if err != nil {
		return nil, wrapError(err, CodeStorage)
	}
	return &Status{
		Enrolled: s.Enrolled, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Server: s.Server,
		Warehouse: s.Warehouse, WarehouseName: s.WarehouseName,
		Online:  online(s),
		Pending: s.Pending, OldestUnsentSeconds: s.OldestUnsentSeconds,
		LastSeq: s.LastSeq, AckedSeq: s.AckedSeq,
		Problems: s.Problems, OpenReviews: s.OpenReviews,
		Items: s.Items, Locations: s.Locations, Balances: s.Balances,
		LastSyncMillis: millis(s.LastSync), LastAttemptMillis: millis(s.LastAttempt),
		LastErrorCode: s.LastErrorCode, LastError: s.LastError,
	}, nil
}

// online says whether the last sync reached the server. While a sync runs,
// the last attempt is newer than its outcome, which is still the previous
// sync's.
func online(s client.Status) bool {
	switch s.LastErrorCode {
	case "":
		return s.LastSync != nil
	case CodeNetwork, CodeCanceled, CodeUnavailable:
		return false
	}
	// Any other code is an answer from the server.
	return true
}

// millis is t in Unix milliseconds, 0 for nil.
func millis(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}
