package generator_test

// The contract between the plan and the script, checked both ways on the
// parse tree. Plan to script: every name the plan hands to the script
// (functions its checks and steps call, their parameters, switches,
// variables, the children's -Phase, the one launcher) is defined in the
// rendered script. Script to plan: the engine (the static files) names no
// step ID and no phase, and every exit code, switch or resume state it
// names exists in the plan. Renaming either side fails here even after
// the golden files are regenerated.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

var (
	variableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	functionName = regexp.MustCompile(`^[A-Z][A-Za-z]*-[A-Za-z0-9]+$`)
	engineStart  = "\r\n# ==== The engine:"
	// What the engine names that the plan defines: exit codes by name,
	// switches, resume states.
	engineExitCode = regexp.MustCompile(`\$ExitCodes\['([a-z-]+)'\]`)
	engineSwitch   = regexp.MustCompile(`Test-Switch '([A-Za-z]+)'`)
	engineResume   = regexp.MustCompile(`\$script:Resume\.([A-Za-z]+) =`)
)

// definitions is what a script defines.
type definitions struct {
	functions map[string]bool                // the script's own functions
	params    map[string][]pscheck.Parameter // parameters by function ("" the script's)
	variables map[string]bool                // variables set at the script's top level, its parameters included
}

func defined(s *pscheck.Script) definitions {
	d := definitions{functions: map[string]bool{}, params: map[string][]pscheck.Parameter{}, variables: map[string]bool{}}
	for _, f := range s.Functions {
		if f.Function == "" && f.ScriptBlockDepth == 0 {
			d.functions[f.Name] = true
		}
	}
	for _, b := range s.ParamBlocks {
		if b.ScriptBlockDepth == 0 {
			d.params[b.Function] = append(d.params[b.Function], b.Params...)
		}
	}
	for _, p := range d.params[""] {
		d.variables[strings.ToLower(strings.TrimPrefix(p.Name, "$"))] = true
	}
	for _, a := range s.Assignments {
		if a.Function == "" && a.ScriptBlockDepth == 0 && a.Name() != "" {
			d.variables[strings.ToLower(a.Name())] = true
		}
	}
	return d
}

func (d definitions) hasParam(function, name string, kind string) bool {
	return slices.ContainsFunc(d.params[function], func(p pscheck.Parameter) bool {
		return strings.EqualFold(p.Name, "$"+name) && (kind == "" || strings.EqualFold(p.Type, "["+kind+"]"))
	})
}

// contractProblems lists every name of the plan that the script does not
// define, every name of a wrong shape, and every name the engine uses
// that the plan does not define.
func contractProblems(s *pscheck.Script, plan generator.Plan) []string {
	d := defined(s)
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	function := func(use, name string) {
		if !functionName.MatchString(name) || !d.functions[name] {
			fail("%s: the script defines no function %s", use, name)
		}
	}
	switchParam := func(use, name string) {
		if !variableName.MatchString(name) || !d.hasParam("", name, "switch") {
			fail("%s: the script has no switch -%s", use, name)
		}
	}
	variable := func(use, name string) {
		if !variableName.MatchString(name) || !d.variables[strings.ToLower(name)] {
			fail("%s: the script sets no variable $%s", use, name)
		}
	}
	expression := func(use, expr string) {
		if expr == "" {
			return
		}
		words := strings.Fields(expr)
		function(use, words[0])
		for _, w := range words[1:] {
			if name, ok := strings.CutPrefix(w, "-"); ok && !d.hasParam(words[0], name, "") {
				fail("%s: function %s has no parameter -%s", use, words[0], name)
			}
		}
	}
	src := string(s.Source)
	at := strings.Index(src, engineStart)
	if at < 0 {
		return []string{"the script has no engine"}
	}
	engine := src[at:]
	resumes := map[string]bool{}
	for _, m := range engineResume.FindAllStringSubmatch(engine, -1) {
		resumes[m[1]] = true
	}
	var phases []string
	for _, c := range plan.Children {
		phases = append(phases, c.Phase)
	}

	for _, c := range plan.Preflight {
		function("preflight "+c.ID, c.Test)
		if c.Override != "" {
			switchParam("preflight "+c.ID+" override", c.Override)
		}
	}
	for _, st := range plan.Steps {
		use := "step " + st.ID
		expression(use+" test", st.Test.Expression)
		expression(use+" verify", st.Verify.Expression)
		for _, sw := range []string{st.Override, st.SkipSwitch} {
			if sw != "" {
				switchParam(use, sw)
			}
		}
		if st.NotNeededWhen != "" && !resumes[st.NotNeededWhen] {
			fail("%s not needed when: the engine never sets $script:Resume.%s", use, st.NotNeededWhen)
		}
		if st.Shell != "" && !slices.Contains(phases, st.Shell) {
			fail("%s: runs in the child %q, which the plan does not start", use, st.Shell)
		}
		for _, c := range st.Commands {
			// Invoke-Cs... are the product's cmdlets; the other Invoke- are the engine's.
			if name := strings.Fields(c)[0]; strings.HasPrefix(name, "Invoke-") && !strings.HasPrefix(name, "Invoke-Cs") {
				function(use+" command", name)
			}
		}
	}
	if plan.Database.Server != "" {
		variable("database server", plan.Database.Server)
	}
	for _, v := range plan.Variables {
		variable("fact variable", v.Name)
	}
	for _, p := range plan.Parameters {
		if !variableName.MatchString(p.Name) || !d.hasParam("", p.Name, p.Type) {
			fail("parameter: the script has no [%s]$%s", p.Type, p.Name)
		}
	}
	function("child launcher", generator.ChildLauncher)
	// Every child the script starts passes its own -Phase validation.
	for _, p := range plan.Parameters {
		for _, phase := range phases {
			if p.Name == "Phase" && !slices.Contains(p.Choices, phase) {
				fail("child %s: -Phase does not accept it", phase)
			}
		}
	}

	// The other way: what the engine names exists in the plan.
	for _, st := range plan.Steps {
		if strings.Contains(engine, generator.PSQuote(st.ID)) {
			fail("the engine names the step %s: it must read the step table", st.ID)
		}
	}
	for _, phase := range phases {
		if strings.Contains(engine, generator.PSQuote(phase)) {
			fail("the engine names the phase %s: it must read $Shells", phase)
		}
	}
	for _, m := range engineExitCode.FindAllStringSubmatch(engine, -1) {
		if !slices.ContainsFunc(plan.ExitCodes, func(e generator.ExitCode) bool { return e.Name == m[1] }) {
			fail("the engine names the exit code %q, which the plan does not have", m[1])
		}
	}
	for _, m := range engineSwitch.FindAllStringSubmatch(engine, -1) {
		if !slices.ContainsFunc(plan.Parameters, func(p generator.Parameter) bool { return p.Name == m[1] && p.Type == "switch" }) {
			fail("the engine tests the switch -%s, which the plan does not have", m[1])
		}
	}
	for name := range resumes {
		if !slices.ContainsFunc(plan.Steps, func(st generator.Step) bool { return st.NotNeededWhen == name }) {
			fail("the engine sets the resume state %s, which no step of the plan uses", name)
		}
	}
	return problems
}

