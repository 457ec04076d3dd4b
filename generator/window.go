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
	// ProductKey is the product's key (--product).
	ProductKey                                          string
	ChildShells, Operations, WarnMinutes, BudgetMinutes int
	// Enterprise is true for an Enterprise Edition Back End, whose script
	// runs with -DatabaseOnly from an updated Front End Server of its pools.
	Enterprise bool
	// FrontEnd is true for a Front End Server of a pool, whose script runs
	// in its pool's order, before its Back End's database step; PoolFQDN
	// is its pool.
	FrontEnd  bool
	PoolFQDN  string
	SQLServer string
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
	r := WindowRow{
		Number: number, ServerFQDN: p.Facts.ServerFQDN, Product: p.Product.Name, ProductKey: p.Product.Key, Role: p.Role,
		ScriptFile: scriptFile, ScriptSHA256: scriptSHA256,
		ChildShells: p.WindowCount(KindChildShell), Operations: len(p.Window),
		WarnMinutes: p.Downtime.WarnMinutes, BudgetMinutes: p.Downtime.BudgetMinutes,
		Enterprise: p.Enterprise, FrontEnd: p.FrontEnd, PoolFQDN: p.Facts.PoolFQDN,
		SQLServer: p.Facts.SQLServerFQDN, TargetVersion: p.Facts.TargetVersion,
		FrontEnds: frontEnds, RunOn: p.Facts.ServerFQDN,
		FrontEndProcedure: p.Product.FrontEndProcedure, PatchLevelCheck: p.Product.PatchLevelCheck,
		Collocated: p.Enterprise && p.Facts.CollocatedStores,
		Run:        p.Run,
	}
	switch {
	case p.FrontEnd:
		// The read child, the child that takes it out, the installer, the child that
		// puts it back, and the read of the pool after it.
		r.EstimateMinutes, r.BoundMinutes = frontEndMinutes, 4*frontEndShellMinutes+installerMinutes
		return r
	case p.Enterprise:
		r.EstimateMinutes, r.BoundMinutes = databaseOnlyMinutes, 2*shellMinutes
		r.RunOn = "an updated Front End Server of a pool whose user database is on " + r.SQLServer
		if len(frontEnds) > 0 {
			r.RunOn = frontEnds[0].Fqdn
		}
	default:
		// The read child, the stop child, the installer and the update child.
		r.EstimateMinutes, r.BoundMinutes = wholeRunMinutes, 3*shellMinutes+installerMinutes
	}
	// The board reads which SQL Server each command updates.
	ed, _ := LookupEdition(p.Facts.Edition)
	r.Step11 = strings.ReplaceAll(ed.step11(p.Facts).Command, "$SqlServerFqdn", p.Facts.SQLServerFQDN)
	return r
}

// pool is a pool of a Back End and its Front End Servers, in the order
// they are updated: waves of servers out of service together.
type pool struct {
	Name string
	PoolOrder
	Waves []wave
	// Unsupported says why the product does not support a pool of this
	// size; "" when it does.
	Unsupported string
	// Minutes is the estimate: one Front End Server's per wave.
	Minutes int
}

// wave is servers of a pool updated together, after the gates of the wave
// before.
type wave struct {
	Number  int
	Servers []frontEnd
}

// frontEnd is a Front End Server of a wave, with its script when the batch
// wrote one.
type frontEnd struct {
	TopologyMachine
	Script *WindowRow
}

// ServerLines are the servers of an inventory so far, by FQDN in lower
// case: the line each came from, and whether from a row's front_ends.
type ServerLines map[string]ServerLine

// ServerLine is where a server of an inventory came from.
type ServerLine struct {
	Line          int
	FromFrontEnds bool
}

