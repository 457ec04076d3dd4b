package generator

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestWindowHoldsOnlyTheDocumentedWork holds every variant's downtime
// window to DESIGN.md: at most two children that import the module, at
// most one prompt, no hash and no version read; it starts with the
// child of the stop phase and ends with the command that ends the downtime.
func TestWindowHoldsOnlyTheDocumentedWork(t *testing.T) {
	for name, f := range validCases(t) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		w := plan.Window
		if got := plan.WindowCount(KindChildShell); got > 2 {
			t.Errorf("%s: %d child shells in the window, want at most 2", name, got)
		}
		if got := plan.WindowCount(KindPrompt); got > 1 {
			t.Errorf("%s: %d prompts in the window, want at most 1", name, got)
		}
		for _, kind := range []string{KindHash, KindVersionRead, KindDatabaseScan} {
			if got := plan.WindowCount(kind); got > 0 {
				t.Errorf("%s: %d %s operations in the window, want none", name, got, kind)
			}
		}
		if len(w) == 0 || w[0].Kind != KindChildShell || w[0].DocStep != plan.Steps[0].DocStep || !plan.Steps[0].StartsDowntime {
			t.Fatalf("%s: the window does not start with the child of the first step, which stops: %+v", name, w)
		}
		last := plan.Steps[slices.IndexFunc(plan.Steps, func(s Step) bool { return s.EndsDowntime })]
		if w[len(w)-1].Command != last.Commands[len(last.Commands)-1] {
			t.Errorf("%s: the window ends with %q, want %q", name, w[len(w)-1].Command, last.Commands[len(last.Commands)-1])
		}
		var inWindow []string
		for _, c := range plan.Children {
			if c.InWindow {
				inWindow = append(inWindow, c.Phase)
			}
		}
		var started []string
		for i, op := range w {
			if op.Number != i+1 {
				t.Errorf("%s: window operation %d is numbered %d", name, i+1, op.Number)
			}
			if op.Kind == KindChildShell {
				started = append(started, op.Command)
			}
			if op.Where != "script" && !slices.Contains(inWindow, op.Where) {
				t.Errorf("%s: %q runs in %q, which is no child of the window", name, op.Command, op.Where)
			}
		}
		var want []string
		for _, phase := range inWindow {
			want = append(want, "powershell.exe -NoProfile -NonInteractive -File <this script> -Phase "+phase)
		}
		if !slices.Equal(started, want) {
			t.Errorf("%s: the window starts %q, want %q", name, started, want)
		}
	}
}

