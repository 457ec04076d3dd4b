package generator_test

// These tests read generated scripts as PowerShell does, through the
// parse tree that tools/psparse reports (see internal/pscheck): every
// golden script and every facts case rendered fresh from the templates
// must parse without errors, run the documented commands in doc order,
// and use nothing newer than Windows PowerShell 3.0.

import (
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

// scriptCase is one script to check and the facts it comes from.
type scriptCase struct {
	// name says where the script comes from: golden/<case> or rendered/<case>.
	name  string
	path  string
	facts generator.Facts
	plan  generator.Plan
}

// render builds the plan of valid facts and renders its script.
func render(t testing.TB, f generator.Facts) (generator.Plan, []byte) {
	t.Helper()
	plan, err := generator.BuildPlan(f)
	if err != nil {
		t.Fatalf("facts %+v: %v", f, err)
	}
	out, err := generator.RenderScript(plan, generator.Options{})
	if err != nil {
		t.Fatalf("facts %+v: %v", f, err)
	}
	return plan, out
}

// parseScripts renders every valid facts case into dir/<case>.ps1 (so a
// broken template fails before the goldens are regenerated, and the
// failure names the rendered file and line), adds each golden script,
// and parses them all in one psparse run. Cases named invalid-* are
// rejected facts; golden_test.go checks their error text.
func parseScripts(t *testing.T) ([]scriptCase, []pscheck.Script) {
	t.Helper()
	checker := pscheck.New(t)
	dir := t.TempDir()
	var cases []scriptCase
	for _, c := range generator.LoadFactCases(t) {
		if c.Invalid() {
			continue
		}
		name, f := c.Name, c.Facts
		plan, out := render(t, f)
		rendered := filepath.Join(dir, name+".ps1")
		if err := os.WriteFile(rendered, out, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, scriptCase{name: "rendered/" + name, path: rendered, facts: f, plan: plan})

		golden := filepath.Join(generator.GoldenDir, name+".ps1.golden")
		if _, err := os.Stat(golden); err != nil {
			t.Errorf("%s has no golden script: %v", c.Path, err)
			continue
		}
		cases = append(cases, scriptCase{name: "golden/" + name, path: golden, facts: f, plan: plan})
	}
	paths := make([]string, len(cases))
	for i, c := range cases {
		paths[i] = c.path
	}
	goldens, err := filepath.Glob(filepath.Join(generator.GoldenDir, "*.ps1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range goldens {
		if !slices.Contains(paths, golden) {
			t.Errorf("%s has no facts file in %s, so it is not checked", golden, generator.FactsDir)
		}
	}
	scripts, err := checker.Parse(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return cases, scripts
}

// TestGeneratedScripts parses every script once and checks it in
// subtests: Syntax (no ERROR or MISSING node), DocOrder (the order
// oracle), PowerShell3 (nothing newer), and OracleCanFail.
func TestGeneratedScripts(t *testing.T) {
	t.Parallel()
	cases, scripts := parseScripts(t)
	t.Run("Syntax", func(t *testing.T) {
		for i, c := range cases {
			if len(scripts[i].Errors) > 0 {
				t.Errorf("%s: %d syntax errors:\n%s", c.name, len(scripts[i].Errors), scripts[i].ErrorText())
			}
		}
	})
	t.Run("DocOrder", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range checkProcedure(&scripts[i], c.facts, c.plan) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("PowerShell3", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range ps3Problems(&scripts[i]) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("OracleCanFail", func(t *testing.T) { oracleCanFail(t, cases, scripts) })
	t.Run("Contract", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range contractProblems(&scripts[i], c.plan) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("ContractCanFail", func(t *testing.T) { contractCanFail(t, cases, scripts) })
	t.Run("OneLauncher", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range launcherProblems(&scripts[i]) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("ChildFitsCommandLine", func(t *testing.T) {
		for i, c := range cases {
			if n, err := encodedChildLength(&scripts[i]); err != nil || n > childCommandBudget {
				t.Errorf("%s: the child program takes %d characters of -EncodedCommand (%v), want at most %d", c.name, n, err, childCommandBudget)
			}
		}
	})
}

// launcherProblems checks that one function starts child Windows
// PowerShells: the only command that names powershell is in
// Invoke-CsChild. checkPhaseOrder checks its call sites against the plan.
func launcherProblems(s *pscheck.Script) []string {
	var problems []string
	launches := 0
	for _, c := range s.Commands {
		if strings.EqualFold(c.Name, "Start-Process") || strings.EqualFold(c.Name, "Start-Job") || powershellName.MatchString(c.Name) {
			if c.Function != "Invoke-CsChild" {
				problems = append(problems, fmt.Sprintf("line %d: %s starts a process outside Invoke-CsChild", c.Line, c.Name))
			}
			launches++
		}
	}
	if launches != 1 {
		problems = append(problems, fmt.Sprintf("%d commands start a Windows PowerShell, want the one in Invoke-CsChild", launches))
	}
	return problems
}

// powershellName matches a command that runs PowerShell by name, path or
// variable: powershell, C:\...\powershell.exe, $powershell, pwsh.
var powershellName = regexp.MustCompile(`(?i)^\$?[a-z0-9_.:\\/${}-]*\b(powershell|pwsh)(\.exe)?$`)

// childCommandBudget bounds the base64 -EncodedCommand that carries the
// child program. Windows limits a command line to 32767 characters; the
// rest is for powershell.exe's path and switches and the encoded
// arguments (CliXml of FQDNs, a report path and step names, about 2 KB
// as UTF-16 before base64).
const childCommandBudget = 24000

// encodedChildLength is the length of the child program as Invoke-CsChild
// sends it: the $CsChild block without indentation, comment lines and
// blank lines, as UTF-16 in base64.
func encodedChildLength(s *pscheck.Script) (int, error) {
	program, _, ok := childProgram(s)
	if !ok {
		return 0, fmt.Errorf("no child program")
	}
	body := strings.TrimPrefix(s.Text(program), "\r\n$CsChild = {")
	var kept []string
	for _, line := range regexp.MustCompile(`\r?\n`).Split(body, -1) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			kept = append(kept, line)
		}
	}
	units := len(utf16.Encode([]rune(strings.Join(kept, "\n"))))
	return base64.StdEncoding.EncodedLen(2 * units), nil
}

// docCommand is one command of Microsoft's procedure (DESIGN.md, "The
// procedure"), as a command node of the script: its name, its elements,
// and where it runs: "script" or the phase of the child.
type docCommand struct {
	docStep  int
	name     string
	elements []string
	where    string
}

// procedure lists the documented commands the facts call for, in doc
// order. The installer runs from the script's $UpdatePath, whose default
// is the update_path fact, by its literal path. Step 11's parameters
// follow the variant; its report goes to -LogDirectory and its check
// decides, not its first non-fatal error. The product's cmdlets never
// prompt: the child is not interactive.
func procedure(f generator.Facts, p generator.Product) []docCommand {
	step11 := []string{"-Update", "-LocalDatabases"}
	if f.Edition == generator.EditionEnterprise {
		step11 = []string{"-Update", "-ConfiguredDatabases", "-SqlServerFqdn", "$SqlServerFqdn"}
		if f.CollocatedStores {
			step11 = append(step11, "-ExcludeCollocatedStores")
		}
	}
	step11 = append(step11, "-Report", "$DatabaseReport", "-ErrorAction", "Continue", "-Confirm:$false")
	return []docCommand{
		{4, "Stop-CsWindowsService", []string{"-Confirm:$false"}, "phase-a"},
		{5, "net", []string{"stop", "w3svc"}, "script"},
		{7, "Invoke-UpdateInstaller", []string{"-LiteralPath", "$UpdatePath", "-ArgumentList", generator.PSQuote(p.SilentSwitch)}, "script"},
		{9, "Stop-CsWindowsService", []string{"-Confirm:$false"}, "phase-b"},
		{10, "net", []string{"start", "w3svc"}, "phase-b"},
		{11, "Install-CsDatabase", step11, "phase-b"},
	}
}

func isDocCommand(name string) bool {
	for _, doc := range []string{"Stop-CsWindowsService", "net", "Invoke-UpdateInstaller", "Install-CsDatabase"} {
		if strings.EqualFold(name, doc) {
			return true
		}
	}
	return false
}

// childProgram returns the span of the child program, the script block
// assigned to $CsChild, and of each of its phase sections.
func childProgram(s *pscheck.Script) (program pscheck.Span, phases map[string]pscheck.Span, ok bool) {
	src := string(s.Source)
	start := strings.Index(src, "\r\n$CsChild = {\r\n")
	if start < 0 {
		return program, nil, false
	}
	end := strings.Index(src[start:], "\r\n}\r\n")
	if end < 0 {
		return program, nil, false
	}
	program = pscheck.Span{Start: start, End: start + end}
	phases = map[string]pscheck.Span{}
	section := regexp.MustCompile(`(?m)^    if \(\$Phase -eq '([a-z-]+)'\) \{\r$`)
	for _, m := range section.FindAllStringSubmatchIndex(src[program.Start:program.End], -1) {
		from := program.Start + m[0]
		to := strings.Index(src[from:program.End+2], "\r\n    }\r\n")
		if to < 0 {
			return program, nil, false
		}
		phases[src[program.Start+m[2]:program.Start+m[3]]] = pscheck.Span{Start: from, End: from + to}
	}
	return program, phases, true
}

// childStarts returns the Invoke-CsChild commands of the script outside
// the function itself, in source order, with the literal of their -Phase.
func childStarts(s *pscheck.Script) (starts []int, phases []string) {
	for i, c := range s.Commands {
		if !strings.EqualFold(c.Name, "Invoke-CsChild") || c.Function == "Invoke-CsChild" {
			continue
		}
		phase := ""
		if k := slices.Index(c.Elements, "-Phase"); k >= 0 && k+1 < len(c.Elements) {
			if lit, ok := s.StringAt(c.ElementSpans[k+1].Start); ok && lit.Value != nil {
				phase = *lit.Value
			}
		}
		starts, phases = append(starts, i), append(phases, phase)
	}
	return starts, phases
}

// checkProcedure is the order oracle. The documented commands are command
// nodes outside the helper functions (which also start services after a
// failure), each inside the -Action of its own doc step, where the plan
// runs it: in the script, or in the child program's section of that
// phase, after the child imports the module. The script runs them in doc
// order: the child's phase-a start, doc steps 5 and 7 in the script, the
// child's phase-b start; and within each place in doc order. Step 11's
// parameters match the variant, and its $SqlServerFqdn is the fact.
func checkProcedure(s *pscheck.Script, f generator.Facts, plan generator.Plan) []string {
	want := procedure(f, plan.Product)
	program, phases, ok := childProgram(s)
	if !ok {
		return []string{"no child program ($CsChild = { ... }) with phase sections"}
	}
	var got []int
	for i, c := range s.Commands {
		if c.Function == "" && isDocCommand(c.Name) {
			got = append(got, i)
		}
	}
	if len(got) != len(want) {
		var found []string
		for _, i := range got {
			found = append(found, fmt.Sprintf("line %d: %s", s.Commands[i].Line, s.Text(s.Commands[i].Span)))
		}
		return []string{fmt.Sprintf("want the %d documented commands outside the helper functions, found %d:\n\t%s",
			len(want), len(got), strings.Join(found, "\n\t"))}
	}
	// Match each documented command with a command node by where it runs,
	// in source order within each place.
	byPlace := map[string][]int{}
	for _, i := range got {
		place := "script"
		for phase, span := range phases {
			if span.Contains(s.Commands[i].Span) {
				place = phase
			}
		}
		if place == "script" && program.Contains(s.Commands[i].Span) {
			place = "child program, outside any phase"
		}
		byPlace[place] = append(byPlace[place], i)
	}
	var problems []string
	for _, w := range want {
		if len(byPlace[w.where]) == 0 {
			problems = append(problems, fmt.Sprintf("doc step %d: no %s %q runs in %s", w.docStep, w.name, w.elements, w.where))
			continue
		}
		i := byPlace[w.where][0]
		byPlace[w.where] = byPlace[w.where][1:]
		c := s.Commands[i]
		if !strings.EqualFold(c.Name, w.name) || !slices.Equal(c.Elements, w.elements) {
			problems = append(problems, fmt.Sprintf("line %d: in %s, the next documented command is %s %q, want doc step %d: %s %q",
				c.Line, w.where, c.Name, c.Elements, w.docStep, w.name, w.elements))
			continue
		}
		problems = append(problems, checkInStep(s, i, w.docStep, plan)...)
		if w.where != "script" {
			if lit, ok := moduleImportedBefore(s, i, program); !ok || *lit.Value != plan.Product.Module {
				problems = append(problems, fmt.Sprintf("line %d: %s (doc step %d) runs before the child program imports the %s module", c.Line, c.Name, w.docStep, plan.Product.Module))
			}
		}
		if w.docStep == 11 && f.Edition == generator.EditionEnterprise {
			problems = append(problems, checkSQLServerFQDN(s, f.SQLServerFQDN)...)
		}
	}
	for place, left := range byPlace {
		for _, i := range left {
			problems = append(problems, fmt.Sprintf("line %d: %s runs in %s, where the procedure has no such command", s.Commands[i].Line, s.Commands[i].Name, place))
		}
	}
	return append(problems, checkPhaseOrder(s, got, plan)...)
}

// checkPhaseOrder checks the order of the places: the script starts the
// children the plan lists, in its order, and the script's own documented
// commands come after the phase-a start and before the phase-b start.
func checkPhaseOrder(s *pscheck.Script, docCommands []int, plan generator.Plan) []string {
	starts, phases := childStarts(s)
	var want []string
	for _, c := range plan.Children {
		want = append(want, c.Phase)
	}
	if !slices.Equal(phases, want) {
		return []string{fmt.Sprintf("the script starts the children %q, in that order; the plan lists %q", phases, want)}
	}
	program, _, _ := childProgram(s)
	a, b := s.Commands[starts[slices.Index(phases, "phase-a")]], s.Commands[starts[slices.Index(phases, "phase-b")]]
	var problems []string
	for _, i := range docCommands {
		c := s.Commands[i]
		if !program.Contains(c.Span) && (c.Span.Start < a.Span.End || c.Span.Start > b.Span.Start) {
			problems = append(problems, fmt.Sprintf("line %d: %s runs in the script, but not between the phase-a child (line %d) and the phase-b child (line %d)",
				c.Line, c.Name, a.Line, b.Line))
		}
	}
	return problems
}

// checkInStep checks that command i runs in the action of doc step
// docStep, and that the command is what the plan shows a reviewer.
func checkInStep(s *pscheck.Script, i, docStep int, plan generator.Plan) []string {
	c := s.Commands[i]
	at := fmt.Sprintf("line %d: %s (doc step %d)", c.Line, c.Name, docStep)
	var step *generator.Step
	for k := range plan.Steps {
		if plan.Steps[k].DocStep == docStep {
			step = &plan.Steps[k]
		}
	}
	if step == nil {
		return []string{at + ": the plan has no such doc step"}
	}
	var problems []string
	if text := s.Text(c.Span); !slices.Contains(step.Commands, text) {
		problems = append(problems, fmt.Sprintf("%s: runs %q, but the plan shows the reviewer %q", at, text, step.Commands))
	}
	parent, element, ok := s.Enclosing(i)
	// Walk out through the enclosing commands to the step runner, the
	// first one that names a doc step.
	for ok {
		p := s.Commands[parent]
		if k := slices.Index(p.Elements, "-DocStep"); k >= 0 {
			if k+1 >= len(p.Elements) || p.Elements[k+1] != strconv.Itoa(docStep) || element == 0 || p.Elements[element-1] != "-Action" {
				problems = append(problems, fmt.Sprintf("%s: is in %s of the step at line %d with %q, not in the -Action of doc step %d",
					at, argumentName(p, element), p.Line, p.Elements[k:min(k+2, len(p.Elements))], docStep))
			}
			if k := slices.Index(p.Elements, "-Id"); k < 0 || k+1 >= len(p.Elements) || p.Elements[k+1] != generator.PSQuote(step.ID) {
				problems = append(problems, fmt.Sprintf("%s: the step runner at line %d does not carry -Id %s", at, p.Line, generator.PSQuote(step.ID)))
			}
			return problems
		}
		parent, element, ok = s.Enclosing(parent)
	}
	return append(problems, at+": is not inside the -Action of any doc step")
}

func argumentName(c pscheck.Command, element int) string {
	if element > 0 {
		return c.Elements[element-1]
	}
	return "an argument"
}

// moduleImportedBefore returns the module name literal of the
// Import-Module -Name command of the child program's own body (not in a
// function or a script block of it) that comes before command i.
func moduleImportedBefore(s *pscheck.Script, i int, program pscheck.Span) (pscheck.String, bool) {
	for j := i - 1; j >= 0; j-- {
		c := s.Commands[j]
		k := slices.Index(c.Elements, "-Name")
		if !strings.EqualFold(c.Name, "Import-Module") || k < 0 || k+1 >= len(c.Elements) || c.Function != "" || !program.Contains(c.Span) {
			continue
		}
		if c.ScriptBlockDepth != 1 {
			continue
		}
		if lit, ok := s.StringAt(c.ElementSpans[k+1].Start); ok && lit.Value != nil {
			return lit, true
		}
	}
	return pscheck.String{}, false
}

// checkSQLServerFQDN follows step 11's $SqlServerFqdn out of the child
// program: its place in the program's param block is its place in the
// arguments Invoke-CsChild passes, which name the script's
// $SqlServerFqdn, assigned once: a literal holding the fact.
func checkSQLServerFQDN(s *pscheck.Script, fact string) []string {
	const variable = "$SqlServerFqdn"
	params := childParams(s)
	var args []string
	for _, a := range assignments(s, "childArguments") {
		if a.Function == "Invoke-CsChild" {
			args = arrayItems(a.Value)
		}
	}
	n := slices.IndexFunc(params, func(v string) bool { return strings.EqualFold(v, variable) })
	if n < 0 || n >= len(args) || !strings.EqualFold(args[n], variable) {
		return []string{fmt.Sprintf("the child program takes param(%s) from @(%s): %s does not come from the script's %s",
			strings.Join(params, ", "), strings.Join(args, ", "), variable, variable)}
	}
	assigned := assignments(s, variable[1:])
	if len(assigned) != 1 {
		return []string{fmt.Sprintf("%s is assigned %d times; want once, a literal", variable, len(assigned))}
	}
	lit, ok := s.StringAt(assigned[0].ValueSpan.Start)
	if !ok || lit.Kind != "verbatim" || lit.Value == nil || *lit.Value != fact || lit.Span != assigned[0].ValueSpan {
		return []string{fmt.Sprintf("line %d: %s = %s, want the sql_server_fqdn fact %q as a verbatim string", assigned[0].Line, variable, assigned[0].Value, fact)}
	}
	return nil
}

// childParams returns the variables of the child program's param block:
// the param block of the one script block within $CsChild's value.
func childParams(s *pscheck.Script) []string {
	program, _, _ := childProgram(s)
	for _, b := range s.ParamBlocks {
		at, err := s.Offset(b.Line, b.Column)
		if err == nil && b.Function == "" && b.ScriptBlockDepth == 1 && program.Contains(pscheck.Span{Start: at, End: at}) {
			var names []string
			for _, p := range b.Params {
				names = append(names, p.Name)
			}
			return names
		}
	}
	return nil
}

// assignments returns the assignments (=) of a variable, any scope, in
// source order.
func assignments(s *pscheck.Script, name string) []pscheck.Assignment {
	var found []pscheck.Assignment
	for _, a := range s.Assignments {
		if strings.EqualFold(a.Name(), name) && a.Operator == "=" {
			found = append(found, a)
		}
	}
	return found
}

// arrayItems returns the items of an array literal @(a, b, c) written
// with simple items, as the child's argument list is.
func arrayItems(value string) []string {
	inner, ok := strings.CutPrefix(value, "@(")
	if !ok {
		return nil
	}
	var items []string
	for _, item := range strings.Split(strings.TrimSuffix(inner, ")"), ",") {
		items = append(items, strings.TrimSpace(item))
	}
	return items
}

// newerCmdlets are cmdlets of Windows PowerShell 4.0 and later that a
// script for 3.0 might reach for, with the version that brought them.
var newerCmdlets = map[string]string{
	"get-filehash":          "4.0",
	"new-temporaryfile":     "5.0",
	"new-guid":              "5.0",
	"get-itempropertyvalue": "5.0",
	"expand-archive":        "5.0",
	"compress-archive":      "5.0",
	"format-hex":            "5.0",
	"get-clipboard":         "5.0",
	"set-clipboard":         "5.0",
	"write-information":     "5.0",
	"convertfrom-string":    "5.0",
	"get-computerinfo":      "5.1",
	"get-timezone":          "5.1",
}

// newerNodeTypes are the tree-sitter-powershell node types of syntax that
// Windows PowerShell 3.0 lacks (names from node-types.json). The grammar
// has no node for a ternary, ??, ??=, ?. or a clean block: those are
// syntax errors, which TestGeneratedScripts/Syntax catches; it parses
// `using namespace` as a command named using.
var newerNodeTypes = map[string]string{
	"class_statement":           "a class (5.0)",
	"class_property_definition": "a class property (5.0)",
	"class_method_definition":   "a class method (5.0)",
	"class_attribute":           "a class attribute (5.0)",
	"enum_statement":            "an enum (5.0)",
	"enum_member":               "an enum member (5.0)",
	"pipeline_chain_tail":       "a && or || pipeline chain (7.0)",
}

var requiresVersion = regexp.MustCompile(`(?i)-version\s+(\d+)(?:\.(\d+))?`)

// ps3Problems lists what in a parsed script needs PowerShell 4.0 or later.
// A script must also say #Requires -Version 3.0.
func ps3Problems(s *pscheck.Script) []string {
	var problems []string
	versions := 0
	for _, r := range s.Requires {
		lower := strings.ToLower(r)
		if strings.Contains(lower, "-runasadministrator") {
			problems = append(problems, r+": -RunAsAdministrator needs 4.0 (check elevation with WindowsPrincipal)")
		}
		if strings.Contains(lower, "-psedition") {
			problems = append(problems, r+": -PSEdition needs 5.1")
		}
		if m := requiresVersion.FindStringSubmatch(r); m != nil {
			versions++
			if m[1] != "3" || (m[2] != "" && m[2] != "0") {
				problems = append(problems, r+": the script must run on Windows PowerShell 3.0")
			}
		}
	}
	if versions == 0 {
		problems = append(problems, "no #Requires -Version 3.0")
	}
	for _, c := range s.Commands {
		if v, ok := newerCmdlets[strings.ToLower(c.Name)]; ok {
			problems = append(problems, fmt.Sprintf("line %d: %s needs %s", c.Line, c.Name, v))
		}
		if strings.EqualFold(c.Name, "using") {
			problems = append(problems, fmt.Sprintf("line %d: a using statement needs 5.0", c.Line))
		}
	}
	for _, m := range s.MemberCalls {
		switch strings.ToLower(m.Name) {
		case "where":
			problems = append(problems, fmt.Sprintf("line %d: the .Where() method needs 4.0 (use Where-Object)", m.Line))
		case "foreach":
			problems = append(problems, fmt.Sprintf("line %d: the .ForEach() method needs 4.0 (use ForEach-Object)", m.Line))
		case "new":
			problems = append(problems, fmt.Sprintf("line %d: ::new() needs 5.0 (use New-Object)", m.Line))
		}
	}
	for _, n := range s.NodeTypes {
		if what, ok := newerNodeTypes[n]; ok {
			problems = append(problems, "the script has "+what)
		}
	}
	return problems
}

// TestPowerShell3CheckCatchesNewerSyntax proves that the checks above can
// fail: each snippet uses one construct newer than 3.0 and must show up
// as a syntax error or a ps3Problems entry, while the 3.0 snippet must
// show up as neither.
func TestPowerShell3CheckCatchesNewerSyntax(t *testing.T) {
	t.Parallel()
	const v3 = "#Requires -Version 3.0\r\n"
	snippets := []struct{ name, src string }{
		{"requires-runasadministrator", v3 + "#Requires -RunAsAdministrator\r\nWrite-Host 1\r\n"},
		{"requires-version-5.1", "#Requires -Version 5.1\r\nWrite-Host 1\r\n"},
		{"requires-psedition", v3 + "#Requires -PSEdition Desktop\r\nWrite-Host 1\r\n"},
		{"no-requires", "Write-Host 1\r\n"},
		{"get-filehash", v3 + "$h = Get-FileHash -LiteralPath 'C:\\x.exe'\r\n"},
		{"where-method", v3 + "$a = @(1, 2).Where({ $_ -gt 1 })\r\n"},
		{"where-method-braces", v3 + "$a = @(1, 2).Where{ $_ -gt 1 }\r\n"},
		{"foreach-method", v3 + "$a = @(1, 2).ForEach({ $_ })\r\n"},
		{"foreach-method-braces", v3 + "$a = @(1, 2).ForEach{ $_ }\r\n"},
		{"static-new", v3 + "$b = [System.Text.StringBuilder]::new()\r\n"},
		{"class", v3 + "class Patch {\r\n    [string]$Path\r\n}\r\n"},
		{"enum", v3 + "enum Phase { Downtime; Database }\r\n"},
		{"using-namespace", v3 + "using namespace System.IO\r\nWrite-Host 1\r\n"},
		{"ternary", v3 + "$a = $true ? 1 : 2\r\n"},
		{"null-coalescing", v3 + "$a = $b ?? 1\r\n"},
		{"null-coalescing-assignment", v3 + "$a ??= 1\r\n"},
		{"null-conditional-member", v3 + "$a = ${b}?.Length\r\n"},
		{"pipeline-chain-and", v3 + "Get-Item 'x' && Write-Host 'ok'\r\n"},
		{"pipeline-chain-or", v3 + "Get-Item 'x' || Write-Host 'no'\r\n"},
		{"clean-block", v3 + "function F {\r\n    process { 1 }\r\n    clean { 2 }\r\n}\r\n"},
	}
	const ps3 = v3 + "$o = [ordered]@{ A = 1 }\r\n" +
		"@(1, 2) | Where-Object { $_ -gt 1 } | ForEach-Object { $_.ToString() }\r\n" +
		"foreach ($x in @(1)) { if ($x -and -not $o) { Write-Host $x } }\r\n" +
		"$sb = New-Object System.Text.StringBuilder\r\n[void]$sb.Append('x')\r\n"

	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "ps3.ps1")}
	if err := os.WriteFile(paths[0], []byte(ps3), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sn := range snippets {
		path := filepath.Join(dir, sn.name+".ps1")
		if err := os.WriteFile(path, []byte(sn.src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	scripts, err := pscheck.New(t).Parse(paths...)
	if err != nil {
		t.Fatal(err)
	}
	if p := ps3Problems(&scripts[0]); len(scripts[0].Errors) > 0 || len(p) > 0 {
		t.Errorf("a PowerShell 3.0 snippet was flagged: %q\n%s", p, scripts[0].ErrorText())
	}
	for i, sn := range snippets {
		s := &scripts[i+1]
		if len(s.Errors) == 0 && len(ps3Problems(s)) == 0 {
			t.Errorf("%s: not detected:\n%s", sn.name, sn.src)
		}
	}
}

// parseMutants writes each mutant of a script to a file and parses them
// all in one psparse run; it returns the mutants' names and their parses
// in the same order.
func parseMutants(t *testing.T, sources map[string][]byte) ([]string, []pscheck.Script) {
	t.Helper()
	dir := t.TempDir()
	names := slices.Sorted(maps.Keys(sources))
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".ps1")
		if err := os.WriteFile(paths[i], sources[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scripts, err := pscheck.New(t).Parse(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return names, scripts
}

// oracleCanFail breaks a rendered script in the ways the order oracle
// exists to catch, by editing the spans the parse tree reports, and
// expects a problem for each.
func oracleCanFail(t *testing.T, cases []scriptCase, scripts []pscheck.Script) {
	k := slices.IndexFunc(cases, func(c scriptCase) bool {
		return strings.HasPrefix(c.name, "rendered/") && c.facts.Edition == generator.EditionEnterprise && c.facts.CollocatedStores
	})
	if k < 0 {
		t.Fatal("no facts case for an Enterprise Edition Back End with collocated stores")
	}
	c, s := cases[k], &scripts[k]
	if problems := checkProcedure(s, c.facts, c.plan); len(problems) > 0 {
		t.Fatalf("%s: %q", c.name, problems)
	}
	find := func(name, first string) pscheck.Command {
		for _, cmd := range s.Commands {
			if cmd.Function == "" && strings.EqualFold(cmd.Name, name) && (first == "" || (len(cmd.Elements) > 0 && cmd.Elements[0] == first)) {
				return cmd
			}
		}
		t.Fatalf("%s: no %s %s", c.name, name, first)
		return pscheck.Command{}
	}
	install, installer := find("Install-CsDatabase", ""), find("Invoke-UpdateInstaller", "")
	netStop, netStart := find("net", "stop"), find("net", "start")
	var fqdn pscheck.String
	if a := assignments(s, "SqlServerFqdn"); len(a) == 1 {
		fqdn, _ = s.StringAt(a[0].ValueSpan.Start)
	}
	program, _, _ := childProgram(s)
	i := slices.IndexFunc(s.Commands, func(cmd pscheck.Command) bool { return strings.EqualFold(cmd.Name, "Stop-CsWindowsService") })
	module, ok := moduleImportedBefore(s, i, program)
	if fqdn.Raw == "" || !ok {
		t.Fatalf("%s: cannot find the $SqlServerFqdn literal or the child's module name", c.name)
	}
	// The step runner of doc step 7: the first command around the
	// installer that names a doc step.
	runnerOf := func(name string) int {
		i := slices.IndexFunc(s.Commands, func(cmd pscheck.Command) bool { return strings.EqualFold(cmd.Name, name) })
		runner, _, ok := s.Enclosing(i)
		for ok && !slices.Contains(s.Commands[runner].Elements, "-DocStep") {
			runner, _, ok = s.Enclosing(runner)
		}
		if !ok {
			t.Fatalf("%s: %s is in no doc step", c.name, name)
		}
		return runner
	}
	runner := runnerOf("Invoke-UpdateInstaller")
	docStep := s.Commands[runner].ElementSpans[slices.Index(s.Commands[runner].Elements, "-DocStep")+1]
	starts, phases := childStarts(s)
	phaseA := s.Commands[starts[slices.Index(phases, "phase-a")]]
	phaseB := s.Commands[starts[slices.Index(phases, "phase-b")]]
	phaseLiteral := func(cmd pscheck.Command) pscheck.Span {
		return cmd.ElementSpans[slices.Index(cmd.Elements, "-Phase")+1]
	}

	// The installer moved out of its step, to the statement after it. It
	// leaves $null behind: the grammar wrongly rejects an empty { }.
	r, inst := s.Commands[runner].Span, installer.Span
	outside := string(s.Source[r.Start:inst.Start]) + "$null" + string(s.Source[inst.End:r.End]) + "\r\n" + s.Text(inst)

	type edit struct {
		span pscheck.Span
		text string
	}
	mutants := map[string][]edit{
		"no -ExcludeCollocatedStores": {{install.ElementSpans[slices.Index(install.Elements, "-ExcludeCollocatedStores")], ""}},
		"steps 5 and 10 swapped": {
			{netStop.Span, s.Text(netStart.Span)},
			{netStart.Span, s.Text(netStop.Span)},
		},
		"another SQL Server":         {{fqdn.Span, generator.PSQuote("sql99.contoso.com")}},
		"child without the module":   {{module.Span, generator.PSQuote("Other")}},
		"installer without args":     {{installer.ElementSpans[0], ""}},
		"installer in doc step 6":    {{docStep, "6"}},
		"installer outside the step": {{s.Commands[runner].Span, outside}},
		"phase-b started first": {
			{phaseLiteral(phaseA), generator.PSQuote("phase-b")},
			{phaseLiteral(phaseB), generator.PSQuote("phase-a")},
		},
	}
	sources := map[string][]byte{}
	for name, edits := range mutants {
		slices.SortFunc(edits, func(a, b edit) int { return b.span.Start - a.span.Start })
		src := slices.Clone(s.Source)
		for _, e := range edits {
			src = slices.Concat(src[:e.span.Start], []byte(e.text), src[e.span.End:])
		}
		sources[name] = src
	}
	names, mutated := parseMutants(t, sources)
	for i, name := range names {
		if len(mutated[i].Errors) > 0 {
			t.Errorf("%s: the mutant must parse, for the oracle to be what fails:\n%s", name, mutated[i].ErrorText())
		}
		if problems := checkProcedure(&mutated[i], c.facts, c.plan); len(problems) == 0 {
			t.Errorf("%s: the oracle found nothing wrong", name)
		} else {
			t.Logf("%s: %s", name, problems[0])
		}
	}
}
