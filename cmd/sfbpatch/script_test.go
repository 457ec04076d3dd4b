package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/text/encoding/unicode"
)

// TestMain makes sfbpatch a command of the CLI scripts: the test binary
// runs it when started under that name.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sfbpatch": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// sfbpatch-hold-write writes its pid to the file named by its second
		// argument, then replaces the file named by its first argument with
		// a writer that never ends: what an interrupt in the middle of -o
		// finds.
		"sfbpatch-hold-write": func() {
			if err := os.WriteFile(os.Args[2], []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				os.Exit(2)
			}
			err := replaceFile(os.Args[1], nil, func(w io.Writer) error {
				select {}
			})
			if err != nil {
				os.Exit(2)
			}
		},
	})
}

// TestCLI runs the scripts of testdata/cli: each command line of sfbpatch
// with its exact standard output, standard error and exit code.
// UPDATE_SCRIPTS=1 rewrites the expected outputs in the scripts (read the
// diff before committing, as for golden files).
func TestCLI(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/cli",
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
		Setup: func(env *testscript.Env) error {
			facts, err := filepath.Abs("../../testdata/facts")
			env.Setenv("FACTS", facts)
			if err != nil {
				return err
			}
			topology, err := filepath.Abs("../../testdata/topology")
			env.Setenv("TOPOLOGY", topology)
			return err
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"utf16le":  utf16le,
			"filetype": filetype,
			"waitglob": waitglob,
			"noglob":   noglob,
			"sigterm":  sigterm,
			"edit":     edit,
			"crlf2lf":  crlf2lf,
		},
	})
}

// utf16le [-nobom] SRC DST writes SRC as UTF-16 LE with a byte order
// mark, as Windows PowerShell 5.1's > does, or without one.
func utf16le(ts *testscript.TestScript, neg bool, args []string) {
	bom := unicode.UseBOM
	if len(args) == 3 && args[0] == "-nobom" {
		bom, args = unicode.IgnoreBOM, args[1:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: utf16le [-nobom] SRC DST")
	}
	text, err := unicode.UTF16(unicode.LittleEndian, bom).NewEncoder().Bytes([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), text, 0o644))
}

// filetype PATH KIND checks what a path is: file, chardevice, symlink.
func filetype(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filetype PATH file|chardevice|symlink")
	}
	info, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	var kind string
	switch mode := info.Mode(); {
	case mode.IsRegular():
		kind = "file"
	case mode&os.ModeCharDevice != 0:
		kind = "chardevice"
	case mode&os.ModeSymlink != 0:
		kind = "symlink"
	default:
		kind = mode.Type().String()
	}
	if (kind == args[1]) == neg {
		ts.Fatalf("%s is a %s", args[0], kind)
	}
}

// waitglob PATTERN waits up to 10 seconds for a file to match.
func waitglob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitglob PATTERN")
	}
	for range 1000 {
		if m, _ := filepath.Glob(ts.MkAbs(args[0])); len(m) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("no file matches %s", args[0])
}

// noglob PATTERN checks that no file matches.
func noglob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: noglob PATTERN")
	}
	if m, _ := filepath.Glob(ts.MkAbs(args[0])); len(m) > 0 {
		ts.Fatalf("%s matches %s", args[0], strings.Join(m, ", "))
	}
}

// sigterm PIDFILE sends SIGTERM to the process whose pid the file holds.
func sigterm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sigterm PIDFILE")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace([]byte(ts.ReadFile(args[0])))))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, syscall.SIGTERM))
}

// edit FILE OLD NEW replaces the first OLD in FILE with NEW; both are read
// with Go's escapes (\x1b, \r, \ufeff), so a script can write any byte.
func edit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: edit FILE OLD NEW")
	}
	unescape := func(s string) string {
		v, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
		ts.Check(err)
		return v
	}
	old, replacement := unescape(args[1]), unescape(args[2])
	data := ts.ReadFile(args[0])
	if !strings.Contains(data, old) {
		ts.Fatalf("%s does not hold %q", args[0], old)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Replace(data, old, replacement, 1)), 0o644))
}

// crlf2lf FILE turns CRLF line endings into LF, as some mail systems do.
func crlf2lf(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: crlf2lf FILE")
	}
	data := strings.ReplaceAll(ts.ReadFile(args[0]), "\r\n", "\n")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(data), 0o644))
}
