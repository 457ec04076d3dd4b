package generator

import (
	"fmt"
	"strconv"
	"strings"
)

// BuildPlan validates the facts and computes the plan. The error, if
// any, is Problems: every problem at once.
func BuildPlan(f Facts) (Plan, error) {
	if ps := Validate(f); len(ps) > 0 {
		return Plan{}, ps
	}
	f.UpdateSHA256 = strings.ToLower(f.UpdateSHA256)
	p, _ := LookupProduct(f.Product)
	enterprise := f.Edition == EditionEnterprise

	plan := Plan{
		Facts:   f,
		Product: p,
		Role:    "Standard Edition server",
		Installer: Installer{
			DefaultFileName: p.Installer,
			UpdatePath:      f.UpdatePath,
			Arguments:       []string{p.SilentSwitch},
			SHA256:          f.UpdateSHA256,
		},
		Downtime:   downtime(f),
		Parameters: parameters(p),
		ExitCodes:  exitCodes,
	}
	if enterprise {
		plan.Enterprise = true
		plan.Role = "Enterprise Edition Back End Server"
	}
	plan.Database = databaseTest(f)
	plan.Variables = variables(f)
	plan.FactTable = factTable(p, f)
	plan.Preflight = preflight(p, f)
	plan.Steps = steps(p, f)
	for i := range plan.Steps {
		plan.Steps[i].Number = i + 1
		if plan.Steps[i].Commands == nil {
			// The JSON plan lists no commands as [], never null.
			plan.Steps[i].Commands = []string{}
		}
	}
	return plan, nil
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
			"At or above this Core Components version, doc step 7 counts as done.",
			"Not given: the installer runs unless this same installer (by SHA-256) already succeeded on this server; it installs only the updates not yet applied.")},
	}
}

// given picks the meaning of a fact by whether it was given.
func given(value, meaning, notGiven string) string {
	if value != "" {
		return meaning
	}
	return notGiven
}

// databaseTest returns the Test-CsDatabase command that tells whether the
// databases of step 11 are current, and the script variables it needs.
// Test-CsDatabase has no -LocalDatabases: -LocalService covers the
// databases a Standard Edition server uses.
func databaseTest(f Facts) Database {
	if f.Edition == EditionEnterprise {
		return Database{
			TestCommand: "Test-CsDatabase -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn",
			Arguments:   []string{"SqlServerFqdn"},
		}
	}
	return Database{TestCommand: "Test-CsDatabase -LocalService"}
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
	if f.Edition == EditionEnterprise {
		v = append([]Variable{{Name: "SqlServerFqdn", Value: f.SQLServerFQDN, Set: true,
			Help: "The Back End SQL Server (--sql-server-fqdn)."}}, v...)
	}
	return v
}

func parameters(p Product) []Parameter {
	return []Parameter{
		{Name: "UpdatePath", Type: "string", Help: fmt.Sprintf("Path of the update installer. Default: the path given when the script was generated, else %s in the script's own folder.", p.Installer)},
		{Name: "LogDirectory", Type: "string", Help: `Folder for the transcript. Default: $env:ProgramData\sfbpatch.`},
		{Name: "Force", Type: "switch", Help: "Turns the failures of the group-membership check and of the open-Management-Shell check into warnings."},
		{Name: "IgnorePendingReboot", Type: "switch", Help: "Runs even though Windows reports a pending reboot."},
		{Name: "LeaveServicesStopped", Type: "switch", Help: "When a step fails, leaves the services stopped instead of starting them again."},
		{Name: "SkipStartServices", Type: "switch", Help: "Leaves the Skype for Business or Lync services stopped after step 11 (the start is a step beyond the doc)."},
		{Name: "DatabaseOnly", Type: "switch", Help: "Runs only the database step (doc step 11), for a dedicated SQL Back End without Skype for Business components: run it from a Front End Server of the pool."},
	}
}

var exitCodes = []ExitCode{
	{Code: 0, Meaning: "Done: every step is done or was already done."},
	{Code: 1, Meaning: "A preflight check failed; nothing was changed."},
	{Code: 2, Meaning: "A step failed; the services were started again."},
	{Code: 3, Meaning: "A step failed and the services are not all running again (starting them failed, or -LeaveServicesStopped): manual action needed, listed."},
	{Code: 3010, Meaning: "Done, but Windows needs a reboot to finish the update."},
}

// downtime sets the clock's thresholds: the doc warns that a Back End
// down for 30 minutes or more sends users into resiliency mode.
func downtime(f Facts) Downtime {
	d := Downtime{
		WarnMinutes:   25,
		BudgetMinutes: 30,
		WarnMessage:   "Downtime has reached 25 minutes: 5 minutes remain before users may be affected.",
		BudgetMessage: "Downtime has reached 30 minutes: users homed on this Standard Edition server have been without service since the services stopped; they return when the services run again.",
	}
	if f.Edition == EditionEnterprise {
		d.BudgetMessage = "Downtime has reached 30 minutes: users of the pool may now be in resiliency mode. They return to full functionality when the Back End is back and the Front End Servers reconnect to it."
	}
	return d
}