// TestDatabaseOwnsOnlyWhatStep11Updates: the rows step 11's check decides
// on are those its command updates. A remote Monitoring store that is
// behind, or a collocated one that -ExcludeCollocatedStores leaves out, is
// not owned: the script reports it as a warning, never a failure.
func TestDatabaseOwnsOnlyWhatStep11Updates(t *testing.T) {
	database := func(f Facts) Database {
		ed, _ := LookupEdition(f.Edition)
		return ed.step11(f).Database
	}
	standardDB := database(Facts{Edition: EditionStandard})
	enterpriseDB := database(Facts{Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com"})
	collocatedDB := database(Facts{Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com", CollocatedStores: true})
	cases := []struct {
		name             string
		db               Database
		server           string
		rowServer, rowDB string
		want             bool
	}{
		{"SE: its own user store", standardDB, "se01.contoso.com", "se01.contoso.com", "rtcxds", true},
		{"SE: its own store, NetBIOS name", standardDB, "se01.contoso.com", "SE01", "rtcxds", true},
		{"SE: its own Monitoring store", standardDB, "se01.contoso.com", "se01.contoso.com", "LcsCDR", true},
		{"SE: remote Monitoring store", standardDB, "se01.contoso.com", "mon01.contoso.com", "LcsCDR", false},
		{"SE: remote Archiving store", standardDB, "se01.contoso.com", "arch01.contoso.com", "LcsLog", false},
		{"SE: a host in another domain", standardDB, "se01.contoso.com", "se01.fabrikam.com", "rtcxds", false},
		{"EE: user store", enterpriseDB, "sql01.contoso.com", "sql01.contoso.com", "rtcxds", true},
		{"EE: case differs", enterpriseDB, "sql01.contoso.com", "SQL01.Contoso.COM", "rtcab", true},
		{"EE: Monitoring on the Back End, not collocated fact", enterpriseDB, "sql01.contoso.com", "sql01.contoso.com", "LcsCDR", true},
		{"EE: remote Monitoring store", enterpriseDB, "sql01.contoso.com", "sqlmon.contoso.com", "QoEMetrics", false},
		{"EE collocated: user store", collocatedDB, "sql01.contoso.com", "sql01.contoso.com", "rtcxds", true},
		{"EE collocated: Archiving", collocatedDB, "sql01.contoso.com", "sql01.contoso.com", "LcsLog", false},
		{"EE collocated: Monitoring CDR", collocatedDB, "sql01.contoso.com", "sql01.contoso.com", "lcscdr", false},
		{"EE collocated: Monitoring QoE", collocatedDB, "sql01.contoso.com", "sql01.contoso.com", "QoEMetrics", false},
		{"EE: a longer name with the same start", enterpriseDB, "sql01.contoso.com", "sql01.contoso.com.evil.example", "rtcxds", false},
	}
	for _, c := range cases {
		if got := c.db.Owns(c.rowServer, c.rowDB, c.server); got != c.want {
			t.Errorf("%s: Owns(%q, %q, %q) = %v, want %v", c.name, c.rowServer, c.rowDB, c.server, got, c.want)
		}
	}
	if standardDB.Server != "HostFqdn" || enterpriseDB.Server != "SqlServerFqdn" {
		t.Errorf("step 11 owns the rows on $%s (Standard) and $%s (Enterprise), want $HostFqdn and $SqlServerFqdn", standardDB.Server, enterpriseDB.Server)
	}
}

// TestNightKeepsQuorumAndOrder reads window.md as the administrator
// follows it: for pools of 2 to 16 Front End Servers of every product, in
// one to three upgrade domains, every wave it lists keeps the pool's quorum
// (by the servers' places in the pool), every server is in one wave, and
// the Back End's database step comes after every wave of its pool.
func TestNightKeepsQuorumAndOrder(t *testing.T) {
	serverName := regexp.MustCompile("`(fe[0-9]+\\.contoso\\.com)`")
	for _, key := range ProductKeys() {
		for size := 2; size <= 16; size++ {
			for domains := 1; domains <= 3; domains++ {
				name := fmt.Sprintf("%s, %d servers in %d upgrade domains", key, size, domains)
				machines := syntheticPool(size, domains, size%2 == 0)
				night := syntheticNight(t, key, machines)
				place := map[string]int{}
				for i, m := range OrderPool(products[key], "pool.contoso.com", machines).Members {
					place[m.Fqdn] = i
				}
				section := night[strings.Index(night, "### Pool `pool.contoso.com`"):]
				databases := strings.Index(section, "Then the databases")
				if databases < 0 {
					t.Fatalf("%s: no database step after the pool", name)
				}
				seen := map[string]int{}
				for _, line := range strings.Split(section[:databases], "\n") {
					if !regexp.MustCompile(`^[0-9]+\. `).MatchString(line) {
						continue
					}
					var down []int
					for _, m := range serverName.FindAllStringSubmatch(line, -1) {
						if _, ok := seen[m[1]]; !ok {
							down = append(down, place[m[1]])
						}
						seen[m[1]]++
					}
					if !QuorumOf(size).Holds(down) {
						t.Fatalf("%s: the wave %q breaks the quorum %s", name, line, QuorumOf(size))
					}
				}
				if len(seen) != size {
					t.Fatalf("%s: window.md lists %d of the %d Front End Servers before the database step", name, len(seen), size)
				}
				rest := section[databases:]
				if end := strings.Index(rest, "\n## "); end >= 0 {
					rest = rest[:end]
				}
				if regexp.MustCompile("`fe[0-9]+\\.contoso\\.com\\.ps1`").MatchString(rest) {
					t.Fatalf("%s: a Front End Server's script comes after the database step", name)
				}
			}
		}
	}
}

// syntheticNight is window.md for one Enterprise Edition Back End and the
// Front End Servers of its one pool, each with its script.
func syntheticNight(t *testing.T, product string, machines []TopologyMachine) string {
	t.Helper()
	var night bytes.Buffer
	doc, err := NewWindowDoc(&night, "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	be, err := BuildPlan(Facts{Product: product, Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com", ServerFQDN: "sql01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Add(NewWindowRow(1, be, machines, "sql01.contoso.com.ps1", strings.Repeat("0", 64))); err != nil {
		t.Fatal(err)
	}
	for i, f := range FrontEndFacts(Row{Facts: be.Facts, FrontEnds: machines}) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Add(NewWindowRow(i+2, plan, nil, f.ServerFQDN+".ps1", strings.Repeat("1", 64))); err != nil {
			t.Fatal(err)
		}
	}
	if err := doc.Close(); err != nil {
		t.Fatal(err)
	}
	return night.String()
}
