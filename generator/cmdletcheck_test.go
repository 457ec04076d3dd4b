package generator_test

// The cmdlet check: every call of a cmdlet in a parsed script, against
// what Microsoft's reference says the cmdlet takes. The tables and how
// they were read: testdata/cmdlets/README.md.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

// cmdletTablesDir holds reference.json (the shared table, copied as is)
// and cmdlets.json (the project's own, for cmdlets the shared one lacks).
const cmdletTablesDir = "../testdata/cmdlets"

// sharedCmdletTable is the table reference.json copies, beside the
// project's clone; a machine without it uses the copy.
const sharedCmdletTable = "../../shared/reference/cmdlets/cmdlets.json"

// cmdletTable is the shape of both tables, without the fields the check
// does not read (mandatory: the pipeline may bind a mandatory parameter).
type cmdletTable struct {
	Cmdlets                        map[string]cmdletEntry `json:"cmdlets"`
	Sources                        map[string]string      `json:"sources"`
	CommonParameters               []string               `json:"common_parameters"`
	CommonParameterAliases         map[string][]string    `json:"common_parameter_aliases"`
	RiskMitigationParameters       []string               `json:"risk_mitigation_parameters"`
	RiskMitigationParameterAliases map[string][]string    `json:"risk_mitigation_parameter_aliases"`
	NewerCommonParameters          []string               `json:"common_parameters_listed_on_cmdlet_pages_but_not_in_ps30"`
	NativeCommands                 []string               `json:"native_commands"`
}

type cmdletEntry struct {
	Module string `json:"module"`
	// InPS30 is true for a cmdlet with a Windows PowerShell 3.0 page; null
	// (false here) for the product's cmdlets, false for the rest.
	InPS30                bool     `json:"in_ps30"`
	Products              []string `json:"products"`
	SupportsShouldProcess bool     `json:"supports_should_process"`
	ParameterSets         []struct {
		Parameters []cmdletParameter `json:"parameters"`
	} `json:"parameter_sets"`
}

type cmdletParameter struct {
	Name     string   `json:"name"`
	Aliases  []string `json:"aliases"`
	Type     string   `json:"type"`
	Position *int     `json:"position"`
	// PositionalInSyntax is false where the page gives a position that its
	// syntax block does not show (Split-Path -Qualifier).
	PositionalInSyntax *bool    `json:"positional_in_syntax"`
	Products           []string `json:"products"`
}

func (p cmdletParameter) positional() bool {
	return p.Position != nil && (p.PositionalInSyntax == nil || *p.PositionalInSyntax)
}

func (p cmdletParameter) availableIn(product string) bool {
	return p.Products == nil || slices.Contains(p.Products, product)
}

// callParam is a parameter a call may name: one of the cmdlet's, or a
// common parameter (sets is nil for those).
type callParam struct {
	name       string
	aliases    []string
	takesValue bool
	// sets are the indexes of the cmdlet's parameter sets that have it for
	// the script's product.
	sets []int
	// problem says why naming it is a finding; "" if it is not.
	problem string
}

// cmdletReference is both tables together, keyed by lower-case name.
type cmdletReference struct {
	cmdlets map[string]cmdletEntry
	natives map[string]bool
	// common are the common parameters of Windows PowerShell 3.0, then
	// -WhatIf and -Confirm, then the common parameters of later versions.
	common []callParam
	risk   map[string]bool
}

// switchCommonParameters are the common parameters that take no value
// (about_CommonParameters, 3.0: -Debug and -Verbose are switches).
var switchCommonParameters = []string{"Debug", "Verbose"}

