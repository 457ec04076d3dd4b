package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		start := time.Now()
		if code := run([]string{"batch", "--inventory", inventory, "--out-dir", out}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("batch: exit code %d", code)
		}
		batch += time.Since(start)
		b.StopTimer()
		start = time.Now()
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
