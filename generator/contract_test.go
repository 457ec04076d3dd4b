package generator_test

// The contract between the plan and the templates: every name the plan
// hands to the script (functions it calls, parameters and switches,
// variables, the child's parameters, the one launcher) is defined in the
// rendered script, where the plan's use needs it, as the parse tree shows.
// Renaming a definition in a template fails here even after the golden
// files are regenerated.

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
)

// definitions is what a script defines, by place.
type definitions struct {
	functions      map[string]bool                // the script's own functions
	childFunctions map[string]bool                // functions of the child program
	params         map[string][]pscheck.Parameter // parameters by function ("" the script's)
	childParams    []string                       // the child program's parameters
	variables      map[string]bool                // variables set at the script's top level, its parameters included
}

func defined(s *pscheck.Script) definitions {
	d := definitions{functions: map[string]bool{}, childFunctions: map[string]bool{}, params: map[string][]pscheck.Parameter{}, variables: map[string]bool{}}
	program, _, _ := childProgram(s)
	for _, f := range s.Functions {
		at, _ := s.Offset(f.Line, f.Column)
		switch {
		case f.Function == "" && f.ScriptBlockDepth == 0:
			d.functions[f.Name] = true
		case f.Function == "" && f.ScriptBlockDepth == 1 && program.Contains(pscheck.Span{Start: at, End: at}):
			d.childFunctions[f.Name] = true
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
	d.childParams = childParams(s)
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
// define where its use needs it, and every name of a wrong shape.
func contractProblems(s *pscheck.Script, plan generator.Plan) []string {
	d := defined(s)
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	function := func(use, name string, child bool) {
		if !functionName.MatchString(name) {
			fail("%s: %q is not a function name (Verb-Noun)", use, name)
		}
		if child && !d.childFunctions[name] {
			fail("%s: the child program defines no function %s", use, name)
		}
		if !child && !d.functions[name] {
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
	expression := func(use, expr string, child bool) {
		if expr == "" {
			return
		}
		words := strings.Fields(expr)
		function(use, words[0], child)
		for _, w := range words[1:] {
			if name, ok := strings.CutPrefix(w, "-"); ok && !d.hasParamOf(words[0], name, child, s) {
				fail("%s: function %s has no parameter -%s", use, words[0], name)
			}
		}
	}

	for _, c := range plan.Preflight {
		function("preflight "+c.ID, c.Test, false)
		if c.Override != "" {
			switchParam("preflight "+c.ID+" override", c.Override)
		}
	}
	for _, st := range plan.Steps {
		use := "step " + st.ID
		child := st.Child != ""
		expression(use+" test", st.Test.Expression, child)
		expression(use+" verify", st.Verify.Expression, child)
		for _, sw := range []string{st.Override, st.SkipSwitch} {
			if sw != "" {
				switchParam(use, sw)
			}
		}
		if st.NotNeededWhen != "" {
			variable(use+" not needed when", st.NotNeededWhen)
		}
		for _, a := range st.Arguments {
			variable(use+" argument", a)
			if !slices.ContainsFunc(d.childParams, func(p string) bool { return strings.EqualFold(p, "$"+a) }) {
				fail("%s argument: the child program has no parameter $%s", use, a)
			}
		}
	}
	variable("database server", plan.Database.Server)
	for _, v := range plan.Variables {
		variable("fact variable", v.Name)
	}
	for _, p := range plan.Parameters {
		if !variableName.MatchString(p.Name) || !d.hasParam("", p.Name, p.Type) {
			fail("parameter: the script has no [%s]$%s", p.Type, p.Name)
		}
	}
	function("child launcher", generator.ChildLauncher, false)
	return problems
}

// hasParamOf reports whether a function of the script, or of the child
// program, has a parameter.
func (d definitions) hasParamOf(function, name string, child bool, s *pscheck.Script) bool {
	program, _, _ := childProgram(s)
	for _, b := range s.ParamBlocks {
		at, _ := s.Offset(b.Line, b.Column)
		if b.Function != function || child != program.Contains(pscheck.Span{Start: at, End: at}) {
			continue
		}
		if slices.ContainsFunc(b.Params, func(p pscheck.Parameter) bool { return strings.EqualFold(p.Name, "$"+name) }) {
			return true
		}
	}
	return false
}

// contractCanFail renames, in a rendered script, one definition of each
// kind the plan refers to, and expects the contract to name it.
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
		"a child function":     {"    function Test-ServicesAre {", "    function Test-ServiceState {"},
		"a function parameter": {"param([Parameter(Mandatory = $true)][string]$Desired)", "param([Parameter(Mandatory = $true)][string]$Wanted)"},
		"a switch":             {"[switch]$IgnorePendingReboot,", "[switch]$IgnoreReboot,"},
		"a resume variable":    {"$script:UpdateInstalled = ", "$script:UpdateDone = "},
		"a child parameter":    {", $DatabaseReport, $CoreComponentsName, $RunningBefore)", ", $ReportPath, $CoreComponentsName, $RunningBefore)"},
		"the launcher":         {"function Invoke-CsChild {", "function Start-CsChild {"},
		"a fact variable":      {"$ExpectedSha256 = ", "$ExpectedHash = "},
	}
	sources := map[string][]byte{}
	for name, r := range renames {
		if !strings.Contains(string(s.Source), r[0]) {
			t.Fatalf("%s: the script has no %q to rename", name, r[0])
		}
		// Every occurrence is renamed, as a rename in the template would.
		sources[name] = []byte(strings.ReplaceAll(string(s.Source), r[0], r[1]))
	}
	names, mutated := parseMutants(t, sources)
	for i, name := range names {
		if problems := contractProblems(&mutated[i], c.plan); len(problems) == 0 {
			t.Errorf("renaming %s: the contract found nothing wrong", name)
		} else {
			t.Logf("renaming %s: %s", name, problems[0])
		}
	}
}