// contractCanFail renames, on each side, one name of each kind the
// contract covers, and expects the contract to name it: in the rendered
// script (as a rename in a template or an engine file would) and in the
// plan (as a rename in steps.go would).
func contractCanFail(t *testing.T, cases []scriptCase, scripts []pscheck.Script) {
	k := slices.IndexFunc(cases, func(c scriptCase) bool { return c.name == "rendered/all-safety-facts" })
	if k < 0 {
		t.Fatal("no rendered all-safety-facts case")
	}
	c, s := cases[k], &scripts[k]
	if problems := contractProblems(s, c.plan); len(problems) > 0 {
		t.Fatalf("%s: %q", c.name, problems)
	}
	renames := map[string][2]string{
		"a preflight function": {"function Get-ElevationProblem {", "function Get-ElevatedProblem {"},
		"a step function":      {"function Test-ServicesAre {", "function Test-ServiceState {"},
		"a function parameter": {"param([string]$Desired)", "param([string]$Wanted)"},
		"a switch":             {"[switch]$IgnorePendingReboot,", "[switch]$IgnoreReboot,"},
		"a resume state":       {"$script:Resume.UpdateInstalled = ", "$script:Resume.UpdateDone = "},
		"the launcher":         {"function Invoke-ScriptPhase {", "function Start-ScriptPhase {"},
		"a fact variable":      {"$ExpectedSha256 = ", "$ExpectedHash = "},
		"an exit code":         {"$ExitCodes['reboot-required']", "$ExitCodes['reboot-needed']"},
		"a tested switch":      {"Test-Switch 'LeaveServicesStopped'", "Test-Switch 'LeaveStopped'"},
		"a step in the engine": {"$Procedure | Where-Object { $_.Installs }", "$Procedure | Where-Object { $_.Id -eq 'install-update' }"},
	}
	sources := map[string][]byte{}
	for name, r := range renames {
		if !strings.Contains(string(s.Source), r[0]) {
			t.Fatalf("%s: the script has no %q to rename", name, r[0])
		}
		sources[name] = []byte(strings.ReplaceAll(string(s.Source), r[0], r[1]))
	}
	names, mutated := parseMutants(t, sources)
	for i, name := range names {
		if problems := contractProblems(&mutated[i], c.plan); len(problems) == 0 {
			t.Errorf("renaming %s in the script: the contract found nothing wrong", name)
		} else {
			t.Logf("renaming %s in the script: %s", name, problems[0])
		}
	}
	planRenames := map[string]func(p *generator.Plan){
		"a check's function":  func(p *generator.Plan) { p.Preflight[0].Test = "Get-ElevatedProblem" },
		"a step's test":       func(p *generator.Plan) { p.Steps[0].Test.Expression = "Test-ServiceState -Desired 'Stopped'" },
		"a test's parameter":  func(p *generator.Plan) { p.Steps[0].Verify.Expression = "Test-ServicesAre -Wanted 'Stopped'" },
		"an override switch":  func(p *generator.Plan) { p.Preflight[7].Override = "IgnoreReboot" },
		"a resume state":      func(p *generator.Plan) { p.Steps[0].NotNeededWhen = "UpdateDone" },
		"a step's child":      func(p *generator.Plan) { p.Steps[0].Shell = "phase-a" },
		"an exit code":        func(p *generator.Plan) { p.ExitCodes[5].Name = "reboot-needed" },
		"a step ID":           func(p *generator.Plan) { p.Steps[0].ID = "done" },
		"the installer's cmd": func(p *generator.Plan) { p.Steps[3].Commands = []string{"Invoke-Installer -LiteralPath $UpdatePath"} },
	}
	for name, rename := range planRenames {
		plan := c.plan
		plan.Preflight = slices.Clone(plan.Preflight)
		plan.Steps = slices.Clone(plan.Steps)
		plan.ExitCodes = slices.Clone(plan.ExitCodes)
		rename(&plan)
		if problems := contractProblems(s, plan); len(problems) == 0 {
			t.Errorf("renaming %s in the plan: the contract found nothing wrong", name)
		} else {
			t.Logf("renaming %s in the plan: %s", name, problems[0])
		}
	}
}
