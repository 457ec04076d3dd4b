// Package pscheck runs tools/psparse, the project's independent PowerShell
// syntax oracle, and decodes its report. There is no PowerShell on the
// build machines: psparse parses with the tree-sitter PowerShell grammar
// under Node.js, so tests can look at a generated script's syntax tree
// (its errors, commands and string literals) instead of searching its text.
package pscheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// SkipEnv, set to 1, is the only way to run the tests without Node.js:
// the tests that need psparse then skip and say why. CI never sets it.
const SkipEnv = "SFBPATCH_SKIP_PSPARSE"

const installHint = "run: (cd tools/psparse && npm ci)"

// Report is what psparse found in one file. Lines and columns are 1-based:
// lines are split on LF, columns count code points, a BOM is not counted.
// The Span fields are byte offsets into Script.Source, which Parse fills
// in; psparse does not report them.
type Report struct {
	File        string        `json:"file"`
	Errors      []SyntaxError `json:"errors"`
	Commands    []Command     `json:"commands"`
	Strings     []String      `json:"strings"`
	NodeTypes   []string      `json:"nodeTypes"`
	MemberCalls []MemberCall  `json:"memberCalls"`
	Requires    []string      `json:"requires"`
	Functions   []Function    `json:"functions"`
	ParamBlocks []ParamBlock  `json:"paramBlocks"`
	Assignments []Assignment  `json:"assignments"`
}

// Function is a function definition. Function is the function it is
// defined in ("" at the top), ScriptBlockDepth the script blocks around it
// within that function (1 for one defined in a script block such as the
// child program).
type Function struct {
	Name             string `json:"name"`
	Line             int    `json:"line"`
	Column           int    `json:"column"`
	Function         string `json:"function"`
	ScriptBlockDepth int    `json:"scriptblockDepth"`
}

// ParamBlock is a param( ) block: the script's, a function's or a script
// block's, placed as Function places a definition.
type ParamBlock struct {
	Line             int         `json:"line"`
	Column           int         `json:"column"`
	Function         string      `json:"function"`
	ScriptBlockDepth int         `json:"scriptblockDepth"`
	Params           []Parameter `json:"params"`
}

// Parameter is one parameter of a param block: its variable ($Name), its
// type literal ("[switch]", or ""), and its default value's source text.
type Parameter struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Default *string `json:"default"`
	// DefaultAt is where the default begins; DefaultSpan covers it.
	DefaultAt   *Position `json:"defaultAt"`
	DefaultSpan Span      `json:"-"`
}

// Assignment is an assignment statement: the variable as written
// ($script:Name), the operator (=, +=), the value's source text.
type Assignment struct {
	Variable         string   `json:"variable"`
	Operator         string   `json:"operator"`
	Value            string   `json:"value"`
	Line             int      `json:"line"`
	Column           int      `json:"column"`
	ValueAt          Position `json:"valueAt"`
	Function         string   `json:"function"`
	ScriptBlockDepth int      `json:"scriptblockDepth"`
	// ValueSpan covers Value.
	ValueSpan Span `json:"-"`
}

// Name is the assigned variable's name without $ and scope (script:Name
// is Name), or "" for an assignment to something else (an element, a
// property).
func (a Assignment) Name() string {
	v, ok := strings.CutPrefix(a.Variable, "$")
	if !ok {
		return ""
	}
	if _, name, scoped := strings.Cut(v, ":"); scoped {
		v = name
	}
	for _, r := range v {
		if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return ""
		}
	}
	return v
}

// Position is a 1-based line and column, as psparse reports them.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// SyntaxError is an ERROR node (text the grammar could not place) or a
// MISSING node (a token the grammar expected, such as a closing brace).
type SyntaxError struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
}

