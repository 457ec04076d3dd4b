package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sebdah/goldie/v2"
)

// factsDir holds one facts file per case; cases named invalid-* must be
// rejected, and their golden file is the error text.
const factsDir = "../testdata/facts"

// goldenDir holds the expected bytes. Regenerate with
// GOLDIE_UPDATE=1 go test ./generator/ and read the diff before committing.
const goldenDir = "../testdata/golden"

func loadFacts(t testing.TB, path string) Facts {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Facts
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func factCases(t testing.TB) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(factsDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no facts files in %s: %v", factsDir, err)
	}
	cases := map[string]string{}
	for _, p := range paths {
		cases[strings.TrimSuffix(filepath.Base(p), ".json")] = p
	}
	return cases
}

func newGoldie(t *testing.T, suffix string) *goldie.Goldie {
	return goldie.New(t,
		goldie.WithFixtureDir(goldenDir),
		goldie.WithNameSuffix(suffix),
		goldie.WithDiffFn(func(actual, expected string) string {
			return cmp.Diff(expected, actual) // -want +got
		}),
	)
}

func TestGoldenScripts(t *testing.T) {
	for name, path := range factCases(t) {
		t.Run(name, func(t *testing.T) {
			f := loadFacts(t, path)
			var out bytes.Buffer
			err := Generate(&out, f)
			if strings.HasPrefix(name, "invalid-") {
				var ps Problems
				if !errors.As(err, &ps) {
					t.Fatalf("want validation problems, got %v", err)
				}
				if out.Len() != 0 {
					t.Errorf("rejected facts wrote %d bytes", out.Len())
				}
				newGoldie(t, ".err").Assert(t, name, []byte(ps.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			newGoldie(t, ".ps1.golden").Assert(t, name, out.Bytes())
		})
	}
}

func TestScriptIsDeterministic(t *testing.T) {
	for name, path := range factCases(t) {
		if strings.HasPrefix(name, "invalid-") {
			continue
		}
		f := loadFacts(t, path)
		var a, b bytes.Buffer
		if err := Generate(&a, f); err != nil {
			t.Fatal(err)
		}
		if err := Generate(&b, f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: two runs gave different bytes", name)
		}
	}
}

// TestScriptEncoding checks the rules every script follows: CRLF only,
// one final newline, ASCII unless a fact is not, then a UTF-8 BOM.
func TestScriptEncoding(t *testing.T) {
	for name, path := range factCases(t) {
		if strings.HasPrefix(name, "invalid-") {
			continue
		}
		f := loadFacts(t, path)
		var out bytes.Buffer
		if err := Generate(&out, f); err != nil {
			t.Fatal(err)
		}
		b := out.Bytes()
		hasBOM := bytes.HasPrefix(b, utf8BOM)
		factsASCII := isASCII([]byte(f.UpdatePath + f.SQLServerFQDN + f.ServerFQDN))
		if hasBOM == factsASCII {
			t.Errorf("%s: BOM = %v, but facts ASCII = %v", name, hasBOM, factsASCII)
		}
		if !hasBOM && !isASCII(b) {
			t.Errorf("%s: non-ASCII script without a BOM", name)
		}
		if n := bytes.Count(b, []byte("\n")); n != bytes.Count(b, []byte("\r\n")) {
			t.Errorf("%s: %d LF, of which only %d in CRLF", name, n, bytes.Count(b, []byte("\r\n")))
		}
		if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\r")) {
			t.Errorf("%s: a lone CR", name)
		}
		if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.HasSuffix(b, []byte("\r\n\r\n")) {
			t.Errorf("%s: must end with exactly one CRLF", name)
		}
	}
}
