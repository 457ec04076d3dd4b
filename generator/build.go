package generator

import (
	"fmt"
	"slices"
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
	if f.IsFrontEnd() {
		return frontEndPlanOf(f), nil
	}
	return planOf(f), nil
}

// planOf computes the plan of valid facts.
func planOf(f Facts) Plan {
	p, _ := LookupProduct(f.Product)
	ed, _ := LookupEdition(f.Edition)
	plan := Plan{
		Facts:      f,
		Product:    p,
		Role:       ed.Role,
		Procedure:  BackEndProcedure,
		Enterprise: ed.Enterprise,
		Installer: Installer{
			DefaultFileName: p.Installer,
			Arguments:       []string{p.SilentSwitch},
		},
		Database:   ed.step11(f).Database,
		Downtime:   ed.downtime(),
		Parameters: parameters(p, f),
		ExitCodes:  exitCodes,
	}
	if ed.Enterprise && p.SupportsMirroring {
		plan.Database.MirrorStateCommand = "Get-CsDatabaseMirrorState -PoolFqdn $Pool"
	}
	plan.FactTable = factTable(p, ed, f)
	plan.Variables = variables(f)
	plan.Preflight = preflight(p, ed, f, plan.Database)
	plan.Steps = steps(p, ed, f)
	numberSteps(plan.Steps)
	plan.Children = children
	plan.Window = window(plan.Steps)
	plan.Recovery = recovery
	plan.Run = runOf(p, ed, f)
	plan.Manifest = manifestOf(plan)
	if ed.Enterprise && f.TargetVersion == "" {
		plan.Warnings = append(plan.Warnings, NoTargetVersionWarning)
	}
	plan.Resume = resumeCases(plan.Steps, backEndResume)
	return plan
}

// BackEndProcedure is Microsoft's procedure for a Back End or a Standard
// Edition server.
const BackEndProcedure = "Microsoft's procedure \"Patch or update a Back End Server or Standard Edition server\""

