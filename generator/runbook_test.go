package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runbookCommands returns the lines of the runbook's powershell fences, in
// order, and the number of fences.
func runbookCommands(md string) (cmds []string, fences int) {
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case line == "```powershell":
			inFence = true
			fences++
		case inFence && line == "```":
			inFence = false
		case inFence:
			cmds = append(cmds, line)
		}
	}
	return cmds, fences
}

// scriptAction is the Action of an entry of the script's step table.
var scriptAction = regexp.MustCompile(`(?m)^    Action = \{ (.*) \}\r$`)

// scriptCommands returns the commands in the Action blocks of the
// script's step table, in order: what the script runs.
func scriptCommands(script string) []string {
	var cmds []string
	for _, m := range scriptAction.FindAllStringSubmatch(script, -1) {
		cmds = append(cmds, strings.Split(m[1], "; ")...)
	}
	return cmds
}

// TestRunbookListsTheScriptsCommands: the runbook's powershell fences hold
// the plan's commands in plan order, and so do the Actions of the
// script's step table; TestGeneratedScripts/DocOrder proves where they run.
func TestRunbookListsTheScriptsCommands(t *testing.T) {
	for name, f := range validCases(t) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		withCommands := 0
		for _, s := range plan.Steps {
			want = append(want, s.Commands...)
			if len(s.Commands) > 0 {
				withCommands++
			}
		}
		md, fences := runbookCommands(string(generate(t, f, FormatRunbook)))
		script := scriptCommands(string(generate(t, f, FormatScript)))
		if !slices.Equal(md, want) || !slices.Equal(script, want) {
			t.Errorf("%s: commands differ\nplan:    %q\nrunbook: %q\nscript:  %q", name, want, md, script)
		}
		if fences != withCommands {
			t.Errorf("%s: %d powershell fences for %d steps with commands", name, fences, withCommands)
		}
	}
}

// TestRunbookStepsInOrder: one heading per step, numbered in plan order.
func TestRunbookStepsInOrder(t *testing.T) {
	heading := regexp.MustCompile(`(?m)^### Step (\d+) \((doc step (\d+)|beyond the doc)\): `)
	for name, f := range validCases(t) {
		plan, _ := BuildPlan(f)
		matches := heading.FindAllStringSubmatch(string(generate(t, f, FormatRunbook)), -1)
		if len(matches) != len(plan.Steps) {
			t.Fatalf("%s: %d step headings for %d steps", name, len(matches), len(plan.Steps))
		}
		for i, m := range matches {
			s := plan.Steps[i]
			wantDoc := "beyond the doc"
			if s.DocStep != 0 {
				wantDoc = "doc step " + strconv.Itoa(s.DocStep)
			}
			if m[1] != strconv.Itoa(i+1) || m[2] != wantDoc {
				t.Errorf("%s: heading %q, want Step %d (%s)", name, m[0], i+1, wantDoc)
			}
		}
	}
}

// TestRunbookNamesTheScriptsSHA256: the runbook prints the SHA-256 of the
// .ps1 file generate writes from the same facts and version.
func TestRunbookNamesTheScriptsSHA256(t *testing.T) {
	for name, f := range validCases(t) {
		sum := sha256.Sum256(generate(t, f, FormatScript))
		want := "SHA-256 of the `.ps1` file: `" + hex.EncodeToString(sum[:]) + "`"
		if !strings.Contains(string(generate(t, f, FormatRunbook)), want) {
			t.Errorf("%s: runbook lacks %q", name, want)
		}
	}
}

// TestRunbookHostileValues renders a plan whose texts hold every
// character Markdown gives a meaning to (validation would reject such
// facts; the escaping must hold anyway), then checks the tables and the
// absence of raw HTML.
func TestRunbookHostileValues(t *testing.T) {
	plan, err := BuildPlan(Facts{Product: "sfb2015", Edition: EditionStandard})
	if err != nil {
		t.Fatal(err)
	}
	const hostile = "a|b <img src=x> `c` *d* _e_ [f](g) &amp; ~h~ $i$ \\j\nk"
	plan.FactTable[0].Value = hostile
	plan.FactTable[0].Meaning = hostile
	plan.Preflight[0].Remedy = hostile
	plan.Steps[0].Why = hostile
	md, err := RenderRunbook(plan, Options{Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	checkMarkdown(t, "hostile", string(md))
	if !strings.Contains(string(md), "| Product | ``a\\|b <img src=x> `c` *d* _e_ [f](g) &amp; ~h~ $i$ \\j k`` | ") {
		t.Errorf("hostile value not shown verbatim as code:\n%s", md)
	}
}

// TestRunbookMarkdownIsWellFormed checks every golden variant's runbook.
func TestRunbookMarkdownIsWellFormed(t *testing.T) {
	for name, f := range validCases(t) {
		checkMarkdown(t, name, string(generate(t, f, FormatRunbook)))
	}
}

// withoutCodeSpans removes the code spans of a line: a run of backticks
// up to the next run of the same length, as CommonMark reads them.
func withoutCodeSpans(line string) string {
	var b strings.Builder
	for line != "" {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			b.WriteString(line)
			break
		}
		b.WriteString(line[:i])
		fence := line[i:]
		fence = fence[:len(fence)-len(strings.TrimLeft(fence, "`"))]
		rest := line[i+len(fence):]
		end := closingFence(rest, len(fence))
		if end < 0 {
			b.WriteString(fence) // a lone backtick run is text
			line = rest
			continue
		}
		line = rest[end+len(fence):]
	}
	return b.String()
}

// closingFence finds a run of exactly n backticks in s.
func closingFence(s string, n int) int {
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '`' {
			j++
		}
		if j-i == n {
			return i
		}
		i = j
	}
	return -1
}

