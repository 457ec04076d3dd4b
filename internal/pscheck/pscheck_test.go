package pscheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sample has a BOM, a character outside the BMP (two UTF-16 units, one
// column for psparse) and nested script blocks.
const sample = "\uFEFF$Name = '\U0001F600 O''Brien'\r\n" +
	"Invoke-Outer -Action {\r\n" +
	"    Invoke-Inner -ArgumentList @($Name) -ScriptBlock {\r\n" +
	"        param($Name)\r\n" +
	"        Get-Item -LiteralPath $Name\r\n" +
	"    } | Out-Null\r\n" +
	"} -Verify { 'done' }\r\n"

func parseOne(t *testing.T, c *Checker, name, src string) Script {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	scripts, err := c.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return scripts[0]
}

func TestSpansAndEnclosing(t *testing.T) {
	s := parseOne(t, New(t), "sample.ps1", sample)
	if len(s.Errors) > 0 {
		t.Fatalf("syntax errors:\n%s", s.ErrorText())
	}
	index := map[string]int{}
	for i, c := range s.Commands {
		index[c.Name] = i
		for j, e := range c.Elements {
			if got := s.Text(c.ElementSpans[j]); got != e {
				t.Errorf("%s element %d: span holds %q, want %q", c.Name, j, got, e)
			}
		}
	}
	for _, name := range []string{"Invoke-Outer", "Invoke-Inner", "Get-Item", "Out-Null"} {
		if _, ok := index[name]; !ok {
			t.Fatalf("no command %s in %+v", name, s.Commands)
		}
	}
	if got := s.Text(s.Commands[index["Get-Item"]].Span); got != "Get-Item -LiteralPath $Name" {
		t.Errorf("Get-Item span holds %q", got)
	}

	// Get-Item is in Invoke-Inner's -ScriptBlock, which is in Invoke-Outer's -Action.
	for _, link := range []struct{ child, parent, param string }{
		{"Get-Item", "Invoke-Inner", "-ScriptBlock"},
		{"Invoke-Inner", "Invoke-Outer", "-Action"},
		{"Out-Null", "Invoke-Outer", "-Action"},
	} {
		p, e, ok := s.Enclosing(index[link.child])
		if !ok || p != index[link.parent] || s.Commands[p].Elements[e-1] != link.param {
			t.Errorf("%s: enclosing = %d, %d, %v; want %s %s", link.child, p, e, ok, link.parent, link.param)
		}
	}
	if _, _, ok := s.Enclosing(index["Invoke-Outer"]); ok {
		t.Error("Invoke-Outer is at the top level, but Enclosing found a parent")
	}

	if len(s.Strings) == 0 || s.Strings[0].Value == nil {
		t.Fatalf("no verbatim string: %+v", s.Strings)
	}
	first := s.Strings[0]
	if *first.Value != "\U0001F600 O'Brien" || s.Text(first.Span) != first.Raw {
		t.Errorf("first string: value %q, span %q, raw %q", *first.Value, s.Text(first.Span), first.Raw)
	}
	if got := s.LineBefore(first.Span.Start); got != "$Name = " {
		t.Errorf("LineBefore = %q, want the assignment without the BOM", got)
	}
	if got, ok := s.StringAt(first.Span.Start); !ok || got.Raw != first.Raw {
		t.Errorf("StringAt = %+v, %v", got, ok)
	}
}

func TestErrorTextNamesFileLineAndSource(t *testing.T) {
	s := parseOne(t, New(t), "broken.ps1", "function F {\r\n    if ($true) {\r\n        'x'\r\n}\r\n")
	if len(s.Errors) == 0 {
		t.Fatal("an unclosed brace parsed without errors")
	}
	text := s.ErrorText()
	if !strings.Contains(text, s.File+":") || !strings.Contains(text, "MISSING") {
		t.Errorf("ErrorText does not name the file and the missing token:\n%s", text)
	}
}

func TestParseBatchesKeepOrder(t *testing.T) {
	c := New(t)
	dir := t.TempDir()
	// Long names force several psparse runs.
	var files []string
	size := 0
	for i := range 100 {
		name := filepath.Join(dir, fmt.Sprintf("%s%03d.ps1", strings.Repeat("x", 200), i))
		if err := os.WriteFile(name, []byte(fmt.Sprintf("Write-Host %d\r\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
		size += len(name) + 1
	}
	if size <= maxArgBytes {
		t.Fatalf("the names take %d bytes, too few for two runs", size)
	}
	scripts, err := c.Parse(files...)
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) != len(files) {
		t.Fatalf("%d scripts for %d files", len(scripts), len(files))
	}
	for i, s := range scripts {
		if s.File != files[i] || len(s.Commands) != 1 || s.Commands[0].Elements[0] != fmt.Sprint(i) {
			t.Errorf("script %d: %s %+v", i, s.File, s.Commands)
		}
	}
}

func TestFindWithoutNodeSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Find()
	if err == nil || !strings.Contains(err.Error(), "Node.js") || !strings.Contains(err.Error(), installHint) {
		t.Errorf("Find without node: %v", err)
	}
}

func TestFindWithoutPackagesSaysHowToInstall(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node in PATH, to get past that check")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "tools", "psparse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		filepath.Join(root, "go.mod"):    "module example.com/m\n",
		filepath.Join(dir, "psparse.js"): "",
	} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	_, err := Find()
	if err == nil || !strings.Contains(err.Error(), "node_modules") || !strings.Contains(err.Error(), installHint) {
		t.Errorf("Find without node_modules: %v", err)
	}
}