func loadCmdletReference(t *testing.T) *cmdletReference {
	t.Helper()
	ref := &cmdletReference{cmdlets: map[string]cmdletEntry{}, natives: map[string]bool{}, risk: map[string]bool{}}
	var shared cmdletTable
	for _, file := range []string{"reference.json", "cmdlets.json"} {
		path := filepath.Join(cmdletTablesDir, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var table cmdletTable
		if err := json.Unmarshal(data, &table); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for name, e := range table.Cmdlets {
			if _, dup := ref.cmdlets[strings.ToLower(name)]; dup {
				t.Errorf("%s: %s is in the shared table already", path, name)
			}
			if table.Sources[name] == "" {
				t.Errorf("%s: %s has no source", path, name)
			}
			ref.cmdlets[strings.ToLower(name)] = e
		}
		for _, name := range table.NativeCommands {
			ref.natives[strings.ToLower(name)] = true
		}
		if file == "reference.json" {
			shared = table
			// The copy stays the shared table itself, where that is on the machine.
			if original, err := os.ReadFile(sharedCmdletTable); err == nil && !bytes.Equal(original, data) {
				t.Errorf("%s differs from %s: copy it again", path, sharedCmdletTable)
			}
		}
	}
	for _, name := range shared.CommonParameters {
		ref.common = append(ref.common, callParam{name: name, aliases: shared.CommonParameterAliases[name], takesValue: !slices.Contains(switchCommonParameters, name)})
	}
	for _, name := range shared.RiskMitigationParameters {
		ref.common = append(ref.common, callParam{name: name, aliases: shared.RiskMitigationParameterAliases[name]})
		ref.risk[name] = true
	}
	for _, name := range shared.NewerCommonParameters {
		ref.common = append(ref.common, callParam{name: name, takesValue: true, problem: "a common parameter newer than Windows PowerShell 3.0"})
	}
	if len(ref.common) == 0 {
		t.Fatalf("%s: no common parameters", cmdletTablesDir)
	}
	return ref
}

// parameters lists what a call of the cmdlet may name in a script for
// product.
func (ref *cmdletReference) parameters(name string, e cmdletEntry, product string) []callParam {
	var params []callParam
	index := map[string]int{}
	for i, set := range e.ParameterSets {
		for _, p := range set.Parameters {
			if ref.risk[p.Name] {
				continue // from supports_should_process, below
			}
			k, ok := index[strings.ToLower(p.Name)]
			if !ok {
				k = len(params)
				index[strings.ToLower(p.Name)] = k
				params = append(params, callParam{name: p.Name, aliases: p.Aliases, takesValue: p.Type != "SwitchParameter",
					problem: fmt.Sprintf("not in %s's %s module: the reference has it for %s only", product, e.Module, strings.Join(p.Products, ", "))})
			}
			if p.availableIn(product) {
				params[k].sets = append(params[k].sets, i)
				params[k].problem = ""
			}
		}
	}
	for _, c := range ref.common {
		if ref.risk[c.name] && !e.SupportsShouldProcess {
			c.problem = name + " does not support ShouldProcess: its reference shows no -WhatIf or -Confirm"
		}
		params = append(params, c)
	}
	return params
}

// resolve finds the parameter a call names. Full names and aliases only:
// PowerShell also accepts an unambiguous prefix, but a prefix that is
// unambiguous today becomes ambiguous when a later module version adds a
// parameter, so in a generated script an abbreviation is a finding. It
// still resolves, so that the rest of the call is checked.
func resolve(params []callParam, written string) (p callParam, problem string, ok bool) {
	var abbreviated []string
	k := -1
	for i, p := range params {
		if strings.EqualFold(p.name, written) || slices.ContainsFunc(p.aliases, func(a string) bool { return strings.EqualFold(a, written) }) {
			return p, p.problem, true
		}
		if len(written) < len(p.name) && strings.EqualFold(p.name[:len(written)], written) {
			abbreviated = append(abbreviated, "-"+p.name)
			k = i
		}
	}
	switch len(abbreviated) {
	case 0:
		return callParam{}, "no parameter set has it, and it is no common parameter", false
	case 1:
		return params[k], "an abbreviation of " + abbreviated[0] + ": write the full name", true
	default:
		return callParam{}, "an ambiguous abbreviation of " + strings.Join(abbreviated, ", "), false
	}
}

var (
	// parameterToken is -Name or -Name:value; -1 or -$x is an argument.
	parameterToken = regexp.MustCompile(`(?s)^-([\p{L}_?][\p{L}\p{N}_?]*)(:.*)?$`)
	// redirection is 2>&1, > $null, *> file: psparse keeps each as one element.
	redirection = regexp.MustCompile(`^[1-6*]?>`)
	// memberName ends an argument such as ([string]$_).Substring or [Math]::Round.
	memberName = regexp.MustCompile(`(\.|::)[\p{L}_][\p{L}\p{N}_]*$`)
	// splat is @name, which passes a hashtable's entries as parameters.
	splat = regexp.MustCompile(`^@[\p{L}_][\p{L}\p{N}_]*$`)
)

// callArguments returns a command's arguments as PowerShell reads them:
// without redirections, and with `(expr).Method` and the `(args)` right
// after it as one argument, the method call that PowerShell reads and
// tree-sitter-powershell splits in two.
func callArguments(c pscheck.Command) []string {
	var args []string
	last := -1 // the element args ends with
	for i, e := range c.Elements {
		switch {
		case redirection.MatchString(e):
			continue
		case i > 0 && last == i-1 && strings.HasPrefix(e, "(") && c.ElementSpans[i].Start == c.ElementSpans[i-1].End && memberName.MatchString(c.Elements[i-1]):
			args[len(args)-1] += e
		default:
			args = append(args, e)
		}
		last = i
	}
	return args
}

// cmdletProblems checks every cmdlet call of a script for product: not a
// function the script defines, not a native command, not a call through
// & or . (its target is a script block or a variable). Each problem reads
// file:line: Cmdlet -Param: reason.
func cmdletProblems(ref *cmdletReference, s *pscheck.Script, product string) []string {
	defined := map[string]bool{}
	for _, f := range s.Functions {
		defined[strings.ToLower(f.Name)] = true
	}
	var problems []string
	for _, c := range s.Commands {
		operator := !bytes.HasPrefix(s.Source[c.Span.Start:], []byte(c.Name))
		if operator || defined[strings.ToLower(c.Name)] || ref.natives[strings.ToLower(c.Name)] {
			continue
		}
		at := fmt.Sprintf("%s:%d: %s", filepath.Base(s.File), c.Line, c.Name)
		e, ok := ref.cmdlets[strings.ToLower(c.Name)]
		switch {
		case !ok:
			problems = append(problems, at+": in neither cmdlet table, nor a native command they list: add its entry, read from Microsoft's reference, to testdata/cmdlets/cmdlets.json")
		case !e.InPS30 && len(e.Products) > 0 && !slices.Contains(e.Products, product):
			problems = append(problems, fmt.Sprintf("%s: not in Windows PowerShell 3.0, and not in %s's module: the reference has it for %s only", at, product, strings.Join(e.Products, ", ")))
		case !e.InPS30 && len(e.Products) == 0:
			problems = append(problems, fmt.Sprintf("%s: not in Windows PowerShell 3.0: it is in the %s module, which has no 3.0 reference page", at, e.Module))
		default:
			for _, p := range callProblems(e, ref.parameters(c.Name, e, product), product, callArguments(c)) {
				problems = append(problems, at+" "+p)
			}
		}
	}
	return problems
}

// callProblems checks one call's arguments: every named parameter, then
// one parameter set that holds them all and has room for the positional
// arguments. Each problem reads -Param: reason, or argument: reason.
func callProblems(e cmdletEntry, params []callParam, product string, args []string) []string {
	b, problems, resolved := bindArguments(params, args)
	if !resolved {
		return problems // the sets of an unknown parameter are unknown
	}
	return append(problems, setProblems(e, product, b)...)
}

// boundCall is a call's arguments sorted out: the cmdlet's own parameters
// it names (common parameters aside), as written, and its positional
// arguments.
type boundCall struct {
	named      []callParam
	written    []string
	positional []string
}

// bindArguments sorts out a call's arguments; resolved is false when one
// of them names no parameter the check knows.
func bindArguments(params []callParam, args []string) (b boundCall, problems []string, resolved bool) {
	resolved = true
	for k := 0; k < len(args); k++ {
		if splat.MatchString(args[k]) {
			problems = append(problems, args[k]+": a splat, whose parameters the check cannot see: name them")
			resolved = false
			continue
		}
		m := parameterToken.FindStringSubmatch(args[k])
		if m == nil {
			b.positional = append(b.positional, args[k])
			continue
		}
		p, problem, ok := resolve(params, m[1])
		if problem != "" {
			problems = append(problems, "-"+m[1]+": "+problem)
		}
		if !ok {
			resolved = false
			continue
		}
		if m[2] == "" && p.takesValue {
			k++
		}
		if p.sets != nil {
			b.named = append(b.named, p)
			b.written = append(b.written, "-"+m[1])
		}
	}
	return b, problems, resolved
}

// setProblems looks for one parameter set that holds every named
// parameter and has a positional parameter, not named, for each
// positional argument. The tables do not say which parameter takes the
// remaining arguments (Write-Host's -Object does), so `Write-Host 'a' 'b'`
// is a finding: pass one array instead.
func setProblems(e cmdletEntry, product string, b boundCall) []string {
	var problems []string
	candidates := make([]int, len(e.ParameterSets))
	for i := range candidates {
		candidates[i] = i
	}
	var placed []string
	for i, p := range b.named {
		in := slices.DeleteFunc(slices.Clone(candidates), func(set int) bool { return !slices.Contains(p.sets, set) })
		if len(in) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no parameter set has it with %s", b.written[i], strings.Join(placed, ", ")))
			continue
		}
		candidates = in
		placed = append(placed, b.written[i])
	}
	room := 0
	for _, set := range candidates {
		free := 0
		for _, p := range e.ParameterSets[set].Parameters {
			bound := slices.ContainsFunc(b.named, func(n callParam) bool { return strings.EqualFold(n.name, p.Name) })
			if p.positional() && p.availableIn(product) && !bound {
				free++
			}
		}
		room = max(room, free)
	}
	if len(b.positional) > room {
		problems = append(problems, fmt.Sprintf("%s: positional argument %d: the parameter sets that fit the call take at most %d", shortArgument(b.positional[room]), room+1, room))
	}
	return problems
}

// shortArgument is an argument's text on one line, cut to 40 characters.
func shortArgument(arg string) string {
	s := []rune(strings.Join(strings.Fields(arg), " "))
	if len(s) > 40 {
		return string(s[:37]) + "..."
	}
	return string(s)
}