// RowServers are the servers an inventory row gives a batch: its own, then
// the Front End Servers of its pools (FrontEndFacts), each once in a batch
// (seen holds those so far). A Front End Server named by two rows'
// front_ends is taken once; one that is also a row of its own is a problem,
// as are a Front End Server's facts that do not validate.
func RowServers(r Row, seen ServerLines) ([]Facts, error) {
	var fs []Facts
	var ps Problems
	own := strings.ToLower(r.Facts.ServerFQDN)
	if at, ok := seen[own]; ok && at.FromFrontEnds {
		ps = append(ps, Problem{Line: r.Line, Field: "server_fqdn", Message: fmt.Sprintf("%s is also in the front_ends of line %d: give it once, as a row or in front_ends", r.Facts.ServerFQDN, at.Line)})
	} else if !ok {
		seen[own] = ServerLine{Line: r.Line}
		fs = append(fs, r.Facts)
	}
	for _, f := range FrontEndFacts(r) {
		name := strings.ToLower(f.ServerFQDN)
		if at, ok := seen[name]; ok {
			if !at.FromFrontEnds {
				ps = append(ps, Problem{Line: r.Line, Field: "front_ends", Message: fmt.Sprintf("%s is also a row of its own (line %d): give it once, as a row or in front_ends", f.ServerFQDN, at.Line)})
			}
			continue
		}
		seen[name] = ServerLine{Line: r.Line, FromFrontEnds: true}
		for _, p := range Validate(f) {
			ps = append(ps, Problem{Line: r.Line, Field: "front_ends", Message: f.ServerFQDN + ": " + p.Field + ": " + p.Message})
		}
		fs = append(fs, f)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return fs, nil
}

// FrontEndFacts are the facts of the Front End Servers of an inventory
// row's pools (its front_ends column), for their own scripts: an
// Enterprise Edition Back End's product, update and target version, each
// server and its pool. None for other rows.
func FrontEndFacts(r Row) []Facts {
	if r.Facts.Edition != EditionEnterprise || r.Facts.IsFrontEnd() {
		return nil
	}
	var fs []Facts
	for _, m := range r.FrontEnds {
		// A pool whose only server holds its own user store is the row's own script.
		if strings.EqualFold(m.Fqdn, r.Facts.ServerFQDN) {
			continue
		}
		fs = append(fs, Facts{Product: r.Facts.Product, Edition: EditionEnterprise, Role: RoleFrontEnd, PoolFQDN: m.Pool, ServerFQDN: m.Fqdn,
			UpdatePath: r.Facts.UpdatePath, UpdateSHA256: r.Facts.UpdateSHA256, TargetVersion: r.Facts.TargetVersion})
	}
	return fs
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
	// frontEnds are the Front End Servers' rows, by FQDN in lower case.
	frontEnds map[string]*WindowRow
	warnings  []string
}

// Warnings are what window.md says the administrator must plan apart, for
// standard error; complete once Close has run.
func (d *WindowDoc) Warnings() []string { return d.warnings }

// NewWindowDoc starts window.md.
func NewWindowDoc(w io.Writer, version string) (*WindowDoc, error) {
	return &WindowDoc{w: w, version: version}, nil
}

// Add adds one server: a Front End Server joins its pool's order.
func (d *WindowDoc) Add(r WindowRow) error {
	if r.FrontEnd {
		if d.frontEnds == nil {
			d.frontEnds = map[string]*WindowRow{}
		}
		d.frontEnds[strings.ToLower(r.ServerFQDN)] = &r
	}
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
		// Pools are those of the Front End Servers the inventory lists as
		// rows of their own.
		Pools         []pool
		Standard, All []WindowRow
		TotalMinutes  int
		FrontEndTotal int
		// PatchLevelChecks are the products' commands, each once.
		PatchLevelChecks []string
	}{Version: d.version, WarnMinutes: warnMinutes, BudgetMinutes: budgetMinutes, FrontEndMinutes: frontEndMinutes,
		WholeRunMinutes: wholeRunMinutes, DatabaseOnlyMinutes: databaseOnlyMinutes, ScriptFolder: ScriptFolder, All: d.rows}
	for _, r := range d.rows {
		if !slices.Contains(view.PatchLevelChecks, r.PatchLevelCheck) {
			view.PatchLevelChecks = append(view.PatchLevelChecks, r.PatchLevelCheck)
		}
		switch {
		case r.FrontEnd:
			// In its Back End's section; its minutes are its pool's.
			continue
		case !r.Enterprise:
			view.TotalMinutes += r.EstimateMinutes
			view.Standard = append(view.Standard, r)
			continue
		}
		view.TotalMinutes += r.EstimateMinutes
		r.Step = len(view.BackEnds) + 1
		b := backEnd{WindowRow: r, FrontEndCount: len(r.FrontEnds)}
		pools, err := d.pools(r.ProductKey, r.FrontEnds)
		if err != nil {
			return err
		}
		b.Pools = pools
		for _, p := range pools {
			b.FrontEndMinutes += p.Minutes
		}
		view.TotalMinutes += b.FrontEndMinutes
		view.FrontEndTotal += b.FrontEndMinutes
		view.BackEnds = append(view.BackEnds, b)
	}
	// Front End Servers the inventory lists as rows of their own, outside any Back End's
	// front_ends: their pools, in inventory order, before every Back End.
	placed := map[string]bool{}
	for _, b := range view.BackEnds {
		for _, m := range b.FrontEnds {
			placed[strings.ToLower(m.Fqdn)] = true
		}
	}
	// By product in inventory order: pools groups them by pool.
	var products []string
	loose := map[string][]TopologyMachine{}
	productOf := map[string]string{}
	for _, r := range d.rows {
		if !r.FrontEnd || placed[strings.ToLower(r.ServerFQDN)] {
			continue
		}
		if other, ok := productOf[r.PoolFQDN]; ok && other != r.ProductKey {
			return Problem{Field: "pool_fqdn", Message: fmt.Sprintf("%s: its Front End Servers are of two products (%s, %s): a pool is one product", r.PoolFQDN, other, r.ProductKey)}
		}
		productOf[r.PoolFQDN] = r.ProductKey
		if _, ok := loose[r.ProductKey]; !ok {
			products = append(products, r.ProductKey)
		}
		loose[r.ProductKey] = append(loose[r.ProductKey], TopologyMachine{Fqdn: r.ServerFQDN, Pool: r.PoolFQDN})
	}
	for _, key := range products {
		pools, err := d.pools(key, loose[key])
		if err != nil {
			return err
		}
		for _, p := range pools {
			view.TotalMinutes += p.Minutes
			view.FrontEndTotal += p.Minutes
		}
		view.Pools = append(view.Pools, pools...)
	}
	for i := range view.Standard {
		view.Standard[i].Step = len(view.BackEnds) + i + 1
	}
	if err := tmpl.ExecuteTemplate(d.w, "window.md.tmpl", view); err != nil {
		return fmt.Errorf("render window.md: %w", err)
	}
	return nil
}

