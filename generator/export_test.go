package generator

// The names below are for this package's external tests (the psparse
// checks, the hostile corpus, the fuzz seeds), which see them because
// they are in a _test.go file of the package.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FactsDir holds one facts file per case; cases named invalid-* must be
// rejected, and their golden file is the error text.
const FactsDir = "../testdata/facts"

// GoldenDir holds the expected bytes. Regenerate with
// GOLDIE_UPDATE=1 go test ./generator/ and read the diff before committing.
const GoldenDir = "../testdata/golden"

// FactCase is one facts file of FactsDir; Name is its file name without
// .json.
type FactCase struct {
	Name  string
	Path  string
	Facts Facts
}

// Invalid reports whether validation must reject the case.
func (c FactCase) Invalid() bool { return strings.HasPrefix(c.Name, "invalid-") }

// LoadFactCases reads every facts case, sorted by name.
func LoadFactCases(t testing.TB) []FactCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(FactsDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no facts files in %s: %v", FactsDir, err)
	}
	cases := make([]FactCase, len(paths))
	for i, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, _, err := DecodeFacts(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases[i] = FactCase{Name: strings.TrimSuffix(filepath.Base(path), ".json"), Path: path, Facts: f}
	}
	return cases
}
