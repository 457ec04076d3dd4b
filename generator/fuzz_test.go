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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
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

// FuzzPSQuote: the literal PSQuote makes, read back by PowerShell's rules,
// is the input, and both PowerShell and the grammar psparse uses end it
// at its last character: no quote inside is left unpaired. Invalid UTF-8
// cannot reach a script (validation rejects it, and a script is UTF-8
// text); PSQuote turns each bad byte into U+FFFD, as ranging over the
// string does.
func FuzzPSQuote(f *testing.F) {
	for _, s := range quoteSeeds(f) {
		f.Add(s)
	}
	f.Add("'\u2019\u2019'")
	f.Add(strings.Repeat("\u201b'", 100))
	f.Fuzz(func(t *testing.T, s string) {
		lit := generator.PSQuote(s)
		if !utf8.ValidString(lit) {
			t.Fatalf("PSQuote(%+q) = %+q, not UTF-8", s, lit)
		}
		want := string([]rune(s))
		value, n, ok := readVerbatim(lit, isPSQuote)
		if !ok || n != len(lit) || value != want {
			t.Fatalf("PSQuote(%+q) = %+q, which PowerShell reads as %+q (%d of %d bytes, closed %v)", s, lit, value, n, len(lit), ok)
		}
		if _, n, ok := readVerbatim(lit, isASCIIQuote); !ok || n != len(lit) {
			t.Fatalf("PSQuote(%+q) = %+q, which the grammar ends after %d of %d bytes (closed %v)", s, lit, n, len(lit), ok)
		}
	})
}

// TestPSQuoteAgreesWithPsparse keeps readVerbatim, psparse's reading of a
// verbatim string and PSQuote in step, on every seed.
func TestPSQuoteAgreesWithPsparse(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	var want []string
	for _, s := range quoteSeeds(t) {
		// The grammar takes NUL for the end of the input, where PowerShell
		// takes it for a character; validation rejects it anyway.
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
			src.WriteString("$v = " + generator.PSQuote(s) + "\r\n")
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
	s := scripts[0]
	if len(s.Errors) > 0 {
		t.Fatalf("syntax errors:\n%s", s.ErrorText())
	}
	if len(s.Strings) != len(want) {
		t.Fatalf("psparse found %d strings in %d assignments", len(s.Strings), len(want))
	}
	for i, str := range s.Strings {
		if str.Kind != "verbatim" || str.Value == nil || *str.Value != want[i] {
			t.Errorf("psparse reads %s as %s %v, want %+q", str.Raw, str.Kind, str.Value, want[i])
		}
		if value, _, _ := readVerbatim(str.Raw, isPSQuote); value != want[i] {
			t.Errorf("readVerbatim reads %s as %+q, want %+q", str.Raw, value, want[i])
		}
	}
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
// CRLF only, a BOM exactly when a fact is not ASCII, each text fact as
// its quoted literal.
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
	factsASCII := isASCII(f.Product + f.Edition)
	for field, v := range texts {
		factsASCII = factsASCII && isASCII(v)
		if v != "" && !bytes.Contains(script, []byte(generator.PSQuote(scriptValue(field, v)))) {
			t.Errorf("%s %+q is not in the script as its quoted literal", field, v)
		}
	}
	body, hasBOM := bytes.CutPrefix(script, utf8BOM)
	if hasBOM == factsASCII {
		t.Errorf("BOM = %v, but the facts are ASCII = %v", hasBOM, factsASCII)
	}
	if !hasBOM && !isASCII(string(script)) {
		t.Error("a script with non-ASCII text has no BOM")
	}
	if !utf8.Valid(body) {
		t.Error("the script is not UTF-8")
	}
	if n, crlf := bytes.Count(body, []byte("\n")), bytes.Count(body, []byte("\r\n")); n != crlf || !bytes.HasSuffix(body, []byte("\r\n")) {
		t.Errorf("%d LF, %d of them in CRLF; the script must end with CRLF", n, crlf)
	}
	if bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\r")) {
		t.Error("a lone CR")
	}
}
