package generator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

// hostileCasesFile holds facts values that try to escape their string:
// every PowerShell quote character, $(...), backticks, operators, line
// breaks and other control characters, comment delimiters, invisible,
// bidi and confusable characters, and very long values, for every fact.
const hostileCasesFile = "../testdata/hostile/cases.json"

// hostileCase is one value for one fact. Expect is "accept" or "reject"
// where only one answer is right (a path with an apostrophe is a real
// path; an invisible character is something a reviewer cannot see), and
// empty where both are safe.
type hostileCase struct {
	Name   string `json:"name"`
	Field  string `json:"field"`
	Value  string `json:"value"`
	Expect string `json:"expect,omitempty"`
}

// hostileBase holds, for each fact under test, other facts that are valid
// with any valid value of it, so that a problem can only be that fact's.
var hostileBase = map[string]map[string]any{
	"product":         {"edition": "standard"},
	"edition":         {"product": "sfb2015"},
	"sql_server_fqdn": {"product": "sfb2015", "edition": "enterprise"},
	"pool_fqdn":       {"product": "sfb2019", "edition": "enterprise", "role": "frontend"},
	"update_path":     {"product": "sfb2019", "edition": "standard"},
	"server_fqdn":     {"product": "sfb2015", "edition": "standard"},
	"update_sha256":   {"product": "sfb2015", "edition": "standard"},
	"target_version":  {"product": "lync2013", "edition": "enterprise", "sql_server_fqdn": "sql01.contoso.com", "collocated_stores": true},
}

// factVariables names the script variable that carries each fact that
// reaches the script as text (DESIGN.md: once, as one quoted literal),
// from the facts table; update_path is the default of the -UpdatePath
// parameter. Product and edition choose the script; they never reach it
// as text.
var factVariables = func() map[string]string {
	vars := map[string]string{"update_path": "UpdatePath"}
	for _, f := range generator.Fields {
		if f.Variable != "" {
			vars[f.Key] = f.Variable
		}
	}
	return vars
}()

// placeholders are plain valid values. The script of a placeholder is the
// baseline a hostile value's script must equal, but for the value's own
// expression; a value that is not ASCII is compared with the non-ASCII
// placeholder, whose expression is a [char] chain too.
var placeholders = map[string]string{
	"sql_server_fqdn": "placeholder-sql.example.com",
	"pool_fqdn":       "placeholder-pool.example.com",
	"update_path":     `D:\Placeholder\Installer.exe`,
	"server_fqdn":     "placeholder-host.example.com",
	"update_sha256":   strings.Repeat("0123456789abcdef", 4),
	"target_version":  "5.0.8308.291",
}

// nonASCIIPlaceholders are the placeholders of the facts that may hold
// characters beyond ASCII.
var nonASCIIPlaceholders = map[string]string{
	"update_path": "D:\\Placeholder\\\u00dcbersicht\\Installer.exe",
}

// baselineKey names the baseline of a value: its field, and whether it is
// ASCII.
func baselineKey(field, value string) string {
	if isASCII(value) {
		return field
	}
	return field + " (non-ASCII)"
}

func loadHostileCases(t testing.TB) []hostileCase {
	t.Helper()
	data, err := os.ReadFile(hostileCasesFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cases []hostileCase
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("%s: %v", hostileCasesFile, err)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if _, ok := hostileBase[c.Field]; !ok || seen[c.Name] || !slices.Contains([]string{"", "accept", "reject"}, c.Expect) {
			t.Fatalf("%s: case %q: unknown field, repeated name or unknown expect", hostileCasesFile, c.Name)
		}
		seen[c.Name] = true
	}
	return cases
}

