package generator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// BuildPlan validates the facts and computes the plan. The error, if
// any, is Problems: every problem at once.
func BuildPlan(f Facts) (Plan, error) {
	if ps := Validate(f); len(ps) > 0 {
		return Plan{}, ps
	}
	f.UpdateSHA256 = strings.ToLower(f.UpdateSHA256)
	var plan Plan
	if skeleton, ok := skeletons.Load(shapeOf(f)); ok {
		plan = skeleton.(Plan).clone()
	} else {
		plan = planOf(f)
		skeletons.Store(shapeOf(f), plan.clone())
	}
	// The values: everything else depends on the shape alone.
	plan.Facts = f
	plan.Installer.UpdatePath = f.UpdatePath
	plan.Installer.SHA256 = f.UpdateSHA256
	plan.Variables = variables(f)
	for i := range plan.FactTable {
		plan.FactTable[i].Value = factValue(f, plan.FactTable[i].Key)
	}
	return plan, nil
}

// skeletons holds a plan of each shape (see shapes.go): BuildPlan fills in
// the values of a copy.
var skeletons sync.Map

// planOf computes the plan of valid facts.
func planOf(f Facts) Plan {
	p, _ := LookupProduct(f.Product)
	plan := Plan{
		Facts:   f,
		Product: p,
		Role:    "Standard Edition server",
		Installer: Installer{
			DefaultFileName: p.Installer,
			Arguments:       []string{p.SilentSwitch},
		},
		Downtime:   downtime(f),
		Parameters: parameters(p),
		ExitCodes:  exitCodes,
	}
	if f.Edition == EditionEnterprise {
		plan.Enterprise = true
		plan.Role = "Enterprise Edition Back End Server"
	}
	plan.Database = databaseTest(f)
	plan.FactTable = factTable(p, f)
	plan.Preflight = preflight(p, f, plan.Database)
	plan.Steps = steps(p, f, plan.Database)
	for i := range plan.Steps {
		s := &plan.Steps[i]
		s.Number = i + 1
		s.Label = stepLabel(s.DocStep)
		if s.Commands == nil {
			// The JSON plan lists no commands as [], never null.
			s.Commands = []string{}
		}
	}
	plan.Children = children
	plan.Window = window(plan.Steps, plan.Database)
	return plan
}

// clone copies a plan deep enough that changing the copy's slices never
// changes the original.
func (p Plan) clone() Plan {
	p.FactTable = slices.Clone(p.FactTable)
	p.Installer.Arguments = slices.Clone(p.Installer.Arguments)
	p.Preflight = slices.Clone(p.Preflight)
	p.Steps = slices.Clone(p.Steps)
	for i := range p.Steps {
		p.Steps[i].Commands = slices.Clone(p.Steps[i].Commands)
		p.Steps[i].Arguments = slices.Clone(p.Steps[i].Arguments)
	}
	p.Database.Arguments = slices.Clone(p.Database.Arguments)
	p.Database.Excluded = slices.Clone(p.Database.Excluded)
	p.Children = slices.Clone(p.Children)
	p.Window = slices.Clone(p.Window)
	p.Parameters = slices.Clone(p.Parameters)
	p.ExitCodes = slices.Clone(p.ExitCodes)
	p.Variables = slices.Clone(p.Variables)
	return p
}

// factValue is a fact as the fact table shows it: collocated stores only
// for an Enterprise Edition Back End.
func factValue(f Facts, key string) string {
	if key == "collocated_stores" {
		if f.Edition != EditionEnterprise {
			return ""
		}
		return strconv.FormatBool(f.CollocatedStores)
	}
	field, _ := fieldByKey(key)
	if field.text == nil {
		return ""
	}
	return *field.text(&f)
}

