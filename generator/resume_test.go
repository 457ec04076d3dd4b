package generator

import (
	"slices"
	"testing"
)

// TestResumeNeverRepeatsAnOutage holds every variant's resume table, which
// the runbook prints and the script's step table implements (the same
// NotNeededWhen rules), to the promise of no automatic second outage: a
// run stops the services only while the installer or Install-CsDatabase
// has no recorded success, never runs a recorded installer again, and a
// finished server with its services back runs nothing.
func TestResumeNeverRepeatsAnOutage(t *testing.T) {
	for name, f := range validCases(t) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		// A Front End Server's documented work is the installer alone.
		outcomes := 6
		if plan.FrontEnd {
			outcomes = 4
		}
		if len(plan.Resume) != outcomes {
			t.Fatalf("%s: %d resume cases, want the %d outcomes", name, len(plan.Resume), outcomes)
		}
		back := plan.Steps[slices.IndexFunc(plan.Steps, func(s Step) bool { return s.EndsDowntime })].ID
		for _, c := range plan.Resume {
			documentedWorkLeft := !c.InstallerDone || (!plan.FrontEnd && !c.DatabasesDone)
			if c.StopsServices != documentedWorkLeft {
				t.Errorf("%s: %+v: stops the services %v, want %v (only while documented work is unfinished)", name, c, c.StopsServices, documentedWorkLeft)
			}
			if c.InstallerDone && slices.Contains(c.Runs, "install-update") {
				t.Errorf("%s: %+v: runs the installer again after its recorded success", name, c)
			}
			if c.InstallerDone && c.DatabasesDone && slices.Contains(c.Runs, "update-databases") {
				t.Errorf("%s: %+v: runs Install-CsDatabase again after its recorded success", name, c)
			}
			if !documentedWorkLeft && c.ServicesBack && len(c.Runs) != 0 {
				t.Errorf("%s: %+v: a finished server runs %v", name, c, c.Runs)
			}
			if !c.ServicesBack && !slices.Contains(c.Runs, back) {
				t.Errorf("%s: %+v: services left down by an earlier run are not started", name, c)
			}
			if c.Why == "" {
				t.Errorf("%s: %+v: no reason given", name, c)
			}
		}
	}
}

// TestDatabaseOnlyNeedsItsPool: every Enterprise Edition plan, with or
// without --server-fqdn, checks before anything changes that a -DatabaseOnly
// run is on a Front End Server of a pool homed on its SQL Server, and says
// what proves that machine is updated; with --target-version, it checks it.
func TestDatabaseOnlyNeedsItsPool(t *testing.T) {
	for name, f := range validCases(t) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]Check{}
		for _, c := range plan.Preflight {
			ids[c.ID] = c
		}
		if plan.FrontEnd {
			// A Front End Server's script has no database step; it reads its pool's gates.
			for _, id := range []string{"pool-member", "pool-fabric", "pool-ready"} {
				if c, ok := ids[id]; !ok || c.OnlyDatabaseOnly || !c.ReadsServer {
					t.Errorf("%s: no gate %s before anything changes: %+v", name, id, c)
				}
			}
			if plan.Run.DatabaseOnly {
				t.Errorf("%s: a Front End Server's plan runs -DatabaseOnly", name)
			}
			continue
		}
		if !plan.Enterprise {
			if _, ok := ids["pool-member"]; ok || plan.Run.DatabaseOnly {
				t.Errorf("%s: a Standard Edition plan runs -DatabaseOnly or checks a pool", name)
			}
			continue
		}
		if c, ok := ids["pool-member"]; !ok || !c.OnlyDatabaseOnly || !c.ReadsServer {
			t.Errorf("%s: no -DatabaseOnly check that this machine is a Front End Server of the pool: %+v", name, c)
		}
		if _, ok := ids["updated-machine"]; ok != (f.TargetVersion != "") {
			t.Errorf("%s: the target-version check is there: %v, with target version %q", name, ok, f.TargetVersion)
		}
		if !plan.Run.DatabaseOnly || plan.Run.Evidence == "" || (f.TargetVersion == "") != (len(plan.Warnings) > 0) {
			t.Errorf("%s: run %+v, warnings %q", name, plan.Run, plan.Warnings)
		}
	}
}
