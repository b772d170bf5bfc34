// Package sim is stocksync's deterministic fault simulation (DESIGN.md
// section 8): in one process, several handhelds with their real client
// databases talk to the real server handler over the real ledger store,
// through a transport that drops, duplicates and delays requests and
// answers, while a wrapping Store makes the server fail at every point of a
// merge. One math/rand seed drives every choice, on one goroutine, against a
// virtual clock, so a seed replays exactly and a failing seed is one
// command away from a debugger.
//
// After the faulty phase, faults stop, every device syncs until its outbox
// is empty, and Run checks the invariants of DESIGN.md section 1:
//
//   - every operation a device recorded is in the tenant's op log exactly
//     once, as a canonical entry, and nothing else is (no duplicate, none
//     missing, none from elsewhere); no operation is rejected, since the
//     generator only records what the device accepts. Across a restore
//     from a backup (see below), "recorded" means: every operation the
//     device holds at the end is logged exactly once; every operation
//     recorded after the backup and lost by the restore is logged at most
//     once (it is on the server if a push carried it before the restore,
//     else it is legitimately gone), and counts as the tenant's own, not
//     as missing or foreign. The only non-canonical entries allowed are a
//     restored device's renumbered replays: each names its device's one
//     canonical entry of the same op_id, with its result, and the device
//     holding the operation under the new seq is matched through it;
//   - the result each device stored for an operation is the one the server
//     stored;
//   - ledger.Check finds no discrepancy (balances equal the sum of their
//     movements, positions gap-free, every posted op has movements);
//   - pushing every device's operations again returns, for each, the stored
//     result marked replayed, and adds no op log row, movement or review;
//   - the model (see model.go) agrees: an operation naming an unknown SKU or
//     location is held with unknown_reference (unless a manager had mapped
//     that reference before it arrived: it then posts, where the model
//     cannot place it), every other one is applied or flagged; and in the
//     "simple" workload (receive, pick, transfer,
//     adjust, which is two seeds in three) every balance equals the model's
//     sum of the effects of the posted operations, per (location, SKU,
//     batch). Counts and returns (the "full" workload) are measured against
//     effective times and shipments, which the model does not reproduce;
//     for them the model checks statuses only and the cross-store
//     comparison checks the rest. A manager's decision posts correcting
//     movements the model does not predict, so the exact check leaves out
//     every key a resolution's movements (or a remapped operation's)
//     touched;
//   - every review's state reached the devices holding its operations:
//     after the final pull each such operation lists the review among its
//     decisions, with the server's status and action;
//   - every device's outbox is empty, and the stock it shows after a final
//     pull equals the server's balances of its warehouse;
//   - tenants are isolated: two tenants per seed share warehouse and
//     location codes and one SKU and barcode, and each device's pulled
//     catalog, stock and results are exactly its own tenant's;
//   - Report.Fingerprint (balances, statuses and codes per operation,
//     whether each operation lost by a restore reached the server, review
//     kinds per key with their decisions, faults and events) is the same on PostgreSQL and SQLite
//     for one seed; the tests compare them.
//
// One outcome the model allows on purpose: a return recorded before its
// order's shipment reached the server is held with unknown_order. (An
// operation recorded before its device's clock jumped back lands in the
// future with the offset measured at the push; the ledger posts it at its
// receive time rather than rejecting it, so it is applied like any other.)
//
// Besides the faults, the scheduler has two events. A device is backed
// up (its database files copied while it is closed, as the crash path
// closes it) and later restored from that copy and reopened: it forgets
// what it recorded since, its seq falls behind the server's acked seq, and
// its next push meets seq_behind, renumbers its pending operations and
// re-pushes some the server already has. And a manager decides a random
// open review of a tenant through ledger.ResolveReview, with one of its
// suggested resolutions (over the fault store, so a decision can fail
// like any write; one refused without an injected fault is a problem).
//
// A device crash "while recording" is simulated around Record, not inside
// it: a Record whose context is already canceled must leave nothing behind,
// and one that returned must survive closing and reopening the database.
// Crashes inside a sync are real: the transport cancels the sync after the
// server handled a request and before the device stored the answer.
//
// Reproduce a seed with
//
//	go test ./sim -run 'TestSimulation$' -sim.seed=N -v
//
// or 'stocksync simulate --seeds 1 --seed N'.
package sim
