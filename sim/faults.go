package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Fault kinds, as counted in Report.Faults.
const (
	// Transport.
	FaultDropRequest   = "net_drop_request"   // never delivered
	FaultDropResponse  = "net_drop_response"  // handled, answer lost
	FaultDuplicate     = "net_duplicate"      // delivered twice
	FaultDelay         = "net_delay"          // answer lost, delivered later out of order
	FaultDelayedArrive = "net_delayed_arrive" // a delayed request arriving
	FaultDeviceCrashIO = "device_crash_sync"  // device died while a request was in flight
	// Server store.
	FaultBeforeBegin    = "store_crash_before_begin"
	FaultAfterMovements = "store_crash_after_movements"
	FaultAfterBalances  = "store_crash_after_balances"
	FaultBeforeCommit   = "store_crash_before_commit"
	FaultAfterCommit    = "store_crash_after_commit"
	FaultSerialization  = "store_err_serialization"
	FaultBusy           = "store_err_busy"
	FaultDiskFull       = "store_err_disk_full"
	// Device.
	FaultDeviceCrash       = "device_crash"
	FaultRecordCrashBefore = "device_crash_before_record"
	FaultRecordCrashAfter  = "device_crash_after_record"
	FaultClockJump         = "device_clock_jump_back"
	FaultBackup            = "device_backup"              // database files copied while closed
	FaultRestore           = "device_restore_from_backup" // a backup copied back over the device
	FaultRestoreLost       = "device_ops_lost_by_restore" // operations recorded after the backup
	// Events that are not faults, counted alongside them.
	EventDecision         = "manager_resolve"                // a manager decided an open review
	EventRenumberedReplay = "server_renumbered_replay"       // op log entries of operations a restored device renumbered
	EventLostOnServer     = "device_ops_lost_reached_server" // operations lost by a restore that the server holds
	// An operation recorded before its device's clock jumped back, posted
	// at its receive time (it used to be rejected as invalid_time).
	EventPostedAtReceive = "ledger_posted_at_receive_time"
)

// Faults counts injected faults by kind.
type Faults map[string]int

// Add adds o's counts to f.
func (f Faults) Add(o Faults) {
	for k, v := range o {
		f[k] += v
	}
}

// Total is the number of faults of every kind.
func (f Faults) Total() int {
	n := 0
	for _, v := range f {
		n += v
	}
	return n
}

// String lists the counts by kind, sorted by kind.
func (f Faults) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(f)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, f[k])
	}
	return b.String()
}