// hostileFacts sets field to value over the field's base facts, through
// the facts file's JSON keys.
func hostileFacts(t testing.TB, field, value string) generator.Facts {
	t.Helper()
	m := map[string]any{field: value}
	for k, v := range hostileBase[field] {
		m[k] = v
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := generator.DecodeFacts(data)
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return f
}

// scriptValue is the value a fact has in the script: the plan keeps the
// SHA-256 in lower case, so that it compares with what Get-Sha256 returns.
func scriptValue(field, value string) string {
	if field == "update_sha256" {
		return strings.ToLower(value)
	}
	return value
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// TestHostileFacts runs every hostile value through validation. Either
// validation rejects it, with one clear problem for that fact, or the
// script parses cleanly, is 7-bit ASCII without a BOM, and holds the
// value as exactly one quoted expression (a verbatim string, or a chain
// of verbatim strings and [char] casts), assigned to the fact's variable,
// that reads back from the parse tree as exactly the value, in a parse
// tree that is the placeholder's but for that expression. (Windows
// PowerShell 5.1 reads a BOM-less file as ANSI, where the UTF-8 bytes of
// Ñ, Ò or Â hold a curly single quote that would end a string.)
func TestHostileFacts(t *testing.T) {
	t.Parallel()
	cases := loadHostileCases(t)
	if len(cases) < 200 {
		t.Fatalf("%s has %d cases; the corpus needs at least 200", hostileCasesFile, len(cases))
	}
	dir := t.TempDir()

	// Baselines first: files[i] for field i in sorted order, then cases.
	fields := slices.Sorted(func(yield func(string) bool) {
		for f := range factVariables {
			if !yield(f) {
				return
			}
		}
	})
	var files []string
	type baseline struct{ field, value string }
	var baselineValues []baseline
	for _, field := range fields {
		baselineValues = append(baselineValues, baseline{field, placeholders[field]})
		if v, ok := nonASCIIPlaceholders[field]; ok {
			baselineValues = append(baselineValues, baseline{field, v})
		}
	}
	for i, b := range baselineValues {
		_, out := render(t, hostileFacts(t, b.field, b.value))
		path := filepath.Join(dir, fmt.Sprintf("baseline-%d.ps1", i))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	var accepted []hostileCase
	rejected := 0
	for i, c := range cases {
		f := hostileFacts(t, c.Field, c.Value)
		if ps := generator.Validate(f); len(ps) > 0 {
			rejected++
			if c.Expect == "accept" {
				t.Errorf("%s: rejected, but it is a valid %s: %v", c.Name, c.Field, ps)
			}
			if problem := rejectionProblem(ps, c.Field); problem != "" {
				t.Errorf("%s: %s", c.Name, problem)
			}
			continue
		}
		if c.Expect == "reject" {
			t.Errorf("%s: %s %+q was accepted; it must be rejected", c.Name, c.Field, c.Value)
		}
		if _, ok := factVariables[c.Field]; !ok {
			t.Errorf("%s: %s %+q was accepted, but it is not one of the allowed values", c.Name, c.Field, c.Value)
			continue
		}
		_, out := render(t, f)
		path := filepath.Join(dir, fmt.Sprintf("case-%03d.ps1", i))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
		accepted = append(accepted, c)
	}
	if rejected == 0 || len(accepted) == 0 {
		t.Fatalf("%d cases rejected and %d accepted: the corpus must exercise both", rejected, len(accepted))
	}
	t.Logf("%d hostile cases: %d rejected by validation, %d accepted", len(cases), rejected, len(accepted))

	// Validation is checked above even without Node.js; the parse needs it.
	scripts, err := pscheck.New(t).Parse(files...)
	if err != nil {
		t.Fatal(err)
	}
	baselines := map[string]*pscheck.Script{}
	for i, b := range baselineValues {
		baselines[baselineKey(b.field, b.value)] = &scripts[i]
		if problems := checkFactLiteral(&scripts[i], nil, b.field, b.value); len(problems) > 0 {
			t.Fatalf("baseline for %s %+q: %s", b.field, b.value, strings.Join(problems, "\n"))
		}
	}
	for i, c := range accepted {
		s := &scripts[len(baselineValues)+i]
		for _, problem := range checkFactLiteral(s, baselines[baselineKey(c.Field, c.Value)], c.Field, c.Value) {
			t.Errorf("%s (%s): %s", c.Name, s.File, problem)
		}
	}
}

// rejectionProblem describes what is wrong with the problems validation
// returned for a value of field, or returns "" when they are right: one
// problem, about that field, on one line a terminal shows as written
// (the value escaped), saying what is allowed or what the limit is.
func rejectionProblem(ps generator.Problems, field string) string {
	if len(ps) != 1 || ps[0].Field != field {
		return fmt.Sprintf("want one problem with %s, got %q", field, ps.Error())
	}
	if msg := messageProblem(ps[0].Message); msg != "" {
		return msg
	}
	if m := ps[0].Message; !strings.Contains(m, "allowed") && !strings.Contains(m, "over the") {
		return fmt.Sprintf("the message %q says neither what is allowed nor the limit", m)
	}
	return ""
}

// messageProblem checks that a problem's message is one line of visible
// text: a bad value must be shown escaped, never as itself.
func messageProblem(m string) string {
	if m == "" || !utf8.ValidString(m) {
		return fmt.Sprintf("the message %q is empty or not UTF-8", m)
	}
	for _, r := range m {
		if !unicode.IsGraphic(r) {
			return fmt.Sprintf("the message %+q holds U+%04X, which a terminal does not show as itself", m, r)
		}
	}
	return ""
}

// checkFactLiteral checks the script of an accepted value of field. With
// a baseline (the placeholder's script) it also checks that the value
// changed nothing in the parse tree but its own expression.
func checkFactLiteral(s, baseline *pscheck.Script, field, value string) []string {
	if len(s.Errors) > 0 {
		return []string{"syntax errors:\n" + s.ErrorText()}
	}
	var problems []string
	if !isASCII(string(s.Source)) || bytes.HasPrefix(s.Source, utf8BOM) {
		problems = append(problems, "the script is not 7-bit ASCII without a BOM")
	}
	want := scriptValue(field, value)
	span, err := factExpression(s, factVariables[field])
	if err != nil {
		return append(problems, err.Error())
	}
	if got, err := readFromTree(s, span); err != nil || got != want {
		problems = append(problems, fmt.Sprintf("$%s = %s reads back as %+q (%v), want %+q", factVariables[field], s.Text(span), got, err, want))
	}
	for _, str := range s.Strings {
		switch {
		case span.Contains(str.Span):
		case str.Value != nil && *str.Value == want:
			problems = append(problems, fmt.Sprintf("line %d: the value is in a %s string outside its expression", str.Line, str.Kind))
		case str.Value == nil && strings.Contains(str.Raw, want):
			problems = append(problems, fmt.Sprintf("line %d: the value is inside a %s string, where PowerShell expands it", str.Line, str.Kind))
		}
	}
	if baseline != nil {
		bspan, err := factExpression(baseline, factVariables[field])
		if err != nil {
			return append(problems, "baseline: "+err.Error())
		}
		problems = append(problems, sameTreeBut(s, baseline, span, bspan)...)
	}
	return problems
}

// factExpression returns the span of the quoted expression that the
// fact's variable is given: the default of a script parameter, or the
// value of an assignment; exactly one of them may be a quoted expression
// (-UpdatePath is also set from the script's folder when it is empty).
func factExpression(s *pscheck.Script, name string) (pscheck.Span, error) {
	quoted := func(v string) bool { return strings.HasPrefix(v, "'") || strings.HasPrefix(v, "('") }
	var spans []pscheck.Span
	for _, b := range s.ParamBlocks {
		for _, p := range b.Params {
			if b.Function == "" && b.ScriptBlockDepth == 0 && strings.EqualFold(p.Name, "$"+name) && p.Default != nil && quoted(*p.Default) {
				spans = append(spans, p.DefaultSpan)
			}
		}
	}
	for _, a := range assignments(s, name) {
		if quoted(a.Value) {
			spans = append(spans, a.ValueSpan)
		}
	}
	if len(spans) != 1 {
		return pscheck.Span{}, fmt.Errorf("$%s is given a quoted expression %d times, want once", name, len(spans))
	}
	return spans[0], nil
}

// sameTreeBut compares what psparse reports of two scripts, but the
// strings inside the fact's expression (span of s, bspan of baseline). A
// value that escaped its expression would add or change commands,
// strings, node types or member calls.
func sameTreeBut(s, baseline *pscheck.Script, span, bspan pscheck.Span) []string {
	outside := func(sc *pscheck.Script, sp pscheck.Span) []pscheck.String {
		var strs []pscheck.String
		for _, str := range sc.Strings {
			if !sp.Contains(str.Span) {
				strs = append(strs, str)
			}
		}
		return strs
	}
	got, want := outside(s, span), outside(baseline, bspan)
	if len(got) != len(want) {
		return []string{fmt.Sprintf("%d string literals outside the fact's expression, the placeholder's script has %d", len(got), len(want))}
	}
	for i, str := range got {
		if b := want[i]; str.Raw != b.Raw || str.Kind != b.Kind {
			return []string{fmt.Sprintf("line %d: string %s, where the placeholder's script has %s", str.Line, str.Raw, b.Raw)}
		}
	}
	if len(s.Commands) != len(baseline.Commands) {
		return []string{fmt.Sprintf("%d commands, the placeholder's script has %d", len(s.Commands), len(baseline.Commands))}
	}
	for i, c := range s.Commands {
		b := baseline.Commands[i]
		same := c.Name == b.Name && c.Function == b.Function && c.ScriptBlockDepth == b.ScriptBlockDepth && slices.Equal(c.Elements, b.Elements)
		if !same {
			return []string{fmt.Sprintf("line %d: command %s %q, where the placeholder's script has %s %q", c.Line, c.Name, c.Elements, b.Name, b.Elements)}
		}
	}
	if !slices.Equal(s.NodeTypes, baseline.NodeTypes) || !slices.EqualFunc(s.MemberCalls, baseline.MemberCalls,
		func(a, b pscheck.MemberCall) bool { return a.Name == b.Name }) {
		return []string{"the node types or member calls differ from the placeholder's script"}
	}
	return nil
}

// TestHostileCorpusCoversEveryFact keeps the corpus honest: every fact
// has cases, and each kind of attack is tried on every fact that reaches
// the script as text.
func TestHostileCorpusCoversEveryFact(t *testing.T) {
	cases := loadHostileCases(t)
	perField := map[string][]string{}
	for _, c := range cases {
		perField[c.Field] = append(perField[c.Field], c.Value)
	}
	attacks := map[string]func(string) bool{
		"a PowerShell single quote": func(v string) bool { return strings.ContainsAny(v, "'\u2018\u2019\u201a\u201b") },
		"a PowerShell double quote": func(v string) bool { return strings.ContainsAny(v, "\"\u201c\u201d\u201e") },
		"$(":                        func(v string) bool { return strings.Contains(v, "$(") },
		"a backtick":                func(v string) bool { return strings.Contains(v, "`") },
		"a line break":              func(v string) bool { return strings.ContainsAny(v, "\r\n\u0085\u2028\u2029") },
		"a comment delimiter":       func(v string) bool { return strings.Contains(v, "#>") || strings.Contains(v, "<#") },
		"an invisible character": func(v string) bool {
			return strings.ContainsFunc(v, func(r rune) bool { return unicode.Is(unicode.Cf, r) })
		},
		"a non-ASCII character": func(v string) bool { return !isASCII(v) },
		"a very long value":     func(v string) bool { return len(v) > 300 },
	}
	for field := range hostileBase {
		for name, present := range attacks {
			if !slices.ContainsFunc(perField[field], present) {
				t.Errorf("no %s case holds %s", field, name)
			}
		}
	}
}