// Command is a command node, in source order. Elements are the exact
// source text of each argument (-Name:value counts as one).
type Command struct {
	Name     string   `json:"name"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Elements []string `json:"elements"`
	// Function is the innermost function the command is written in; ""
	// for the script's main procedure.
	Function string `json:"function"`
	// ScriptBlockDepth counts the script blocks around the command,
	// within its function.
	ScriptBlockDepth int `json:"scriptblockDepth"`

	// Span covers the command from its first character (an invocation
	// operator such as &, or the name) to the end of its last element.
	Span Span `json:"-"`
	// ElementSpans are the spans of Elements, one each.
	ElementSpans []Span `json:"-"`
}

// String is a string literal. Kind is verbatim, expandable, verbatim-here
// or expandable-here. Value is nil for expandable strings, and for a
// verbatim string that PowerShell would end somewhere else than the
// grammar does (an unpaired curly quote inside it).
type String struct {
	Value  *string `json:"value"`
	Raw    string  `json:"raw"`
	Line   int     `json:"line"`
	Column int     `json:"column"`
	Kind   string  `json:"kind"`

	// Span covers Raw, quotes included.
	Span Span `json:"-"`
}

// MemberCall is a method call such as $x.Where(...) or [T]::new().
type MemberCall struct {
	Name   string `json:"name"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Span is a half-open range of byte offsets into Script.Source.
type Span struct {
	Start, End int
}

// Contains reports whether inner lies within s.
func (s Span) Contains(inner Span) bool {
	return s.Start <= inner.Start && inner.End <= s.End
}

// Script is a parsed file: psparse's report and the bytes it read.
type Script struct {
	Report
	Source []byte
}

// Checker runs psparse with Node.js.
type Checker struct {
	node    string
	psparse string
}

// Find locates node in PATH and tools/psparse in the module that holds
// the working directory (go test runs in the package's folder), and
// checks that the npm packages are installed.
func Find() (*Checker, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("pscheck: Node.js (node) is not in PATH: install Node.js 20 or later, then %s; or set %s=1 to skip these tests", installHint, SkipEnv)
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "tools", "psparse")
	for _, need := range []string{
		filepath.Join(dir, "psparse.js"),
		filepath.Join(dir, "node_modules", "web-tree-sitter", "package.json"),
		filepath.Join(dir, "node_modules", "tree-sitter-powershell", "tree-sitter-powershell.wasm"),
	} {
		if _, err := os.Stat(need); err != nil {
			return nil, fmt.Errorf("pscheck: %s is missing: %s", need, installHint)
		}
	}
	return &Checker{node: node, psparse: filepath.Join(dir, "psparse.js")}, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pscheck: no go.mod above the working directory")
		}
		dir = parent
	}
}

// New returns a Checker for a test. Without Node.js or the npm packages
// the test fails, saying how to install them; it skips only when SkipEnv
// is 1, so a missing checker never passes unnoticed.
func New(t testing.TB) *Checker {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s=1: PowerShell syntax checks skipped", SkipEnv)
	}
	c, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// maxArgBytes keeps one psparse run's command line well under the 32 KiB
// that Windows allows; many files per run keep the tests fast (Node.js
// and the grammar load once per run).
const maxArgBytes = 24 << 10

// Parse parses the files and returns one Script per file, in order.
// Syntax errors are in the reports, not in the error, which is for
// psparse failing to run or to read a file.
func (c *Checker) Parse(files ...string) ([]Script, error) {
	scripts := make([]Script, 0, len(files))
	for len(files) > 0 {
		n, size := 0, 0
		for n < len(files) && (n == 0 || size+len(files[n])+1 <= maxArgBytes) {
			size += len(files[n]) + 1
			n++
		}
		batch, err := c.run(files[:n])
		if err != nil {
			return nil, err
		}
		scripts = append(scripts, batch...)
		files = files[n:]
	}
	return scripts, nil
}