// checkMarkdown: every table row has as many cells as its header, and no
// raw HTML outside code (an unescaped < or &).
func checkMarkdown(t *testing.T, name, md string) {
	t.Helper()
	cells := -1
	inFence := false
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if strings.HasPrefix(line, "|") {
			n := strings.Count(line, "|") - strings.Count(line, `\|`)
			if cells < 0 {
				cells = n
			} else if n != cells {
				t.Errorf("%s:%d: %d cell separators, the table's header has %d: %s", name, i+1, n, cells, line)
			}
		} else {
			cells = -1
		}
		text := withoutCodeSpans(line)
		for _, c := range []string{"<", "&"} {
			if strings.Count(text, c) != strings.Count(text, `\`+c) {
				t.Errorf("%s:%d: unescaped %s outside code: %s", name, i+1, c, line)
			}
		}
	}
	if inFence {
		t.Errorf("%s: unclosed code fence", name)
	}
}

func TestRunbookMarkdownText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, 1.2":           "plain text, 1.2",
		`D:\Updates`:                `D:\Updates`,
		`HKLM:\SOFTWARE\sfbpatch`:   `HKLM:\SOFTWARE\sfbpatch`,
		`a\*b and C:\`:              `a\\\*b and C:\\`,
		"a|b":                       `a\|b`,
		"<script>&amp;":             `\<script\>\&amp;`,
		"*a* _b_ `c` [d] ~e~ $f":    "\\*a\\* \\_b\\_ \\`c\\` \\[d\\] \\~e\\~ `$f`",
		"snake_case, _lead":         "snake_case, \\_lead",
		"on $SqlServerFqdn, 100$":   "on `$SqlServerFqdn`, 100\\$",
		`$env:ProgramData\sfbpatch`: "`$env:ProgramData`\\sfbpatch",
		"line\r\nbreak\nand\rmore":  "line break and more",
		"O'Brien’s -Force #1 (x)!":  "O'Brien’s -Force #1 (x)!",
	} {
		if got := MarkdownText(in); got != want {
			t.Errorf("MarkdownText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunbookMarkdownCode(t *testing.T) {
	for in, want := range map[string]string{
		`D:\Updates\x.exe`: "`D:\\Updates\\x.exe`",
		"a`b":              "``a`b``",
		"``a":              "``` ``a ```",
		"a|b":              "`a\\|b`",
		"two\nlines":       "`two lines`",
		"'sql01'":          "`'sql01'`",
	} {
		if got := MarkdownCode(in); got != want {
			t.Errorf("MarkdownCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunbookREADMEExcerpt: the runbook excerpt quoted in the README is
// still what sfbpatch renders.
func TestRunbookREADMEExcerpt(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const source = "`testdata/golden/sfb2019-enterprise-collocated.md.golden`):\n\n"
	_, quoted, found := strings.Cut(string(readme), source)
	if !found {
		t.Fatalf("README.md: no runbook excerpt after %q", source)
	}
	var excerpt []string
	for _, line := range strings.Split(quoted, "\n") {
		if !strings.HasPrefix(line, ">") {
			break
		}
		excerpt = append(excerpt, strings.TrimPrefix(strings.TrimPrefix(line, ">"), " "))
	}
	f := validCases(t)["sfb2019-enterprise-collocated"]
	if want := strings.Join(excerpt, "\n"); len(excerpt) < 5 || !strings.Contains(string(generate(t, f, FormatRunbook)), want) {
		t.Errorf("README.md: the runbook excerpt is not in the rendered runbook:\n%s", want)
	}
}