// pools orders the Front End Servers of a Back End's pools, pool by pool in
// topology order, each pool's order proved against its quorum.
func (d *WindowDoc) pools(productKey string, frontEnds []TopologyMachine) ([]pool, error) {
	p, _ := LookupProduct(productKey)
	var names []string
	for _, m := range frontEnds {
		if !slices.Contains(names, m.Pool) {
			names = append(names, m.Pool)
		}
	}
	var pools []pool
	for _, name := range names {
		var machines []TopologyMachine
		for _, m := range frontEnds {
			if m.Pool == name {
				machines = append(machines, m)
			}
		}
		o := OrderPool(p, name, machines)
		if err := o.Check(); err != nil {
			return nil, err
		}
		v := pool{Name: name, PoolOrder: o, Minutes: len(o.Waves) * frontEndMinutes}
		if o.Outage {
			// Its script refuses it: not in the night's estimate.
			v.Minutes = 0
			d.warnings = append(d.warnings, fmt.Sprintf("pool %s has one Front End Server: its script's gates refuse to take it down; window.md says to plan it apart", name))
		}
		if p.NoTwoServerPools && len(o.Members) == 2 {
			v.Unsupported = p.Name + " does not support Enterprise Edition pools of two Front End Servers (Microsoft, Manage Front End Servers): check the topology before the night."
		}
		for k, members := range o.Waves {
			w := wave{Number: k + 1}
			for _, i := range members {
				m := o.Members[i]
				w.Servers = append(w.Servers, frontEnd{TopologyMachine: m, Script: d.frontEnds[strings.ToLower(m.Fqdn)]})
			}
			v.Waves = append(v.Waves, w)
		}
		pools = append(pools, v)
	}
	return pools, nil
}