// factTable describes each fact, in the order of Fields, for the script
// header and the runbook: what was given and what it means on this server.
func factTable(p Product, f Facts) []FactRow {
	sql := FactRow{Key: "sql_server_fqdn", Label: "SQL Server FQDN",
		Meaning: "Not used: a Standard Edition server updates its local databases."}
	collocated := FactRow{Key: "collocated_stores", Label: "Collocated stores",
		Meaning: "Not used: it applies to an Enterprise Edition Back End only."}
	role := "A Standard Edition server."
	if f.Edition == EditionEnterprise {
		role = "An Enterprise Edition Back End Server."
		sql.Value = f.SQLServerFQDN
		sql.Meaning = "The Back End SQL Server whose databases doc step 11 updates."
		collocated.Value = strconv.FormatBool(f.CollocatedStores)
		collocated.Meaning = "No Archiving or Monitoring databases on the same SQL Server."
		if f.CollocatedStores {
			collocated.Meaning = "Archiving or Monitoring databases are on the same SQL Server: doc step 11 adds -ExcludeCollocatedStores."
		}
	}
	return []FactRow{
		{Key: "product", Label: "Product", Value: f.Product, Meaning: p.Name + "."},
		{Key: "edition", Label: "Edition", Value: f.Edition, Meaning: role},
		sql,
		collocated,
		{Key: "update_path", Label: "Update path", Value: f.UpdatePath, Meaning: given(f.UpdatePath,
			"The update installer on the server; -UpdatePath overrides it.",
			fmt.Sprintf("Not given: the script runs %s from its own folder; -UpdatePath overrides it.", p.Installer))},
		{Key: "server_fqdn", Label: "Server FQDN", Value: f.ServerFQDN, Meaning: given(f.ServerFQDN,
			"The script refuses to run on any other host.",
			"Not given: the script runs on any host.")},
		{Key: "update_sha256", Label: "Update SHA-256", Value: f.UpdateSHA256, Meaning: given(f.UpdateSHA256,
			"The script refuses an installer with another SHA-256.",
			"Not given: the installer's SHA-256 is not checked.")},
		{Key: "target_version", Label: "Target version", Value: f.TargetVersion, Meaning: given(f.TargetVersion,
			"After the installer, the Core Components version must reach it, else doc step 7 fails; with -DatabaseOnly, this machine at it counts as updated.",
			"Not given: the installed version is not checked; this installer's success record (by SHA-256) is what a later run takes as doc step 7 done.")},
	}
}

// stepLabel names a step's place in the procedure.
func stepLabel(docStep int) string {
	if docStep == 0 {
		return "Beyond the doc"
	}
	return fmt.Sprintf("Doc step %d", docStep)
}

// given picks the meaning of a fact by whether it was given.
func given(value, meaning, notGiven string) string {
	if value != "" {
		return meaning
	}
	return notGiven
}

// collocatedStores are the databases of the Archiving (LcsLog) and
// Monitoring (LcsCDR, QoEMetrics) stores, which -ExcludeCollocatedStores
// leaves out (DOMAIN.md section 10).
var collocatedStores = []string{"LcsLog", "LcsCDR", "QoEMetrics"}

// databaseTest returns the Test-CsDatabase command that tells whether the
// databases of step 11 are current, the script variables it needs, and
// which of its rows step 11 updates. Test-CsDatabase has no
// -LocalDatabases: -LocalService covers every database a Standard Edition
// server uses, remote ones included, so its rows are narrowed to this
// server's own SQL instance.
func databaseTest(f Facts) Database {
	if f.Edition == EditionStandard {
		return Database{TestCommand: "Test-CsDatabase -LocalService", Server: "HostFqdn",
			Scope: "the databases on this server's own SQL Server instance"}
	}
	db := Database{
		TestCommand: "Test-CsDatabase -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn",
		Arguments:   []string{"SqlServerFqdn"},
		Server:      "SqlServerFqdn",
		Scope:       "the databases on $SqlServerFqdn",
	}
	if f.CollocatedStores {
		db.Excluded = collocatedStores
		db.Scope = "the databases on $SqlServerFqdn except the collocated Archiving and Monitoring databases LcsLog, LcsCDR and QoEMetrics"
	}
	return db
}

// Owns tells whether step 11 updates the database of a Test-CsDatabase
// row: the row is on the SQL Server named by the Database's Server
// variable, whose value is server, and is not excluded. A row may name
// its server without its domain. The script's Select-OwnedRow applies
// the same rule to the same data.
func (d Database) Owns(rowServer, rowDatabase, server string) bool {
	host, _, _ := strings.Cut(server, ".")
	onServer := strings.EqualFold(rowServer, server) ||
		(!strings.Contains(rowServer, ".") && strings.EqualFold(rowServer, host))
	return onServer && !slices.ContainsFunc(d.Excluded, func(e string) bool { return strings.EqualFold(e, rowDatabase) })
}

// installDatabaseCommand is the doc step 11 command of the variant.
func installDatabaseCommand(f Facts) string {
	switch {
	case f.Edition == EditionStandard:
		return "Install-CsDatabase -Update -LocalDatabases"
	case f.CollocatedStores:
		return "Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn -ExcludeCollocatedStores"
	default:
		return "Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn"
	}
}

