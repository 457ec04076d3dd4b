package generator_test

// These tests read generated scripts as PowerShell does, through the
// parse tree that tools/psparse reports (see internal/pscheck): every
// golden script and every facts case rendered fresh from the templates
// must parse without errors, run the documented commands in doc order,
// and use nothing newer than Windows PowerShell 3.0.

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

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
	t.Run("ManifestCoversEveryChange", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range manifestProblems(&scripts[i], c.plan) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("NoSecondOutage", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range outageProblems(&scripts[i]) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
	t.Run("OneLauncher", func(t *testing.T) {
		for i, c := range cases {
			for _, problem := range launcherProblems(&scripts[i]) {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
}

// launcherProblems checks that one function starts child Windows
// PowerShells, Invoke-ScriptPhase, and that it starts this very file with
// -File (one signature, one AppLocker or WDAC rule), with no encoded
// command and no execution policy of its own: no command starts a process
// directly, Start-WatchedProcess (the one .NET Process.Start) is called
// only for the installer and by the launcher, and the launcher's command
// line is Get-PhaseArguments', which names the file and its parameters.
func launcherProblems(s *pscheck.Script) []string {
	var problems []string
	starts := map[string]int{}
	for _, c := range s.Commands {
		if strings.EqualFold(c.Name, "Start-Process") || strings.EqualFold(c.Name, "Start-Job") || powershellName.MatchString(c.Name) {
			problems = append(problems, fmt.Sprintf("line %d: %s starts a process outside Start-WatchedProcess", c.Line, c.Name))
		}
		if c.Name != "Start-WatchedProcess" {
			continue
		}
		starts[c.Function]++
		switch {
		case c.Function == generator.ChildLauncher:
			if k := slices.Index(c.Elements, "-FilePath"); k < 0 || c.Elements[k+1] != "$powershell" ||
				!slices.Contains(c.Elements, "(Get-PhaseArguments -File $ScriptFile -Name $Name -Folder $script:RunFolder)") {
				problems = append(problems, fmt.Sprintf("line %d: the launcher does not start powershell.exe with Get-PhaseArguments -File $ScriptFile: %q", c.Line, c.Elements))
			}
		case c.Function == "Invoke-UpdateInstaller":
			if k := slices.Index(c.Elements, "-FilePath"); k < 0 || c.Elements[k+1] != "$LiteralPath" {
				problems = append(problems, fmt.Sprintf("line %d: the installer step starts something else than the installer: %q", c.Line, c.Elements))
			}
		default:
			problems = append(problems, fmt.Sprintf("line %d: %s starts a process", c.Line, c.Function))
		}
	}
	if starts[generator.ChildLauncher] != 1 {
		problems = append(problems, fmt.Sprintf("%d starts of a process in %s, want 1", starts[generator.ChildLauncher], generator.ChildLauncher))
	}
	if n := strings.Count(string(s.Source), "[System.Diagnostics.Process]::Start("); n != 1 {
		problems = append(problems, fmt.Sprintf("%d calls of Process.Start, want the one in Start-WatchedProcess", n))
	}
	var arguments []string
	for _, a := range assignments(s, "arguments") {
		if a.Function == "Get-PhaseArguments" {
			arguments = append(arguments, a.Value)
		}
	}
	if want := []string{`'-NoProfile -NonInteractive -File "' + $File + '" -Phase ' + $Name`, `$arguments + ' -RunFolder "' + $Folder + '"'`}; !slices.Equal(arguments, want) {
		problems = append(problems, fmt.Sprintf("Get-PhaseArguments builds %q, want %q", arguments, want))
	}
	if a := assignments(s, "ScriptFile"); len(a) != 1 || a[0].Value != "$MyInvocation.MyCommand.Path" {
		problems = append(problems, "$ScriptFile is not assigned once, from $MyInvocation.MyCommand.Path")
	}
	for _, word := range []string{"EncodedCommand", "EncodedArguments", "ExecutionPolicy Bypass -File $", "FromBase64String", " -Command "} {
		if i := strings.Index(string(s.Source), word); i >= 0 && !strings.Contains(s.LineBefore(i), "#") && !strings.Contains(s.LineBefore(i), "'") {
			problems = append(problems, fmt.Sprintf("the script uses %s", word))
		}
	}
	return problems
}

// changingVerbs are the verbs of commands that change state; changing
// are the other commands and the .NET methods that do.
var (
	changingVerbs = []string{"New", "Set", "Remove", "Stop", "Start", "Restart", "Install", "Uninstall", "Register", "Unregister", "Export", "Clear",
		"Add", "Copy", "Move", "Rename", "Enable", "Disable", "Invoke", "Reset", "Update", "Suspend", "Resume", "Grant", "Revoke", "Out"}
	changingNatives = []string{"net", "schtasks", "sc", "reg", "msiexec", "icacls", "takeown", "eventcreate", "wevtutil", "shutdown"}
	changingMethods = []string{"CreateDirectory", "WriteAllText", "WriteAllBytes", "WriteAllLines", "AppendAllText", "Delete", "Move", "Copy", "Replace",
		"Start", "Kill", "CreateEventSource", "WriteEntry", "SetValue", "DeleteValue", "CreateSubKey", "DeleteSubKey", "SetAccessControl", "Stop"}
	// notChanging are commands with a changing verb that change nothing outside the process.
	notChanging = []string{"New-Object", "Start-Sleep", "Write-Host", "Write-Warning", "Write-Verbose", "Set-StrictMode", "Out-String", "Out-Null", "Out-Host"}
)

// manifestProblems holds the plan's manifest to the script: every command
// and .NET method of the script that changes state (not a function the
// script defines itself) is covered by a manifest entry.
func manifestProblems(s *pscheck.Script, plan generator.Plan) []string {
	covered := map[string]bool{}
	for _, e := range plan.Manifest {
		for _, name := range e.Covers {
			covered[strings.ToLower(name)] = true
		}
	}
	defined := map[string]bool{}
	for _, f := range s.Functions {
		defined[strings.ToLower(f.Name)] = true
	}
	var problems []string
	seen := map[string]bool{}
	need := func(name, where string, line int) {
		key := strings.ToLower(name)
		if !covered[key] && !seen[key] {
			seen[key] = true
			problems = append(problems, fmt.Sprintf("line %d: %s %s changes state, and no manifest entry covers it", line, where, name))
		}
	}
	for _, c := range s.Commands {
		name := strings.TrimSuffix(strings.ToLower(filepath.Base(strings.Trim(strings.Fields(c.Name + " ")[0], `&"'()`))), ".exe")
		for _, native := range changingNatives {
			if name == native || strings.Contains(strings.ToLower(c.Name), native+".exe") {
				need(native, "the program", c.Line)
			}
		}
		verb, _, ok := strings.Cut(c.Name, "-")
		if ok && slices.Contains(changingVerbs, verb) && !defined[strings.ToLower(c.Name)] && !slices.Contains(notChanging, c.Name) {
			need(c.Name, "the command", c.Line)
		}
	}
	for _, m := range s.MemberCalls {
		if slices.Contains(changingMethods, m.Name) {
			need(m.Name, "the method", m.Line)
		}
	}
	return problems
}

// unboundedWait matches a wait without a bound: WaitForExit() or Wait()
// with no timeout, WaitForStatus with a status alone, WaitOne() with no
// timeout.
var unboundedWait = regexp.MustCompile(`\.(WaitForExit|Wait|WaitOne)\(\s*\)|\.WaitForStatus\(\s*'[A-Za-z]+'\s*\)`)

// outageProblems holds a script to the guarantees against an endless
// window and a second outage that the parse tree can show: every wait has
// a bound; the machine's mutex is taken before the run starts; an
// unattended run registers its recovery task before the procedure's
// first step and removes it when the run ends; no text of the
// installer's output decides anything.
func outageProblems(s *pscheck.Script) []string {
	var problems []string
	for _, m := range unboundedWait.FindAllIndex(s.Source, -1) {
		if !strings.Contains(s.LineBefore(m[0]), "#") {
			problems = append(problems, fmt.Sprintf("an unbounded wait: %s", s.Source[m[0]:m[1]]))
		}
	}
	line := func(function, command string) int {
		for _, c := range s.Commands {
			if c.Function == function && c.Name == command {
				return c.Line
			}
		}
		return 0
	}
	register, procedure := line("Invoke-Window", "Register-RecoveryTask"), line("Invoke-Window", "Invoke-Procedure")
	if register == 0 || procedure == 0 || register > procedure {
		problems = append(problems, fmt.Sprintf("Invoke-Window registers the recovery task at line %d, the procedure starts at line %d", register, procedure))
	}
	if line("Invoke-Run", "Unregister-RecoveryTask") == 0 {
		problems = append(problems, "Invoke-Run does not remove the recovery task")
	}
	if lock, run := line("", "Enter-MachineLock"), line("", "Invoke-Run"); lock == 0 || run == 0 || lock > run {
		problems = append(problems, fmt.Sprintf("the machine's mutex is taken at line %d, the run starts at line %d", lock, run))
	}
	for _, word := range []string{"SUCCESS:", "-cmatch"} {
		if bytes.Contains(s.Source, []byte(word)) {
			problems = append(problems, fmt.Sprintf("the script reads %q in an output", word))
		}
	}
	return problems
}

// powershellName matches a command that runs PowerShell by name, path or
// variable: powershell, C:\...\powershell.exe, $powershell, pwsh.
var powershellName = regexp.MustCompile(`(?i)^\$?[a-z0-9_.:\\/${}-]*\b(powershell|pwsh)(\.exe)?$`)

// docCommand is one command of Microsoft's procedure (DESIGN.md, "The
// procedure"), as a command node of the script: its name, its elements,
// and where it runs: "" for the script's own process, else the -Phase of
// the child.
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
	installer := []string{"-LiteralPath", "$UpdatePath", "-ArgumentList", generator.PSQuote(p.SilentSwitch)}
	if f.IsFrontEnd() && p.FailOver {
		// Skype for Business Server's Front End procedure: never -Force on the failover.
		return []docCommand{
			{2, "Invoke-CsComputerFailOver", []string{"-ComputerName", "$HostFqdn", "-Confirm:$false"}, "failover"},
			{3, "Invoke-UpdateInstaller", installer, ""},
			{4, "Invoke-CsComputerFailBack", []string{"-ComputerName", "$HostFqdn", "-Confirm:$false"}, "failback"},
		}
	}
	if f.IsFrontEnd() {
		// Lync Server 2013's, by upgrade domain: its step 2 stops, updates and restarts.
		return []docCommand{
			{2, "Stop-CsWindowsService", []string{"-Graceful", "-Confirm:$false"}, "stop"},
			{2, "Invoke-UpdateInstaller", installer, ""},
			{2, "net", []string{"start", "w3svc"}, "start"},
		}
	}
	step11 := []string{"-Update", "-LocalDatabases"}
	if f.Edition == generator.EditionEnterprise {
		step11 = []string{"-Update", "-ConfiguredDatabases", "-SqlServerFqdn", "$SqlServerFqdn"}
		if f.CollocatedStores {
			step11 = append(step11, "-ExcludeCollocatedStores")
		}
	}
	step11 = append(step11, "-Report", "$DatabaseReport", "-ErrorAction", "Continue", "-Confirm:$false")
	return []docCommand{
		{4, "Stop-CsWindowsService", []string{"-Confirm:$false"}, "stop"},
		{5, "net", []string{"stop", "w3svc"}, ""},
		{7, "Invoke-UpdateInstaller", installer, ""},
		{9, "Stop-CsWindowsService", []string{"-Confirm:$false"}, "update"},
		{10, "net", []string{"start", "w3svc"}, "update"},
		{11, "Install-CsDatabase", step11, "update"},
	}
}

func isDocCommand(name string) bool {
	for _, doc := range []string{"Stop-CsWindowsService", "net", "Invoke-UpdateInstaller", "Install-CsDatabase", "Invoke-CsComputerFailOver", "Invoke-CsComputerFailBack"} {
		if strings.EqualFold(name, doc) {
			return true
		}
	}
	return false
}

// stepEntry is one `$Procedure += @{ ... }` of the script: the step
// table's entry, which the engine runs in source order.
type stepEntry struct {
	id, shell string
	action    pscheck.Span // the script block of its Action key, or empty
}

var (
	entryID     = regexp.MustCompile(`\bId = '([a-z0-9-]+)'`)
	entryShell  = regexp.MustCompile(`\bShell = '([a-z-]*)'`)
	entryAction = regexp.MustCompile(`\r\n    Action = \{`)
)

// procedureEntries returns the step table's entries in source order.
func procedureEntries(s *pscheck.Script) []stepEntry {
	var entries []stepEntry
	for _, a := range s.Assignments {
		if !strings.EqualFold(a.Name(), "Procedure") || a.Operator != "+=" || a.Function != "" {
			continue
		}
		text := s.Text(a.ValueSpan)
		var e stepEntry
		if m := entryID.FindStringSubmatch(text); m != nil {
			e.id = m[1]
		}
		if m := entryShell.FindStringSubmatch(text); m != nil {
			e.shell = m[1]
		}
		if m := entryAction.FindStringIndex(text); m != nil {
			start := a.ValueSpan.Start + m[1] - 1
			end := strings.Index(text[m[1]:], "}\r\n")
			if end >= 0 {
				e.action = pscheck.Span{Start: start, End: a.ValueSpan.Start + m[1] + end + 1}
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// checkProcedure is the order oracle. The documented commands are command
// nodes outside the engine's functions (which also start services after a
// failure), each inside the Action of its own doc step's entry in the
// step table, which the engine runs in source order, where the entry's
// Shell says: in the script, or in the child of that -Phase, which starts
// the Management Shell first. Step 11's parameters match the variant, and
// its $SqlServerFqdn is the fact.
func checkProcedure(s *pscheck.Script, f generator.Facts, plan generator.Plan) []string {
	want := procedure(f, plan.Product)
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
		return []string{fmt.Sprintf("want the %d documented commands outside the engine's functions, found %d:\n\t%s",
			len(want), len(got), strings.Join(found, "\n\t"))}
	}
	entries := procedureEntries(s)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.id)
	}
	var planIDs []string
	for _, st := range plan.Steps {
		planIDs = append(planIDs, st.ID)
	}
	var problems []string
	if !slices.Equal(ids, planIDs) {
		problems = append(problems, fmt.Sprintf("the step table holds %q, in that order; the plan has %q", ids, planIDs))
	}
	for n, w := range want {
		c := s.Commands[got[n]]
		at := fmt.Sprintf("line %d: %s (doc step %d)", c.Line, c.Name, w.docStep)
		if !strings.EqualFold(c.Name, w.name) || !slices.Equal(c.Elements, w.elements) {
			problems = append(problems, fmt.Sprintf("line %d: the next documented command is %s %q, want doc step %d: %s %q",
				c.Line, c.Name, c.Elements, w.docStep, w.name, w.elements))
			continue
		}
		k := slices.IndexFunc(entries, func(e stepEntry) bool { return e.action.Contains(c.Span) })
		if k < 0 {
			problems = append(problems, at+": is not inside the Action of any entry of the step table")
			continue
		}
		e := entries[k]
		step := plan.Steps[slices.IndexFunc(plan.Steps, func(st generator.Step) bool { return st.ID == e.id })]
		if step.DocStep != w.docStep {
			problems = append(problems, fmt.Sprintf("%s: is in the Action of %s, doc step %d", at, e.id, step.DocStep))
		}
		if e.shell != w.where || step.Shell != w.where {
			problems = append(problems, fmt.Sprintf("%s: runs in %q (plan: %q), want %q", at, e.shell, step.Shell, w.where))
		}
		if text := s.Text(c.Span); !slices.Contains(step.Commands, text) {
			problems = append(problems, fmt.Sprintf("%s: runs %q, but the plan shows the reviewer %q", at, text, step.Commands))
		}
		if w.docStep == 11 && f.Edition == generator.EditionEnterprise {
			problems = append(problems, checkSQLServerFQDN(s, f.SQLServerFQDN)...)
		}
	}
	return append(problems, checkModuleImport(s, plan.Product.Module)...)
}

// checkModuleImport: every child starts the Management Shell with the one
// $StartManagementShell block, which imports the product's module.
func checkModuleImport(s *pscheck.Script, module string) []string {
	a := assignments(s, "StartManagementShell")
	if len(a) != 1 {
		return []string{fmt.Sprintf("$StartManagementShell is assigned %d times, want once", len(a))}
	}
	for _, c := range s.Commands {
		if strings.EqualFold(c.Name, "Import-Module") && a[0].ValueSpan.Contains(c.Span) {
			if k := slices.Index(c.Elements, "-Name"); k >= 0 && k+1 < len(c.Elements) && c.Elements[k+1] == generator.PSQuote(module) {
				return nil
			}
		}
	}
	return []string{fmt.Sprintf("line %d: $StartManagementShell does not import the %s module", a[0].Line, module)}
}

// checkSQLServerFQDN: step 11's $SqlServerFqdn is assigned once, a
// literal holding the fact.
func checkSQLServerFQDN(s *pscheck.Script, fact string) []string {
	const variable = "$SqlServerFqdn"
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
	src := string(s.Source)
	literal := func(text string) pscheck.Span {
		i := strings.Index(src, text)
		if i < 0 {
			t.Fatalf("%s: no %q", c.name, text)
		}
		return pscheck.Span{Start: i, End: i + len(text)}
	}
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
		"child without the module":   {{literal("Import-Module -Name " + generator.PSQuote(c.plan.Product.Module)), "Import-Module -Name 'Other'"}},
		"installer without args":     {{installer.ElementSpans[0], ""}},
		"installer in doc step 6":    {{literal("Id = 'close-shells'"), "Id = 'install-update'"}, {literal("Id = 'install-update'"), "Id = 'close-shells'"}},
		"installer as a Test":        {{literal("    Action = { Invoke-UpdateInstaller"), "    Test2 = { Invoke-UpdateInstaller"}},
		"step 4 in the update child": {{literal("Shell = 'stop'"), "Shell = 'update'"}},
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
