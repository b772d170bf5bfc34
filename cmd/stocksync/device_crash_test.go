package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stocksync/client"
)

// recorderEnv names the device database a re-executed test binary records
// into, as TestRecorderProcess; see TestDeviceKilledWhileRecording.
const recorderEnv = "STOCKSYNC_TEST_RECORDER_DB"

// TestRecorderProcess is not a test on its own: TestDeviceKilledWhileRecording
// runs the test binary again with recorderEnv set, and this function then
// records operations as fast as it can, printing "ok <seq> <op_id>" after
// each Record returned (the moment a picker's scan is confirmed), until it
// is killed.
func TestRecorderProcess(t *testing.T) {
	path := os.Getenv(recorderEnv)
	if path == "" {
		t.Skip("a helper process for TestDeviceKilledWhileRecording")
	}
	ctx := context.Background()
	dev, err := client.Open(ctx, path, client.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		rec, err := dev.Record(ctx, client.OpInput{Kind: "receive", SKU: "BOLT", Qty: 1, Location: "A-01", Note: strconv.Itoa(i)})
		if err != nil {
			fmt.Println("record:", err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "ok %d %s\n", rec.Op.Seq, rec.Op.OpID)
		_ = out.Flush()
	}
}

// TestDeviceKilledWhileRecording kills a process recording on a handheld's
// database with SIGKILL at random moments, twenty times, and checks after
// each kill that every scan it had confirmed is there under its seq, that
// seqs stay contiguous, and that SQLite's integrity check passes: a crash
// loses nothing that was acknowledged to the picker (DESIGN.md section 5).
func TestDeviceKilledWhileRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STOCKSYNC_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (STOCKSYNC_CRASH_SEED=%d to replay the kill plan)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "device.db")
	confirmed := map[int64]string{} // seq → op_id, as the picker was told
	var landedMidStream int

	for round := range 20 {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRecorderProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), recorderEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of confirmed scans, so the kill lands
		// while the next Record's transaction is under way.
		want := 1 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		got := 0
		for got < want && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ok" {
				t.Fatalf("round %d: the recorder said %q", round, sc.Text())
			}
			seq, _ := strconv.ParseInt(f[1], 10, 64)
			confirmed[seq] = f[2]
			got++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: SIGKILL: %v", round, err)
		}
		// What it printed after our count but before dying was confirmed
		// too.
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ok" {
				seq, _ := strconv.ParseInt(f[1], 10, 64)
				confirmed[seq] = f[2]
				landedMidStream++
			}
		}
		_ = cmd.Wait() // "signal: killed"

		sqliteIntegrity(t, path)
		dev, err := client.Open(context.Background(), path, client.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		ops, err := dev.Ops(context.Background(), client.OpsFilter{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]string{}
		for i, v := range ops {
			if v.Op.Seq != int64(i+1) {
				t.Fatalf("round %d: seqs not contiguous: op %d has seq %d", round, i, v.Op.Seq)
			}
			have[v.Op.Seq] = v.Op.OpID.String()
		}
		for seq, id := range confirmed {
			if have[seq] != id {
				t.Fatalf("round %d: confirmed scan seq %d (%s) is %q after the kill", round, seq, id, have[seq])
			}
		}
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("20 kills, %d scans confirmed and all kept (%d printed between the kill and the process's death)", len(confirmed), landedMidStream)
	if len(confirmed) < 20 {
		t.Fatalf("only %d scans confirmed in 20 rounds; the recorder is not recording", len(confirmed))
	}
}
