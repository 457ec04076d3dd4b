package generator_test

// Fuzz tests. Run each for minutes, one after the other:
//
//	go test ./generator/ -run '^$' -fuzz FuzzPSQuote -fuzztime 5m
//	go test ./generator/ -run '^$' -fuzz FuzzGenerate -fuzztime 5m
//
// Plain go test runs their seeds: testdata/fuzz/ at the repository root,
// the hostile corpus, the facts cases, and any crasher go test -fuzz
// saved in generator/testdata/fuzz/.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

const fuzzSeedDir = "../testdata/fuzz"

// seedLines returns the lines of a seed file, without blank lines and
// # comments.
func seedLines(t testing.TB, name string) []string {
	t.Helper()
	file, err := os.Open(filepath.Join(fuzzSeedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// quoteSeeds are psquote.txt (one Go string literal a line, so that
// invalid UTF-8 and control characters can be written) and every hostile
// value.
func quoteSeeds(t testing.TB) []string {
	t.Helper()
	var seeds []string
	for _, line := range seedLines(t, "psquote.txt") {
		s, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("psquote.txt: %s: %v", line, err)
		}
		seeds = append(seeds, s)
	}
	for _, c := range loadHostileCases(t) {
		seeds = append(seeds, c.Value)
	}
	return seeds
}

// isPSQuote reports whether PowerShell's tokenizer takes r for a single
// quote: ' and U+2018 to U+201B, as in quote.go and psparse.js.
func isPSQuote(r rune) bool {
	return strings.ContainsRune("'\u2018\u2019\u201a\u201b", r)
}

// isASCIIQuote is the single quote of the tree-sitter grammar, which
// knows no other.
func isASCIIQuote(r rune) bool { return r == '\'' }

// readVerbatim reads the verbatim string literal at the start of lit as a
// tokenizer with the given quote characters does: inside the quotes, a
// quote followed by another quote stands for the second one, and any
// other quote ends the literal. It returns the value and the literal's
// length in bytes; ok is false when lit does not start a closed literal.
func readVerbatim(lit string, isQuote func(rune) bool) (value string, n int, ok bool) {
	r, size := utf8.DecodeRuneInString(lit)
	if !isQuote(r) {
		return "", 0, false
	}
	var b strings.Builder
	for i := size; i < len(lit); {
		r, size := utf8.DecodeRuneInString(lit[i:])
		i += size
		if isQuote(r) {
			next, nextSize := utf8.DecodeRuneInString(lit[i:])
			if i == len(lit) || !isQuote(next) {
				return b.String(), i, true
			}
			r, i = next, i+nextSize
		}
		b.WriteRune(r)
	}
	return "", 0, false
}

// charCast is one [char] cast of a PSQuote chain: a UTF-16 code unit.
var charCast = regexp.MustCompile(`^\[char\]0x([0-9A-F]{4})`)

// readPSQuoted reads the expression PSQuote makes, as PowerShell would: a
// verbatim literal, or ( literal + ... + [char]0xHHHH + ... ) starting with
// a literal. literal reads the literal at the start of its argument and
// returns its value and length. It returns the value and whether expr is
// exactly one such expression.
func readPSQuoted(expr string, literal func(string) (string, int, bool)) (string, bool) {
	if !strings.HasPrefix(expr, "(") {
		value, n, ok := literal(expr)
		return value, ok && n == len(expr)
	}
	var units []uint16
	rest := expr[1:]
	for first := true; ; first = false {
		if !first {
			var ok bool
			if rest, ok = strings.CutPrefix(rest, " + "); !ok {
				break
			}
		}
		if m := charCast.FindStringSubmatch(rest); m != nil && !first {
			unit, _ := strconv.ParseUint(m[1], 16, 16)
			units = append(units, uint16(unit))
			rest = rest[len(m[0]):]
			continue
		}
		value, n, ok := literal(rest)
		if !ok {
			return "", false
		}
		units = append(units, utf16.Encode([]rune(value))...)
		rest = rest[n:]
	}
	return string(utf16.Decode(units)), rest == ")"
}

// FuzzPSQuote: the expression PSQuote makes is 7-bit ASCII and, read back
// by PowerShell's rules, is the input; PowerShell and the grammar psparse
// uses end each literal in it at the same character. Invalid UTF-8 cannot
// reach a script (validation rejects it); PSQuote turns each bad byte into
// U+FFFD, as ranging over the string does.
func FuzzPSQuote(f *testing.F) {
	for _, s := range quoteSeeds(f) {
		f.Add(s)
	}
	f.Add("'\u2019\u2019'")
	f.Add(strings.Repeat("\u201b'", 100))
	f.Fuzz(func(t *testing.T, s string) {
		expr := generator.PSQuote(s)
		if !isASCII(expr) {
			t.Fatalf("PSQuote(%+q) = %+q, not 7-bit ASCII", s, expr)
		}
		want := string([]rune(s))
		agree := func(lit string) (string, int, bool) {
			value, n, ok := readVerbatim(lit, isPSQuote)
			if _, gn, gok := readVerbatim(lit, isASCIIQuote); gok != ok || gn != n {
				return "", 0, false
			}
			return value, n, ok
		}
		if value, ok := readPSQuoted(expr, agree); !ok || value != want {
			t.Fatalf("PSQuote(%+q) = %+q, which PowerShell reads as %+q (read whole: %v)", s, expr, value, ok)
		}
	})
}

// TestPSQuoteAgreesWithPsparse keeps readPSQuoted, psparse's reading of
// the literals and PSQuote in step, on every seed: each expression is
// read back from the parse tree's literal values.
func TestPSQuoteAgreesWithPsparse(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	var want []string
	var spans []pscheck.Span
	for _, s := range quoteSeeds(t) {
		// The grammar takes NUL for the end of the input, where PowerShell
		// takes it for a character; validation rejects it anyway.
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
			src.WriteString("$v = ")
			start := src.Len()
			src.WriteString(generator.PSQuote(s))
			spans = append(spans, pscheck.Span{Start: start, End: src.Len()})
			src.WriteString("\r\n")
			want = append(want, s)
		}
	}
	path := filepath.Join(t.TempDir(), "quotes.ps1")
	if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	scripts, err := pscheck.New(t).Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &scripts[0]
	if len(s.Errors) > 0 {
		t.Fatalf("syntax errors:\n%s", s.ErrorText())
	}
	for i, w := range want {
		if got, err := readFromTree(s, spans[i]); err != nil || got != w {
			t.Errorf("the parse tree reads %s as %+q (%v), want %+q", s.Text(spans[i]), got, err, w)
		}
	}
}

// readFromTree reads the PSQuote expression at span of a parsed script,
// each literal's value as psparse reports it.
func readFromTree(s *pscheck.Script, span pscheck.Span) (string, error) {
	expr := s.Text(span)
	value, ok := readPSQuoted(expr, func(rest string) (string, int, bool) {
		lit, ok := s.StringAt(span.Start + len(expr) - len(rest))
		if !ok || lit.Kind != "verbatim" || lit.Value == nil {
			return "", 0, false
		}
		return *lit.Value, len(lit.Raw), true
	})
	if !ok {
		return "", fmt.Errorf("%s is not one quoted expression of verbatim literals", expr)
	}
	return value, nil
}

// factSeeds are facts.jsonl, the facts cases and every hostile case.
func factSeeds(t testing.TB) []generator.Facts {
	t.Helper()
	var seeds []generator.Facts
	for _, line := range seedLines(t, "facts.jsonl") {
		f, _, err := generator.DecodeFacts([]byte(line))
		if err != nil {
			t.Fatalf("facts.jsonl: %s: %v", line, err)
		}
		seeds = append(seeds, f)
	}
	for _, c := range generator.LoadFactCases(t) {
		seeds = append(seeds, c.Facts)
	}
	for _, c := range loadHostileCases(t) {
		seeds = append(seeds, hostileFacts(t, c.Field, c.Value))
	}
	return seeds
}

// FuzzGenerate: any facts are either rejected, with a clear problem for a
// known fact, or rendered without a panic into the same bytes every time:
// CRLF only, 7-bit ASCII without a BOM whatever the facts, each text
// fact as its quoted literal.
func FuzzGenerate(f *testing.F) {
	for _, s := range factSeeds(f) {
		f.Add(s.Product, s.Edition, s.SQLServerFQDN, s.UpdatePath, s.ServerFQDN, s.UpdateSHA256, s.TargetVersion, s.CollocatedStores)
	}
	f.Fuzz(func(t *testing.T, product, edition, sql, updatePath, server, sha, target string, collocated bool) {
		facts := generator.Facts{
			Product: product, Edition: edition, SQLServerFQDN: sql, CollocatedStores: collocated,
			UpdatePath: updatePath, ServerFQDN: server, UpdateSHA256: sha, TargetVersion: target,
		}
		ps := generator.Validate(facts)
		plan, err := generator.BuildPlan(facts)
		if len(ps) > 0 {
			var got generator.Problems
			if !errors.As(err, &got) || !slices.Equal(got, ps) {
				t.Fatalf("Validate found %q, but BuildPlan returned %v", ps, err)
			}
			for _, p := range ps {
				if !slices.ContainsFunc(generator.Fields, func(f generator.Field) bool { return f.Key == p.Field }) {
					t.Errorf("problem with unknown fact %q: %s", p.Field, p.Message)
				}
				if msg := messageProblem(p.Message); msg != "" {
					t.Errorf("%s: %s", p.Field, msg)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Validate found no problem, but BuildPlan returned %v", err)
		}
		a, err := generator.RenderScript(plan, generator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := generator.RenderScript(plan, generator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two renders of the same plan differ")
		}
		checkScriptBytes(t, a, facts)
	})
}

func checkScriptBytes(t *testing.T, script []byte, f generator.Facts) {
	t.Helper()
	texts := map[string]string{
		"sql_server_fqdn": f.SQLServerFQDN, "update_path": f.UpdatePath, "server_fqdn": f.ServerFQDN,
		"update_sha256": f.UpdateSHA256, "target_version": f.TargetVersion,
	}
	for field, v := range texts {
		if v != "" && !bytes.Contains(script, []byte(generator.PSQuote(scriptValue(field, v)))) {
			t.Errorf("%s %+q is not in the script as its quoted literal", field, v)
		}
	}
	body := script
	if !isASCII(string(script)) || bytes.HasPrefix(script, utf8BOM) {
		t.Error("the script is not 7-bit ASCII without a BOM")
	}
	if n, crlf := bytes.Count(body, []byte("\n")), bytes.Count(body, []byte("\r\n")); n != crlf || !bytes.HasSuffix(body, []byte("\r\n")) {
		t.Errorf("%d LF, %d of them in CRLF; the script must end with CRLF", n, crlf)
	}
	if bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\r")) {
		t.Error("a lone CR")
	}
}
