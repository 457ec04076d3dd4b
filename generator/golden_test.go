package generator

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sebdah/goldie/v2"
)

// goldieIn compares with the golden files of a folder of GoldenDir, whose
// names carry their own suffix.
func goldieIn(t *testing.T, folder string) *goldie.Goldie {
	return goldie.New(t,
		goldie.WithFixtureDir(filepath.Join(GoldenDir, folder)),
		goldie.WithNameSuffix(""),
		goldie.WithDiffFn(func(actual, expected string) string {
			return cmp.Diff(expected, actual) // -want +got
		}),
	)
}

func newGoldie(t *testing.T, suffix string) *goldie.Goldie {
	return goldie.New(t,
		goldie.WithFixtureDir(GoldenDir),
		goldie.WithNameSuffix(suffix),
		goldie.WithDiffFn(func(actual, expected string) string {
			return cmp.Diff(expected, actual) // -want +got
		}),
	)
}

// testVersion is the version the golden files record, so that they do not
// change with every release.
const testVersion = "0.0.0-test"

// goldenFormats are the outputs golden-tested for every valid case.
var goldenFormats = []struct {
	format Format
	suffix string
}{
	{FormatScript, ".ps1.golden"},
	{FormatRunbook, ".md.golden"},
	{FormatJSON, ".json.golden"},
}

// validCases are the facts cases that must generate, by name.
func validCases(t testing.TB) map[string]Facts {
	t.Helper()
	cases := map[string]Facts{}
	for _, c := range LoadFactCases(t) {
		if !c.Invalid() {
			cases[c.Name] = c.Facts
		}
	}
	return cases
}

func generate(t testing.TB, f Facts, format Format) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Generate(&out, f, Options{Format: format, Version: testVersion}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestGoldenOutputs(t *testing.T) {
	for name, f := range validCases(t) {
		for _, g := range goldenFormats {
			t.Run(name+"/"+string(g.format), func(t *testing.T) {
				newGoldie(t, g.suffix).Assert(t, name, generate(t, f, g.format))
			})
		}
	}
}

func TestGoldenInvalidFacts(t *testing.T) {
	for _, c := range LoadFactCases(t) {
		if !c.Invalid() {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			for _, g := range goldenFormats {
				var out bytes.Buffer
				err := Generate(&out, c.Facts, Options{Format: g.format, Version: testVersion})
				var ps Problems
				if !errors.As(err, &ps) {
					t.Fatalf("%s: want validation problems, got %v", g.format, err)
				}
				if out.Len() != 0 {
					t.Errorf("%s: rejected facts wrote %d bytes", g.format, out.Len())
				}
				newGoldie(t, ".err").Assert(t, c.Name, []byte(ps.Error()+"\n"))
			}
		})
	}
}

func TestOutputsAreDeterministic(t *testing.T) {
	for name, f := range validCases(t) {
		for _, g := range goldenFormats {
			if !bytes.Equal(generate(t, f, g.format), generate(t, f, g.format)) {
				t.Errorf("%s %s: two runs gave different bytes", name, g.format)
			}
		}
	}
}

// TestScriptEncoding checks the rules every script follows: CRLF only,
// one final newline, 7-bit ASCII without a BOM whatever the facts.
func TestScriptEncoding(t *testing.T) {
	for name, f := range validCases(t) {
		b := generate(t, f, FormatScript)
		if i := bytes.IndexFunc(b, func(r rune) bool { return r >= 0x80 }); i >= 0 {
			t.Errorf("%s: byte %d is not 7-bit ASCII", name, i)
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

// TestRunbookAndJSONEncoding: UTF-8 without BOM, LF only, one final newline.
func TestRunbookAndJSONEncoding(t *testing.T) {
	for name, f := range validCases(t) {
		for _, format := range []Format{FormatRunbook, FormatJSON} {
			b := generate(t, f, format)
			switch {
			case bytes.HasPrefix(b, utf8BOM):
				t.Errorf("%s %s: starts with a BOM", name, format)
			case bytes.Contains(b, []byte("\r")):
				t.Errorf("%s %s: holds a CR", name, format)
			case !bytes.HasSuffix(b, []byte("\n")) || bytes.HasSuffix(b, []byte("\n\n")):
				t.Errorf("%s %s: must end with exactly one LF", name, format)
			}
		}
	}
}

// TestShapeBodiesAreTheTemplates: a script made from its shape's body is,
// byte for byte, the script the template renders from the plan, for every
// facts case and for other values of the same shapes.
func TestShapeBodiesAreTheTemplates(t *testing.T) {
	cases := validCases(t)
	variants := map[string]Facts{}
	for name, f := range cases {
		variants[name] = f
		g := f
		if g.UpdatePath != "" {
			g.UpdatePath = `D:\Other ` + "\u05d1" + `'s\SkypeServerUpdateInstaller.exe`
		}
		if g.SQLServerFQDN != "" {
			g.SQLServerFQDN = "sql-other.fabrikam.com"
		}
		variants[name+"/other values"] = g
	}
	for name, f := range variants {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []Format{FormatScript, FormatRunbook} {
			shaped, err := render(plan, Options{Format: format, Version: testVersion}, true)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := Render(plan, Options{Format: format, Version: testVersion})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(shaped, direct) {
				t.Errorf("%s %s: the shape's body differs from the template's", name, format)
			}
		}
	}
}