func (c *Checker) run(files []string) ([]Script, error) {
	cmd := exec.Command(c.node, append([]string{c.psparse}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Exit code 1 means syntax errors, which the report lists.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("pscheck: psparse: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var reports []Report
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
		return nil, fmt.Errorf("pscheck: psparse output: %v", err)
	}
	if len(reports) != len(files) {
		return nil, fmt.Errorf("pscheck: psparse reported on %d files, not %d", len(reports), len(files))
	}
	scripts := make([]Script, len(files))
	for i, r := range reports {
		if r.File != files[i] {
			return nil, fmt.Errorf("pscheck: psparse report %d is on %s, not %s", i, r.File, files[i])
		}
		src, err := os.ReadFile(files[i])
		if err != nil {
			return nil, err
		}
		scripts[i] = Script{Report: r, Source: src}
		if err := scripts[i].locate(); err != nil {
			return nil, fmt.Errorf("pscheck: %s: %v", files[i], err)
		}
	}
	return scripts, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Offset returns the byte offset in Source of a psparse position.
func (s *Script) Offset(line, column int) (int, error) {
	off := 0
	if bytes.HasPrefix(s.Source, utf8BOM) {
		off = len(utf8BOM)
	}
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(s.Source[off:], '\n')
		if i < 0 {
			return 0, fmt.Errorf("line %d is past the end of the file", line)
		}
		off += i + 1
	}
	for c := 1; c < column; c++ {
		if off >= len(s.Source) || s.Source[off] == '\n' {
			return 0, fmt.Errorf("column %d is past the end of line %d", column, line)
		}
		_, size := utf8.DecodeRune(s.Source[off:])
		off += size
	}
	return off, nil
}

// locateText returns the span of text at a position, which must hold it.
func (s *Script) locateText(at Position, text string) (Span, error) {
	start, err := s.Offset(at.Line, at.Column)
	if err != nil {
		return Span{}, err
	}
	if !bytes.HasPrefix(s.Source[start:], []byte(text)) {
		return Span{}, fmt.Errorf("%d:%d: %q is not in the source there", at.Line, at.Column, text)
	}
	return Span{start, start + len(text)}, nil
}

// locate fills in the spans of commands, elements and strings. psparse
// gives each command's start and its elements' exact text, so each
// element is the next occurrence of its text after the previous one, with
// nothing but blanks (or a backtick line continuation) in between.
func (s *Script) locate() error {
	for i := range s.Strings {
		str := &s.Strings[i]
		start, err := s.Offset(str.Line, str.Column)
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(s.Source[start:], []byte(str.Raw)) {
			return fmt.Errorf("%d:%d: string %q is not in the source there", str.Line, str.Column, str.Raw)
		}
		str.Span = Span{start, start + len(str.Raw)}
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		start, err := s.Offset(c.Line, c.Column)
		if err != nil {
			return err
		}
		// The name follows the invocation operator (& or .), if any.
		end, err := s.next(start, c.Name, " \t&.")
		if err != nil {
			return fmt.Errorf("%d:%d: command %s: %v", c.Line, c.Column, c.Name, err)
		}
		end += len(c.Name)
		c.ElementSpans = make([]Span, len(c.Elements))
		for j, e := range c.Elements {
			at, err := s.next(end, e, " \t\r\n`")
			if err != nil {
				return fmt.Errorf("%d:%d: command %s, element %d: %v", c.Line, c.Column, c.Name, j, err)
			}
			c.ElementSpans[j] = Span{at, at + len(e)}
			end = at + len(e)
		}
		c.Span = Span{start, end}
	}
	for i := range s.Assignments {
		a := &s.Assignments[i]
		span, err := s.locateText(a.ValueAt, a.Value)
		if err != nil {
			return fmt.Errorf("assignment to %s: %v", a.Variable, err)
		}
		a.ValueSpan = span
	}
	for i := range s.ParamBlocks {
		for j := range s.ParamBlocks[i].Params {
			p := &s.ParamBlocks[i].Params[j]
			if p.Default == nil || p.DefaultAt == nil {
				continue
			}
			span, err := s.locateText(*p.DefaultAt, *p.Default)
			if err != nil {
				return fmt.Errorf("default of %s: %v", p.Name, err)
			}
			p.DefaultSpan = span
		}
	}
	return nil
}

// next returns the offset of text at or after from, where only characters
// of gap may come first.
func (s *Script) next(from int, text, gap string) (int, error) {
	i := bytes.Index(s.Source[from:], []byte(text))
	if i < 0 {
		return 0, fmt.Errorf("%q is not in the source", text)
	}
	if between := string(s.Source[from : from+i]); strings.Trim(between, gap) != "" {
		return 0, fmt.Errorf("%q is preceded by %q", text, between)
	}
	return from + i, nil
}

// Text returns the source text of a span.
func (s *Script) Text(sp Span) string {
	return string(s.Source[sp.Start:sp.End])
}

// LineBefore returns the text of the line that holds offset, from the
// start of the line up to offset.
func (s *Script) LineBefore(offset int) string {
	start := bytes.LastIndexByte(s.Source[:offset], '\n') + 1
	if start == 0 && bytes.HasPrefix(s.Source, utf8BOM) {
		start = len(utf8BOM)
	}
	return string(s.Source[start:offset])
}

// Enclosing returns the innermost command that has the command at index
// i inside one of its elements (a script block argument, typically), and
// the index of that element; ok is false for a command that is no other
// command's argument.
func (s *Script) Enclosing(i int) (parent, element int, ok bool) {
	target := s.Commands[i].Span
	best := -1
	for j, c := range s.Commands {
		if j == i || !c.Span.Contains(target) {
			continue
		}
		for k, e := range c.ElementSpans {
			if e.Contains(target) && e.Start >= best {
				parent, element, ok, best = j, k, true, e.Start
			}
		}
	}
	return parent, element, ok
}

// StringAt returns the string literal that starts at offset.
func (s *Script) StringAt(offset int) (String, bool) {
	for _, str := range s.Strings {
		if str.Span.Start == offset {
			return str, true
		}
	}
	return String{}, false
}

// ErrorText lists the syntax errors as file:line:column lines, each
// followed by the source line, so that a failure points at the spot.
func (s *Script) ErrorText() string {
	var b strings.Builder
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "%s:%d:%d: syntax error (%s) near %q\n", s.File, e.Line, e.Column, e.Kind, e.Text)
		if off, err := s.Offset(e.Line, e.Column); err == nil {
			rest := s.Source[off:]
			if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
				rest = rest[:nl]
			}
			line := s.LineBefore(off) + strings.TrimRight(string(rest), "\r")
			fmt.Fprintf(&b, "\t%s\n", strings.Map(visible, line))
		}
	}
	return b.String()
}

// visible keeps a control character in a source line from acting on the
// terminal that shows a failure.
func visible(r rune) rune {
	if unicode.IsControl(r) && r != '\t' {
		return utf8.RuneError
	}
	return r
}
