package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestOutputKeepsPermissions: -o replaces a file and keeps its mode; a new
// file gets 0644 less the umask.
func TestOutputKeepsPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.ps1")
	if err := os.WriteFile(existing, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o640); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "new.ps1")
	for _, path := range []string{existing, fresh} {
		if err := writeOutput(path, []byte("new"), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]os.FileMode{existing: 0o640, fresh: 0o644 &^ probeUmask(t, dir)} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
}

// probeUmask reads the process's umask from a file os.OpenFile creates.
func probeUmask(t *testing.T, dir string) os.FileMode {
	probe := filepath.Join(dir, "umask-probe")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY, 0o777)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Stat()
	f.Close()
	os.Remove(probe)
	return 0o777 &^ info.Mode().Perm()
}

// TestFactsFileSizeIsBounded: a facts file over 1 MiB is refused before it
// is read whole, a stream that never ends after 1 MiB.
func TestFactsFileSizeIsBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readLimited(big, nil, 1<<20, "a facts file"); err == nil || !strings.Contains(err.Error(), "is 2097152 bytes, over the 1048576 bytes a facts file may have") {
		t.Errorf("a 2 MiB file: %v", err)
	}
	if _, err := readLimited("-", endless{}, 1<<20, "a facts file"); err == nil || !strings.Contains(err.Error(), "holds over the 1048576 bytes") {
		t.Errorf("an endless stream: %v", err)
	}
}

// endless is a reader that never ends, like /dev/zero.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestBatchHonoursUmask: a batch's folder and lists get the modes a shell
// would give them, the umask taken off.
func TestBatchHonoursUmask(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := t.TempDir()
	mask := probeUmask(t, dir)
	inventory := filepath.Join(dir, "servers.csv")
	if err := os.WriteFile(inventory, []byte("server_fqdn,edition\nse01.contoso.com,standard\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if r := sfbpatch("batch", "--inventory", inventory, "--out-dir", out); r.code != exitOK {
		t.Fatalf("batch: %+v", r)
	}
	for path, want := range map[string]os.FileMode{out: 0o777 &^ mask, filepath.Join(out, "SHA256SUMS"): 0o666 &^ mask, filepath.Join(out, "window.md"): 0o666 &^ mask} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
}
