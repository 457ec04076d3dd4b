package generator

import (
	"os"
	"strings"
	"testing"
)

// TestTablesAreCovered: every entry of the products, editions and facts
// tables is in the README, and every product and edition variant has a
// facts case, so that adding an entry without its documentation and its
// golden files fails.
func TestTablesAreCovered(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	row := func(flag string) string {
		for _, line := range strings.Split(readme, "\n") {
			if strings.HasPrefix(line, "| `"+flag) {
				return line
			}
		}
		return ""
	}
	for _, f := range Fields {
		line := row(f.Flag)
		if line == "" || !strings.Contains(line, "`"+f.Key+"`") {
			t.Errorf("README.md: the flags table has no row for %s with its facts file field `%s`", f.Flag, f.Key)
		}
	}
	for _, key := range ProductKeys() {
		if !strings.Contains(row("--product"), key) {
			t.Errorf("README.md: the --product row does not list %s", key)
		}
	}
	for _, key := range EditionKeys() {
		if !strings.Contains(row("--edition"), key) {
			t.Errorf("README.md: the --edition row does not list %s", key)
		}
	}
	cases := validCases(t)
	for _, product := range ProductKeys() {
		for _, e := range editions {
			collocated := []bool{false}
			if e.Enterprise {
				collocated = append(collocated, true)
			}
			for _, c := range collocated {
				if !hasCase(cases, product, e.Key, c) {
					t.Errorf("testdata/facts: no case for %s %s with collocated stores %v", product, e.Key, c)
				}
			}
		}
	}
}

func hasCase(cases map[string]Facts, product, edition string, collocated bool) bool {
	for _, f := range cases {
		if f.Product == product && f.Edition == edition && f.CollocatedStores == collocated {
			return true
		}
	}
	return false
}

// TestFrontEndGuard: an Enterprise Edition plan refuses a Front End
// Server for the whole run only, once the read child has run; a Standard
// Edition plan, whose server is its own Front End, has no such check.
func TestFrontEndGuard(t *testing.T) {
	for _, f := range []Facts{
		{Product: "sfb2015", Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com"},
		{Product: "sfb2019", Edition: EditionStandard},
	} {
		p, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		module, guard := -1, -1
		for i, c := range p.Preflight {
			switch c.ID {
			case "module":
				module = i
			case "not-front-end":
				guard = i
				if c.DatabaseOnly || c.OnlyDatabaseOnly {
					t.Errorf("%s: not-front-end runs with -DatabaseOnly, the run a Front End is for", f.Edition)
				}
			}
		}
		switch {
		case f.Edition == EditionStandard && guard >= 0:
			t.Errorf("standard: a not-front-end check would refuse every Standard Edition server")
		case f.Edition == EditionEnterprise && guard < module:
			t.Errorf("enterprise: not-front-end at %d, the module check (the read child) at %d", guard, module)
		}
	}
}
