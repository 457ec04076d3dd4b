package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBatch10000 runs a batch of 10,000 servers end to end (reading
// the inventory, checking every row, writing each script, SHA256SUMS and
// window.md), and reports its time against copying its own output folder
// with cp -r, the cost of writing the bytes alone:
//
//	go test ./cmd/sfbpatch/ -run '^$' -bench Batch10000 -benchtime 1x
func BenchmarkBatch10000(b *testing.B) {
	dir := b.TempDir()
	inventory := filepath.Join(dir, "servers.csv")
	var csv strings.Builder
	csv.WriteString("server_fqdn,product,edition,sql_server_fqdn,collocated_stores\n")
	products := []string{"lync2013", "sfb2015", "sfb2019"}
	for i := range 10000 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&csv, "se%05d.contoso.com,%s,standard,,\n", i, products[(i/3)%len(products)])
		case 1:
			fmt.Fprintf(&csv, "be%05d.contoso.com,%s,enterprise,sql%05d.contoso.com,no\n", i, products[(i/3)%len(products)], i)
		default:
			fmt.Fprintf(&csv, "be%05d.contoso.com,%s,enterprise,sql%05d.contoso.com,yes\n", i, products[(i/3)%len(products)], i)
		}
	}
	if err := os.WriteFile(inventory, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	var batch, copying time.Duration
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		batch += runBatch(b, inventory, out)
		b.StopTimer()
		start := time.Now()
		if err := exec.Command("cp", "-r", out, out+"-copy").Run(); err != nil {
			b.Fatal(err)
		}
		copying += time.Since(start)
		os.RemoveAll(out)
		os.RemoveAll(out + "-copy")
		b.StartTimer()
	}
	b.ReportMetric(float64(batch)/float64(copying), "x-cp-r")
}

// BenchmarkGenerateProcess runs sfbpatch generate as a whole process, as an
// administrator does, for one script, against cp of that script's bytes
// (the x-cp figure; the target is at most 5).
func BenchmarkGenerateProcess(b *testing.B) {
	dir := b.TempDir()
	binary := filepath.Join(dir, "sfbpatch")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	script := filepath.Join(dir, "patch.ps1")
	var generate, copying time.Duration
	for b.Loop() {
		os.Remove(script)
		start := time.Now()
		if out, err := exec.Command(binary, "generate", "--product", "sfb2019", "--edition", "enterprise",
			"--sql-server-fqdn", "sql01.contoso.com", "--collocated-stores", "-o", script).CombinedOutput(); err != nil {
			b.Fatalf("generate: %v\n%s", err, out)
		}
		generate += time.Since(start)
		b.StopTimer()
		start = time.Now()
		if err := exec.Command("cp", script, script+".copy").Run(); err != nil {
			b.Fatal(err)
		}
		copying += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(generate)/float64(copying), "x-cp")
}

// TestBatchInterrupted: SIGTERM in the middle of a big batch leaves
// nothing behind (no temporary folder, no output folder); a later batch
// removes what an older interrupted one left and says so.
func TestBatchInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is Unix")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "sfbpatch")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var csv strings.Builder
	csv.WriteString("server_fqdn,edition\n")
	for i := range 10000 {
		fmt.Fprintf(&csv, "se%05d.contoso.com,standard\n", i)
	}
	inventory := filepath.Join(dir, "servers.csv")
	if err := os.WriteFile(inventory, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "batch", "--inventory", inventory, "--out-dir", filepath.Join(work, "out"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once the batch writes into its temporary folder, TERM it.
	deadline := time.Now().Add(time.Minute)
	for {
		if files, _ := filepath.Glob(filepath.Join(work, ".sfbpatch-batch-*", "*.ps1")); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the batch wrote no script within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+15 {
		t.Errorf("the batch ended with %v, want exit code 143", err)
	}
	if left, _ := os.ReadDir(work); len(left) > 0 {
		t.Errorf("an interrupted batch left %v", left)
	}
	// What an older interrupted batch left is removed, and named.
	old := filepath.Join(work, ".sfbpatch-batch-123")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-2 * staleAfter)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if got := removeStale(filepath.Join(work, "out"), time.Now().Add(-staleAfter)); len(got) != 1 || got[0] != old {
		t.Errorf("removed %v, want %s", got, old)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there: %v", old, err)
	}
}

// BenchmarkVerifyFolder writes a batch of 2,000 servers, then verifies the
// folder, and reports verify's time against the batch's (the x-batch
// figure; the target is at most 3):
//
//	go test ./cmd/sfbpatch/ -run '^$' -bench VerifyFolder -benchtime 3x
func BenchmarkVerifyFolder(b *testing.B) {
	dir := b.TempDir()
	inventory := filepath.Join(dir, "servers.csv")
	var csv strings.Builder
	csv.WriteString("server_fqdn,product,edition,sql_server_fqdn,collocated_stores\n")
	for i := range 2000 {
		if i%2 == 0 {
			fmt.Fprintf(&csv, "se%05d.contoso.com,sfb2019,standard,,\n", i)
		} else {
			fmt.Fprintf(&csv, "be%05d.contoso.com,sfb2015,enterprise,sql%05d.contoso.com,yes\n", i, i)
		}
	}
	if err := os.WriteFile(inventory, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	var batch, verify time.Duration
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		batch += runBatch(b, inventory, out)
		start := time.Now()
		if code := run([]string{"verify", out}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("verify: exit code %d", code)
		}
		verify += time.Since(start)
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.ReportMetric(float64(verify)/float64(batch), "x-batch")
}

// runBatch writes the batch of an inventory to out and returns how long it
// took.
func runBatch(b *testing.B, inventory, out string) time.Duration {
	b.Helper()
	start := time.Now()
	if code := run([]string{"batch", "--inventory", inventory, "--out-dir", out}, nil, io.Discard, io.Discard); code != 0 {
		b.Fatalf("batch: exit code %d", code)
	}
	return time.Since(start)
}