func variables(f Facts) []Variable {
	v := []Variable{
		{Name: "ExpectedServerFqdn", Value: f.ServerFQDN, Set: f.ServerFQDN != "",
			Help: "The only host this script runs on (--server-fqdn); $null: any host."},
		{Name: "ExpectedSha256", Value: f.UpdateSHA256, Set: f.UpdateSHA256 != "",
			Help: "The installer's expected SHA-256 (--update-sha256); $null: not checked."},
		{Name: "TargetVersion", Value: f.TargetVersion, Set: f.TargetVersion != "",
			Help: "The Core Components version the update brings (--target-version); $null: unknown, a record of this installer's success decides."},
	}
	sql := Variable{Name: "SqlServerFqdn", Help: "The Back End SQL Server (--sql-server-fqdn); $null on a Standard Edition server."}
	if f.Edition == EditionEnterprise {
		sql = Variable{Name: "SqlServerFqdn", Value: f.SQLServerFQDN, Set: true, Help: "The Back End SQL Server (--sql-server-fqdn)."}
	}
	return append([]Variable{sql}, v...)
}

// UnattendedCommandLine is how Task Scheduler and SCCM run the script:
// -File keeps its exit codes (with -Command every code but 0 and 1 becomes
// 1), and -Unattended replaces -Confirm:$false, which -File cannot pass.
const UnattendedCommandLine = `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <script>.ps1 -Unattended`

func parameters(p Product) []Parameter {
	return []Parameter{
		{Name: "UpdatePath", Type: "string", Help: fmt.Sprintf("Path of the update installer. Default: the path given when the script was generated, else %s in the script's own folder.", p.Installer)},
		{Name: "LogDirectory", Type: "string", Help: `Folder for the transcript and the Install-CsDatabase report. Default: $env:ProgramData\sfbpatch.`},
		{Name: "Unattended", Type: "switch", Help: "Asks nothing: for Task Scheduler and SCCM, with " + UnattendedCommandLine + ", which keeps the exit codes. -WhatIf still changes nothing."},
		{Name: "Force", Type: "switch", Help: "Turns the failures of the group-membership check and of the open-Management-Shell check into warnings."},
		{Name: "IgnorePendingReboot", Type: "switch", Help: "Runs even though Windows reports a pending reboot."},
		{Name: "LeaveServicesStopped", Type: "switch", Help: "When a step fails, leaves the services stopped instead of starting again those that were running."},
		{Name: "SkipStartServices", Type: "switch", Help: "Leaves the Skype for Business or Lync services stopped after step 11 (the start is a step beyond the doc)."},
		{Name: "DatabaseOnly", Type: "switch", Help: "Runs only the database step (doc step 11), from an already updated Front End Server: for a dedicated SQL Back End without Skype for Business components. Refused on a machine the update is not installed on."},
	}
}

var exitCodes = []ExitCode{
	{Code: 0, Meaning: "Done: every step is done or was already done."},
	{Code: 1, Meaning: "Nothing was changed: a preflight check failed, the confirmation was declined, or a step failed before the first child of the window started."},
	{Code: 2, Meaning: "A step failed once the window had begun (a change may have been made); the services that were running before the run are running again."},
	{Code: 3, Meaning: "A step failed and services that were running before the run are not running again (starting them failed, or -LeaveServicesStopped): manual action needed, listed."},
	{Code: 4, Meaning: "Not finished: the installer started a reboot of Windows (its exit code 1641). Run the script again after the reboot: it resumes after the installer."},
	{Code: 3010, Meaning: "Done, but Windows needs a reboot to finish the update; after the reboot, a run of the script confirms the databases."},
}

// downtime sets the clock's thresholds: the doc warns that a Back End
// down for 30 minutes or more sends users into resiliency mode.
func downtime(f Facts) Downtime {
	d := Downtime{
		WarnMinutes:   25,
		BudgetMinutes: 30,
		WarnMessage:   "Downtime has reached 25 minutes: 5 minutes of the 30-minute budget remain. Users homed on this Standard Edition server have been without service since the services stopped.",
		BudgetMessage: "Downtime has reached 30 minutes: users homed on this Standard Edition server have been without service since the services stopped; they return when the services run again.",
	}
	if f.Edition == EditionEnterprise {
		d.WarnMessage = "Downtime has reached 25 minutes: 5 minutes remain before users of the pool may go into resiliency mode."
		d.BudgetMessage = "Downtime has reached 30 minutes: users of the pool may now be in resiliency mode. They return to full functionality when the Back End is back and the Front End Servers reconnect to it."
	}
	return d
}
