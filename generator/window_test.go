package generator

import (
	"slices"
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