// factValue is a fact as the fact table shows it: collocated stores only
// for an Enterprise Edition Back End.
func factValue(f Facts, key string) string {
	if key == "collocated_stores" {
		if ed, _ := LookupEdition(f.Edition); !ed.Enterprise {
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
func factTable(p Product, ed Edition, f Facts) []FactRow {
	var rows []FactRow
	for _, field := range Fields {
		if field.shownFor(f) {
			rows = append(rows, FactRow{Key: field.Key, Label: field.Label, Value: factValue(f, field.Key), Meaning: field.meaning(p, ed, f)})
		}
	}
	return rows
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

func variables(f Facts) []Variable {
	var vs []Variable
	for _, field := range Fields {
		if field.Variable == "" || !field.shownFor(f) {
			continue
		}
		value := factValue(f, field.Key)
		vs = append(vs, Variable{Name: field.Variable, Value: value, Set: value != "", Help: field.VariableHelp})
	}
	return vs
}

// UnattendedCommandLine is how Task Scheduler and SCCM run the script:
// -File keeps its exit codes (with -Command every code but 0 and 1 becomes
// 1), and -Unattended replaces -Confirm:$false, which -File cannot pass.
const UnattendedCommandLine = `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <script>.ps1 -Unattended`

func parameters(p Product, f Facts) []Parameter {
	updatePath := ""
	if f.UpdatePath != "" {
		updatePath = PSQuote(f.UpdatePath)
	}
	phases := make([]string, len(children))
	for i, c := range children {
		phases[i] = c.Phase
	}
	params := []Parameter{
		{Name: "UpdatePath", Type: "string", Default: updatePath, Help: fmt.Sprintf("Path of the update installer. Default: the path given when the script was generated, else %s in the script's own folder.", p.Installer)},
		{Name: "LogDirectory", Type: "string", Default: "(Join-Path $env:ProgramData 'sfbpatch')", Help: `Folder for the transcript and the Install-CsDatabase report. Default: $env:ProgramData\sfbpatch.`},
		{Name: "Unattended", Type: "switch", Help: "Asks nothing: for Task Scheduler and SCCM, with " + UnattendedCommandLine + ", which keeps the exit codes. -WhatIf still changes nothing."},
		{Name: "Force", Type: "switch", Help: "Turns the failures of the group-membership check, of the open-Management-Shell check and of a mirror state that cannot be read into warnings (a mirrored database is never overridden)."},
		{Name: "IgnorePendingReboot", Type: "switch", Help: "Runs even though Windows reports a pending reboot."},
		{Name: "LeaveServicesStopped", Type: "switch", Help: "When a step fails, leaves the services stopped instead of starting again those that were running."},
		{Name: "SkipStartServices", Type: "switch", Help: "Leaves the Skype for Business or Lync services stopped after step 11 (the start is a step beyond the doc)."},
		{Name: "InstallerTimeoutMinutes", Type: "int", Default: strconv.Itoa(installerMinutes), Range: []int{1, 1440},
			Help: fmt.Sprintf("Bound on the wait for the update installer, in minutes (default %d). At the bound the installer is left running, never stopped, and the run ends with exit code 6.", installerMinutes)},
		{Name: "ShellTimeoutMinutes", Type: "int", Default: strconv.Itoa(shellMinutes), Range: []int{1, 1440},
			Help: fmt.Sprintf("Bound on the wait for each fresh Windows PowerShell the script starts (its Install-CsDatabase included), in minutes (default %d). At the bound it is left running and the run ends with exit code 6.", shellMinutes)},
		{Name: "RecoveryTask", Type: "switch", Help: "Registers the recovery task for an interactive run too (-Unattended always does): a task of SYSTEM that starts again what was running if the run ends without doing so."},
		{Name: "DatabaseOnly", Type: "switch", Help: "Runs only the database step (doc step 11), from an updated Front End Server of a pool homed on the SQL Server: for a dedicated SQL Back End without Skype for Business components. Refused where the script cannot tell that this machine is not older than the databases (see --target-version)."},
	}
	for i := range params {
		params[i].Set = ParameterSetRun
	}
	return append(params,
		Parameter{Name: "Phase", Type: "string", Set: ParameterSetPhase, Choices: append(phases, recovery.Phase), Mandatory: true,
			Help: "Internal: the script starts itself with it in a fresh Windows PowerShell (powershell.exe -File), to run the product's cmdlets there; the recovery task starts it with " + recovery.Phase + ". Not for the operator."},
		Parameter{Name: "RunFolder", Type: "string", Set: ParameterSetPhase,
			Help: "Internal: with -Phase, the folder of the run (Administrators and SYSTEM only) that holds the child's request and its results. Not for the operator."})
}

// NoTargetVersionWarning is what an Enterprise Edition Back End's script
// cannot prove without --target-version.
const NoTargetVersionWarning = "an Enterprise Edition Back End without --target-version: run with -DatabaseOnly from a Front End Server, the script can tell " +
	"only whether the databases are behind that Front End's binaries, not whether the Front End has this update; when they match it, it changes nothing and exits 9. " +
	"Give --target-version (the Core Components version of the update) for a definite check."

// The default bounds of the script's waits, in minutes: a cumulative update
// installer takes tens of minutes; a child runs Stop-CsWindowsService,
// Install-CsDatabase and the start of the services.
const installerMinutes, shellMinutes = 120, 60

// recovery is the recovery task every unattended run registers.
var recovery = Recovery{
	Phase:    "recover",
	TaskName: "sfbpatch-recovery",
	LockName: `Global\sfbpatch`,
	Account:  "SYSTEM",
	EventID:  1001,
	Copy:     `$env:ProgramFiles\sfbpatch\sfbpatch-recovery.ps1`,
	Trigger: "15 minutes after its registration, then every 15 minutes for a day (each run at most 4 hours): it acts only once no run holds the machine's mutex and nothing the run recorded as started still runs, so it cannot act while the run goes on. " +
		"Removed by the run when it ends (kept when the run ended at a bound), or by itself once it has acted.",
	Restores: `While no run holds the machine's mutex and neither the installer nor the child the run recorded still runs: starts again, through the Service Control Manager, the services (and W3SVC) that HKLM:\SOFTWARE\sfbpatch\RunState records as running before the first stop, ` +
		"writes an event (Application log, source sfbpatch) and removes itself. It runs a copy of the script in a folder owned by Administrators that only Administrators and SYSTEM can open: that folder is what protects the copy. " +
		"The copy also compares its own SHA-256 with the one the run recorded, which tells it apart from another run's copy but is no protection against a change.",
	Description: "sfbpatch: starts again the Skype for Business or Lync services and W3SVC if a run ended without doing so. Removed when the run ends.",
}

var exitCodes = []ExitCode{
	{Code: 0, Name: "done", Meaning: "Done: every step is done or was already done."},
	{Code: 1, Name: "nothing-changed", Meaning: "Nothing was changed: a preflight check failed, the confirmation was declined, or a step failed before the first child of the window started."},
	{Code: 2, Name: "restored", Meaning: "A step failed once the window had begun (a change may have been made); the services that were running before the run are running again."},
	{Code: 3, Name: "manual-action", Meaning: "A step failed and services that were running before the run are not running again (starting them failed, or -LeaveServicesStopped): manual action needed, listed."},
	{Code: 4, Name: "reboot-under-way", Meaning: "Not finished: the installer started a reboot of Windows (its exit code 1641). Run the script again after the reboot: it resumes after the installer."},
	{Code: 5, Name: "busy", Meaning: "Nothing was changed: another run of the script holds this server (its process and start time are named)."},
	{Code: 6, Name: "still-running", Meaning: "The installer or a fresh Windows PowerShell (Install-CsDatabase) was still running at its bound: it was left running, and so were the services as they were. Wait until it ends, then run the script again; the recovery task, if registered, starts the services again once it has ended (it looks every 15 minutes for a day)."},
	{Code: 7, Name: "left-down", Meaning: "A preflight check failed and this run changed nothing, but an earlier run left services stopped (named): fix the problem and run the script again, or start them by hand."},
	{Code: 8, Name: "databases-disagree", Meaning: "Done, but Test-CsDatabase does not report every database doc step 11 updates current although Install-CsDatabase succeeded (in this run or an earlier one): the warning names the command to check them. No run stops the services again for them."},
	{Code: 9, Name: "nothing-to-update", Meaning: "-DatabaseOnly without --target-version: the databases are at the versions this machine expects, and no record shows Install-CsDatabase ran from it: nothing this machine can update, nothing was changed. Run it from an updated Front End Server of the pool, or generate the script with --target-version."},
	{Code: 3010, Name: "reboot-required", Meaning: "Done, but Windows needs a reboot to finish the update; after the reboot, a run of the script confirms the databases."},
}
