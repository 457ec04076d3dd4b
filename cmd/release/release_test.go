package main

import (
	"bytes"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReleaseIsReproducible builds the release of the last commit twice
// and compares every byte: the source bundle and the binaries, which are
// built from that bundle with no network and an empty module cache. The
// Windows binary is a PE32+ executable for x64; the binary of this machine
// names its commit. Outside a git checkout (a source bundle) it skips.
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the release builds every target twice")
	}
	root, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	commit, err := gitOutput(root, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	first, err := buildRelease(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	second, err := buildRelease(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := sameFiles(first, second); err != nil {
		t.Fatalf("two builds of one commit: %v", err)
	}
	entries, err := os.ReadDir(first)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(targets) + 1; len(entries) != want {
		t.Errorf("%d files, want %d binaries and the source bundle", len(entries), want)
	}
	exe, err := pe.Open(filepath.Join(first, binaryName("windows", "amd64")))
	if err != nil {
		t.Fatalf("the windows/amd64 binary: %v", err)
	}
	defer exe.Close()
	if _, ok := exe.OptionalHeader.(*pe.OptionalHeader64); !ok || exe.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("the windows/amd64 binary is not PE32+ for x64: machine %#x", exe.Machine)
	}
	own := filepath.Join(first, binaryName(runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(own); err != nil {
		t.Skipf("no release binary for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	out, err := exec.Command(own, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", own, err)
	}
	if !bytes.Contains(out, []byte("commit: "+commit+" (a release")) || !strings.HasPrefix(string(out), "sfbpatch ") {
		t.Errorf("%s version prints:\n%s", own, out)
	}
}

// TestBundleIsStable: the bundle's tar entries carry the commit's time,
// owner 0 and fixed modes, so that it depends on the files alone.
func TestBundleIsStable(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "x", "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "x", "d", "f"), []byte("f"), 0o600); err != nil {
		t.Fatal(err)
	}
	one, two := filepath.Join(t.TempDir(), "one.tar.gz"), filepath.Join(t.TempDir(), "two.tar.gz")
	if err := writeBundle(one, src, "x", testTime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "x", "d", "f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeBundle(two, src, "x", testTime); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(two)
	if !bytes.Equal(a, b) {
		t.Errorf("a file's own mode changed the bundle")
	}
	list, err := exec.Command("tar", "-tvzf", one).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x/", "x/d/", "x/d/f", "2026-11-30"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("the bundle lists no %q:\n%s", want, list)
		}
	}
}

// testTime is a commit time for the bundle tests.
var testTime = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
