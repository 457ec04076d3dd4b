package generator

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The night's estimates, in minutes: sfbpatch's assumptions, not
// measurements (Microsoft publishes no duration). A cumulative update
// installer takes tens of minutes on a server; Install-CsDatabase takes
// minutes. window.md says so, and that the administrator's own last update
// is the better basis.
const (
	frontEndMinutes     = 60 // one Front End Server, by its pool's own procedure
	wholeRunMinutes     = 60 // a whole run of a script: stops, installer, database update, start
	databaseOnlyMinutes = 20 // -DatabaseOnly: the read, then Install-CsDatabase
)

// ScriptFolder is the folder the command lines put the scripts in on a
// server: an example, which the administrator may change.
const ScriptFolder = `C:\sfbpatch`

// runOf is how the script of these facts runs: an Enterprise Edition Back
// End's with -DatabaseOnly from a Front End Server, any other whole on its
// server; its file named as batch names it.
func runOf(p Product, ed Edition, f Facts) Run {
	r := Run{ScriptFile: "<script>.ps1", Where: "this server",
		Account: "a member of RTCUniversalServerAdmins (or CSAdministrator) and of the local Administrators, in an elevated 64-bit Windows PowerShell; " +
			"not SYSTEM, which is in neither of those two groups (the script's group check fails); an installer on a share needs that account to read it"}
	if f.ServerFQDN != "" {
		r.ScriptFile = strings.ToLower(f.ServerFQDN) + ".ps1"
		r.Where = f.ServerFQDN
	}
	switches := ""
	if f.IsFrontEnd() && f.ServerFQDN == "" {
		r.Where = "a Front End Server of " + f.PoolFQDN
	}
	if ed.Enterprise && !f.IsFrontEnd() {
		r.DatabaseOnly, switches = true, " -DatabaseOnly"
		r.Where = "an updated Front End Server of a pool whose user database is on " + f.SQLServerFQDN
		r.Account += "; and administrator rights (sysadmin) on the SQL Server instances of " + f.SQLServerFQDN + " (the availability group with AlwaysOn), which Install-CsDatabase updates from there"
		r.Evidence = "Test-CsDatabase expects the database versions of the machine that runs it: the databases behind them are updated to them. "
		if f.TargetVersion != "" {
			r.Evidence += fmt.Sprintf("The machine must be at %s %s or later, which the script checks before anything changes.", p.CoreComponents, f.TargetVersion)
		} else {
			r.Evidence += "Without --target-version nothing proves that the machine has this update: when the databases match it, the script changes nothing and exits 9, " +
				"and databases that report no installed version are refused in preflight (exit 1)."
		}
	}
	r.Interactive = `.\` + r.ScriptFile + switches
	r.Unattended = `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File ` + ScriptFolder + `\` + r.ScriptFile + switches + " -Unattended"
	r.Schtasks = `schtasks /Create /TN "sfbpatch ` + strings.TrimSuffix(r.ScriptFile, ".ps1") + `" /SC ONCE /ST 23:00 /RL HIGHEST /RU <DOMAIN\account> /RP * /TR "` + r.Unattended + `"`
	return r
}

// WindowRow is one server of a batch's window.md.
type WindowRow struct {
	Number                                                      int
	ServerFQDN, Product, Role, Step11, ScriptFile, ScriptSHA256 string
	ChildShells, Operations, WarnMinutes, BudgetMinutes         int
	// Enterprise is true for an Enterprise Edition Back End, whose script
	// runs with -DatabaseOnly from an updated Front End Server of its pools.
	Enterprise bool
	SQLServer  string
	// TargetVersion is the fact, "" when not given.
	TargetVersion string
	// FrontEnds are its pools' servers, when the inventory or topology
	// names them; RunOn is where its script runs.
	FrontEnds []TopologyMachine
	RunOn     string
	// Run is the plan's: the command lines, interactive, unattended and as
	// a scheduled task.
	Run Run
	// EstimateMinutes is the assumed duration; BoundMinutes the longest the
	// script's own bounds allow.
	EstimateMinutes, BoundMinutes int
	// Step is the server's place in the night's order, from 1.
	Step int
	// FrontEndProcedure and PatchLevelCheck are the product's; Collocated
	// is true when doc step 11 leaves the collocated stores alone.
	FrontEndProcedure, PatchLevelCheck string
	Collocated                         bool
}

// NewWindowRow describes a server of a batch from its plan, its pools'
// servers (none when unknown), its script's file name and the script's
// SHA-256.
func NewWindowRow(number int, p Plan, frontEnds []TopologyMachine, scriptFile, scriptSHA256 string) WindowRow {
	ed, _ := LookupEdition(p.Facts.Edition)
	r := WindowRow{
		Number: number, ServerFQDN: p.Facts.ServerFQDN, Product: p.Product.Name, Role: p.Role,
		// The board reads which SQL Server each command updates.
		Step11:     strings.ReplaceAll(ed.step11(p.Facts).Command, "$SqlServerFqdn", p.Facts.SQLServerFQDN),
		ScriptFile: scriptFile, ScriptSHA256: scriptSHA256,
		ChildShells: p.WindowCount(KindChildShell), Operations: len(p.Window),
		WarnMinutes: p.Downtime.WarnMinutes, BudgetMinutes: p.Downtime.BudgetMinutes,
		Enterprise: ed.Enterprise, SQLServer: p.Facts.SQLServerFQDN, TargetVersion: p.Facts.TargetVersion,
		FrontEnds: frontEnds, RunOn: p.Facts.ServerFQDN,
		FrontEndProcedure: p.Product.FrontEndProcedure, PatchLevelCheck: p.Product.PatchLevelCheck,
		Collocated:      ed.Enterprise && p.Facts.CollocatedStores,
		EstimateMinutes: wholeRunMinutes,
		// The read child, the stop child, the installer and the update child.
		BoundMinutes: 3*shellMinutes + installerMinutes,
	}
	if r.Enterprise {
		r.EstimateMinutes, r.BoundMinutes = databaseOnlyMinutes, 2*shellMinutes
		r.RunOn = "an updated Front End Server of a pool whose user database is on " + r.SQLServer
		if len(frontEnds) > 0 {
			r.RunOn = frontEnds[0].Fqdn
		}
	}
	r.Run = p.Run
	return r
}

// pool is a pool of a Back End and its Front End Servers, by upgrade
// domain in topology order.
type pool struct {
	Name    string
	Domains []upgradeDomain
}

type upgradeDomain struct {
	Name    string
	Servers []string
}

// backEnd is an Enterprise Edition Back End of the night: its pools first,
// then its database step.
type backEnd struct {
	WindowRow
	Pools           []pool
	FrontEndCount   int
	FrontEndMinutes int
}

// WindowDoc collects a batch's servers and writes window.md, the night's
// plan, when it is closed: GitHub Flavored Markdown without raw HTML that
// reads as plain text too, UTF-8, LF.
type WindowDoc struct {
	w       io.Writer
	version string
	rows    []WindowRow
}

// NewWindowDoc starts window.md.
func NewWindowDoc(w io.Writer, version string) (*WindowDoc, error) {
	return &WindowDoc{w: w, version: version}, nil
}

// Add adds one server.
func (d *WindowDoc) Add(r WindowRow) error {
	d.rows = append(d.rows, r)
	return nil
}

// Close writes window.md: every Enterprise Edition Back End with its pools'
// Front End Servers before its database step, then every Standard Edition
// server, then the table of every server.
func (d *WindowDoc) Close() error {
	view := struct {
		Version                    string
		WarnMinutes, BudgetMinutes int
		FrontEndMinutes            int
		WholeRunMinutes            int
		DatabaseOnlyMinutes        int
		ScriptFolder               string
		BackEnds                   []backEnd
		Standard, All              []WindowRow
		TotalMinutes               int
		FrontEndTotal              int
		// PatchLevelChecks are the products' commands, each once.
		PatchLevelChecks []string
	}{Version: d.version, WarnMinutes: warnMinutes, BudgetMinutes: budgetMinutes, FrontEndMinutes: frontEndMinutes,
		WholeRunMinutes: wholeRunMinutes, DatabaseOnlyMinutes: databaseOnlyMinutes, ScriptFolder: ScriptFolder, All: d.rows}
	for _, r := range d.rows {
		if !slices.Contains(view.PatchLevelChecks, r.PatchLevelCheck) {
			view.PatchLevelChecks = append(view.PatchLevelChecks, r.PatchLevelCheck)
		}
		view.TotalMinutes += r.EstimateMinutes
		if !r.Enterprise {
			view.Standard = append(view.Standard, r)
			continue
		}
		r.Step = len(view.BackEnds) + 1
		b := backEnd{WindowRow: r, FrontEndCount: len(r.FrontEnds), FrontEndMinutes: len(r.FrontEnds) * frontEndMinutes}
		for _, m := range r.FrontEnds {
			i := slices.IndexFunc(b.Pools, func(p pool) bool { return p.Name == m.Pool })
			if i < 0 {
				b.Pools = append(b.Pools, pool{Name: m.Pool})
				i = len(b.Pools) - 1
			}
			p := &b.Pools[i]
			j := slices.IndexFunc(p.Domains, func(u upgradeDomain) bool { return u.Name == m.UpgradeDomain })
			if j < 0 {
				p.Domains = append(p.Domains, upgradeDomain{Name: m.UpgradeDomain})
				j = len(p.Domains) - 1
			}
			p.Domains[j].Servers = append(p.Domains[j].Servers, m.Fqdn)
		}
		view.TotalMinutes += b.FrontEndMinutes
		view.FrontEndTotal += b.FrontEndMinutes
		view.BackEnds = append(view.BackEnds, b)
	}
	for i := range view.Standard {
		view.Standard[i].Step = len(view.BackEnds) + i + 1
	}
	if err := tmpl.ExecuteTemplate(d.w, "window.md.tmpl", view); err != nil {
		return fmt.Errorf("render window.md: %w", err)
	}
	return nil
}
