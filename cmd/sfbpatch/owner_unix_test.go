//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputKeepsOwner: -o over a file owned by another user keeps that
// owner and group (root may give them; another user keeps its own file).
func TestOutputKeepsOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("giving a file to another owner takes root on Unix")
	}
	path := filepath.Join(t.TempDir(), "patch.ps1")
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if err := writeOutput(path, []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if st.Uid != 4321 || st.Gid != 4322 || info.Mode().Perm() != 0o640 {
		t.Errorf("owner %d:%d, mode %v; want 4321:4322, -rw-r-----", st.Uid, st.Gid, info.Mode().Perm())
	}
}
