package generator

import "fmt"

// preflight lists the checks that run before the first service stops, in
// the order the script runs them: first those that need nothing but this
// machine, then the 'read' child (the module check), then those that use
// what it read. The PowerShell functions they call are defined once in the
// script template.
// commonChecks are the first checks of every script: the session, the
// account, the log folder and the installer.
func commonChecks(p Product, f Facts) []Check {
	checks := []Check{
		{ID: "elevated", DocStep: 1, DatabaseOnly: true,
			Title:  "The session runs elevated (as Administrator).",
			Test:   "Get-ElevationProblem",
			Remedy: "Start Windows PowerShell with Run as administrator and run the script again."},
		{ID: "64-bit", DatabaseOnly: true,
			Title:  "The session is a 64-bit Windows PowerShell (a 32-bit one would start 32-bit children and read the 32-bit registry view).",
			Test:   "Get-BitnessProblem",
			Remedy: `Run the script from the 64-bit Windows PowerShell: %SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe (from a 32-bit program: %SystemRoot%\Sysnative\WindowsPowerShell\v1.0\powershell.exe).`},
		{ID: "can-confirm", DatabaseOnly: true,
			Title:  "The session can ask for the confirmation, or runs with -Unattended (or -WhatIf, or -Confirm:$false).",
			Test:   "Get-PromptProblem",
			Remedy: "For Task Scheduler or SCCM, run: " + UnattendedCommandLine + " (keeps the exit codes)."},
		{ID: "log-directory", DatabaseOnly: true,
			Title:  "The folder -LogDirectory exists or can be created (for Administrators and SYSTEM only), no one else can write in it, and this account can: the transcript and the Install-CsDatabase report go there.",
			Test:   "Get-LogDirectoryProblem",
			Remedy: "Pass with -LogDirectory a folder only Administrators and SYSTEM can write in, or a new one (the script creates it so); or remove the folder named, which holds only sfbpatch's logs and reports, and the script creates it anew."},
		{ID: "cs-admin", DocStep: 1, DatabaseOnly: true, Override: "Force",
			Title:  "The user is a member of CSAdministrator or RTCUniversalServerAdmins.",
			Test:   "Get-MembershipProblem",
			Remedy: "Add the account to CSAdministrator or RTCUniversalServerAdmins, log off and on again (group changes apply at logon), and run the script again; -Force runs anyway."},
	}
	installer := Check{ID: "installer", DocStep: 2,
		Title:  fmt.Sprintf("The update installer exists at -UpdatePath (default: %s beside the script); it is hashed and held open (others may only read it) until it has run.", p.Installer),
		Test:   "Get-InstallerProblem",
		Remedy: "Download the update, extract it to the local disk and pass its path with -UpdatePath."}
	if f.UpdateSHA256 != "" {
		installer.Title = "The update installer exists at -UpdatePath and its SHA-256 matches $ExpectedSha256; it is held open (others may only read it) until it has run."
		installer.Remedy = "Download the update again from Microsoft and compare its SHA-256; a different file is never run."
	}
	return append(checks, installer)
}

func preflight(p Product, ed Edition, f Facts, db Database) []Check {
	checks := append(commonChecks(p, f), Check{ID: "w3svc-dependents",
		Title:  "No service that depends on the World Wide Web service (W3SVC) is running: net stop w3svc would ask whether to stop it too.",
		Test:   "Get-W3svcDependentProblem",
		Remedy: "Stop the services listed (they are not part of the procedure), or start the script when they are stopped."})
	checks = append(checks, machineChecks(p)...)
	if ed.Enterprise {
		checks = append(checks, Check{ID: "sql-resolves", DatabaseOnly: true,
			Title:  "The SQL Server FQDN resolves in DNS.",
			Test:   "Get-SqlServerProblem",
			Remedy: "Check the name in $SqlServerFqdn and this server's DNS settings."})
	}
	checks = append(checks,
		Check{ID: "module", DocStep: 3, DatabaseOnly: true,
			Title: fmt.Sprintf("The %s module imports in a fresh Windows PowerShell (the %s), which reads the services, the databases and the %s version before anything changes.",
				p.Module, p.ShellName, p.CoreComponents),
			Test:   "Get-ServerStateProblem",
			Remedy: "Install the product's administrative tools. On a dedicated SQL Back End without its components, run this script with -DatabaseOnly from an already updated Front End Server of the pool."},
		Check{ID: "database-scope", DocStep: 11, DatabaseOnly: true, ReadsServer: true,
			Title: "Test-CsDatabase reports the databases doc step 11 updates (" + db.Scope + "), each with the version this machine expects, none newer than it.",
			Test:  "Get-DatabaseScopeProblem",
			Remedy: "Check the databases with " + db.TestCommand + " -Verbose; on an Enterprise Edition Back End, check that $SqlServerFqdn is the SQL Server (or AlwaysOn listener) the topology names. " +
				"With -DatabaseOnly and databases that report no installed version, generate the script with --target-version."},
	)
	if ed.Enterprise {
		checks = append(checks, Check{ID: "not-front-end",
			Title: "Without -DatabaseOnly: this machine is not a Front End Server (it has no RTCSRV, the Front-End service): the whole procedure stops every service of the machine it runs on, " +
				"which the Front End procedure of a pool does not.",
			Test: "Get-FrontEndProblem",
			Remedy: "Patch the Front End Servers with their pool's own procedure; then run this script with -DatabaseOnly from one of them. Run it whole only on a Back End that has the product's components. " +
				"If an earlier run left this server's services stopped, start them with Start-CsWindowsService."})
	}
	if f.ServerFQDN != "" {
		identity := Check{ID: "server-identity", DocStep: 1, DatabaseOnly: true,
			Title:  "The script runs on the server it was generated for.",
			Test:   "Get-ServerIdentityProblem",
			Remedy: "Run the script on the server named in $ExpectedServerFqdn, or generate a script for this server."}
		if ed.Enterprise {
			identity.Title = "The script runs on the server it was generated for; with -DatabaseOnly, also on a Front End Server whose pool keeps its user database on $SqlServerFqdn."
			identity.Remedy = "Run the script on the server named in $ExpectedServerFqdn, or with -DatabaseOnly on a Front End Server of a pool homed on $SqlServerFqdn."
		}
		checks = append(checks, identity)
	}
	if !ed.Enterprise {
		return append(checks, Check{ID: "database-only-edition", OnlyDatabaseOnly: true,
			Title:  "With -DatabaseOnly: the server is an Enterprise Edition Back End.",
			Test:   "Get-DatabaseOnlyEditionProblem",
			Remedy: "Run the whole script on a Standard Edition server: it stops the services before doc step 11 and resumes after the installer."})
	}
	checks = append(checks, Check{ID: "pool-member", OnlyDatabaseOnly: true, ReadsServer: true,
		Title:  "With -DatabaseOnly: this machine is a Front End Server of a pool whose user database is on $SqlServerFqdn (Get-CsComputer, Get-CsService -UserServer): doc step 11 brings the databases to this machine's level.",
		Test:   "Get-PoolMemberProblem",
		Remedy: "Run -DatabaseOnly on an updated Front End Server of a pool homed on $SqlServerFqdn."})
	if f.TargetVersion != "" {
		checks = append(checks, Check{ID: "updated-machine", OnlyDatabaseOnly: true, ReadsServer: true,
			Title:  fmt.Sprintf("With -DatabaseOnly: this machine is already updated: its %s version is at or above $TargetVersion.", p.CoreComponents),
			Test:   "Get-StaleMachineProblem",
			Remedy: "Run -DatabaseOnly from a machine the update was installed on: Test-CsDatabase takes the expected database versions from the machine that runs it."})
	}
	return append(checks,
		Check{ID: "not-mirrored", DatabaseOnly: true, ReadsServer: true,
			Title: mirrorTitle(p),
			Test:  "Get-MirrorProblem",
			Remedy: "Remove the mirror first with Uninstall-CsMirrorDatabase -SqlServerFqdn <primary> -DatabaseType <type> for each database listed, " +
				"run this script, then re-establish the mirror with Install-CsMirrorDatabase -ConfiguredDatabases -SqlServerFqdn <primary> -FileShare <share>. " +
				"A mirror state that cannot be read: check Get-CsDatabaseMirrorState -PoolFqdn <pool> by hand, then -Force runs anyway."})
}

// machineChecks are the checks of this machine before the installer runs:
// a pending reboot, the Management Shell's assemblies, Windows Installer.
func machineChecks(p Product) []Check {
	return []Check{
		{ID: "pending-reboot", Override: "IgnorePendingReboot",
			Title:  "Windows has no reboot pending.",
			Test:   "Get-PendingRebootProblem",
			Remedy: "Reboot the server first and run the script again; -IgnorePendingReboot runs anyway."},
		{ID: "own-process", DocStep: 6, DatabaseOnly: true,
			Title:  "This Windows PowerShell has not loaded the Management Shell's assemblies (it was not started as a Management Shell); no switch overrides this check.",
			Test:   "Get-OwnProcessProblem",
			Remedy: "Run the script from a new, plain Windows PowerShell."},
		{ID: "installer-idle", DocStep: 7,
			Title:  "Windows Installer is not busy with another installation (its _MSIExecute mutex is free): the update installer would fail with 1618.",
			Test:   "Get-InstallerBusyProblem",
			Remedy: "Wait for the other installation (Windows Update, SCCM) to end, then run the script again."},
		{ID: "no-open-shell", DocStep: 6, Override: "Force",
			Title:  fmt.Sprintf("No other Windows PowerShell process (a %s window, or a remote session) holds the module's assemblies.", p.ShellName),
			Test:   "Get-OpenShellProblem",
			Remedy: "Close every Management Shell window and every process listed (doc step 6); -Force runs anyway."},
	}
}

// Probe expressions. Those of steps in a child are functions of the child
// program; the others are functions of the script.
var (
	csStopped = Probe{
		Description: "Every Skype for Business or Lync service on this server is stopped (Get-CsWindowsService -ExcludeActivityLevel); a server without them has nothing to do.",
		Expression:  "Test-ServicesAre -Desired 'Stopped'",
	}
	csRunning = Probe{
		Description: "Every Skype for Business or Lync service on this server that was running before the run (recorded before the first stop) is running (Get-CsWindowsService -ExcludeActivityLevel); one that was down before is reported, not failed.",
		Expression:  "Test-ServicesAre -Desired 'Running'",
	}
	w3svcStopped = Probe{
		Description: "The World Wide Web service (W3SVC) is stopped; a server without it has nothing to do.",
		Expression:  "Test-W3svc -Desired 'Stopped'",
	}
	w3svcRunning = Probe{
		Description: "The World Wide Web service (W3SVC) is running; a server without it has nothing to do.",
		Expression:  "Test-W3svc -Desired 'Running'",
	}
	noOpenShell = Probe{
		Description: "No other Windows PowerShell process (a Management Shell window) holds the module's assemblies.",
		Expression:  "Test-NoOpenShell",
	}
	// moduleLoads has no expression: the child's own Import-Module is the test.
	moduleLoads = Probe{
		Description: "The child imported the module, with the updated assemblies.",
	}
)

// The resume rules: what makes a step unnecessary when the run begins.
const (
	installed       = "UpdateInstalled"
	installedReason = "The update was already installed when the run began (this installer's success, by its exit code, is recorded): a run that stopped after the installer resumes after it."
	updated         = "DatabasesUpdated"
	updatedReason   = "The update was already installed and Install-CsDatabase had succeeded since (recorded), or Test-CsDatabase reported each database at the version this machine expects, when the run began: the services are not stopped again."
	rerun           = "Fix the cause shown, then run the script again: it resumes at this step."
)

// ChildLauncher is the one function of the script that starts a child
// Windows PowerShell: powershell.exe -File with the script's own path and
// -Phase.
const ChildLauncher = "Invoke-ScriptPhase"

// Children of the script, in the order it starts them.
var children = []Child{
	{Phase: "read", Reads: true, Purpose: "Before the window: imports the module (doc step 3) and reads the services, the databases and the Core Components version. Read only."},
	{Phase: "stop", InWindow: true, Purpose: "Doc step 4: imports the module before anything stops, then stops the services and reports their state."},
	{Phase: "update", InWindow: true, Purpose: "After the installer: imports the updated module (doc step 8), then doc steps 9, 10 and 11 and the final start, each testing its state first; the database verification and the version read follow the start."},
}

// steps lists doc steps 4 to 11 in doc order, then the start of the
// services, a step beyond the doc. Doc steps 1 to 3 are preflight checks.
func steps(p Product, ed Edition, f Facts) []Step {
	step11 := ed.step11(f)
	db := step11.Database
	databaseUpdate := Probe{
		Description: `Install-CsDatabase reported no error record (one fails the step at once, in the window). Without a warning either, its success is recorded first under HKLM:\SOFTWARE\sfbpatch\UpdatedDatabases (the SQL Server and this machine's Core Components version), and a later run does not stop the services again for it. ` +
			"Then " + db.TestCommand + " is read: a row that step 11 updates (" + db.Scope + ") that it does not report current (Succeed True, and InstalledVersion blank, as in Microsoft's sample, or equal to ExpectedVersion), or a reading that fails, is a warning and exit code 8. " +
			"If Install-CsDatabase wrote a warning, such a row fails the step instead (no record), and without one the success is recorded. Other rows that are not current are warnings with the command that updates them.",
		Expression: "Test-DatabaseUpdate",
	}
	return []Step{
		{ID: "stop-services", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 4, Stage: StageDowntime, StartsDowntime: true,
			Title:    fmt.Sprintf("Stop the %s services", p.Name),
			Why:      "The update cannot replace files that running services hold. The downtime clock starts here. The services running now are recorded: a failure starts exactly those again.",
			Test:     csStopped,
			Commands: []string{"Stop-CsWindowsService -Confirm:$false"},
			Shell:    "stop", Kind: KindChildCommand,
			Verify:    csStopped,
			OnFailure: rerun,
			Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports every service stopped; a later run takes the installer's record instead."},
		{ID: "stop-w3svc", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 5, Stage: StageDowntime, StartsDowntime: true,
			Title:     "Stop the World Wide Web service",
			Why:       "IIS hosts the product's web components, which the update replaces. Whether W3SVC was running before the first stop is recorded: a failure starts it again only if it was.",
			Test:      w3svcStopped,
			Commands:  []string{"net stop w3svc"},
			Kind:      KindNative,
			Verify:    w3svcStopped,
			OnFailure: rerun,
			Evidence:  "Get-Service reports W3SVC stopped; a later run takes the installer's record instead."},
		closeShellsStep(p, 6),
		installStep(p, f),
		{ID: "reload-shell", DocStep: 8, Stage: StageDowntime,
			Title: fmt.Sprintf("Start the %s again", p.ShellName),
			Why:   "The next commands must load the updated assemblies: they run in a fresh child Windows PowerShell that imports the module after the installer.",
			Test:  moduleLoads,
			Shell: "update", Kind: KindChildShell,
			Verify:    moduleLoads,
			OnFailure: rerun,
			Evidence:  "The child imported the module after the installer."},
		{ID: "stop-services-again", NotNeededWhen: updated, NotNeededReason: updatedReason, DocStep: 9, Stage: StageDowntime, StartsDowntime: true,
			Title:    fmt.Sprintf("Stop the %s services again", p.Name),
			Why:      "Catches services the installer started again, so the Global Assembly Cache (GAC) assemblies are released. It runs whenever doc step 11 has work to do: stopping stopped services is harmless.",
			Commands: []string{"Stop-CsWindowsService -Confirm:$false"},
			Shell:    "update", Kind: KindChildCommand,
			Verify:    csStopped,
			OnFailure: rerun,
			Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports every service stopped after the command, which runs whenever doc step 11 has work to do."},
		{ID: "start-w3svc", DocStep: 10, Stage: StageDowntime,
			Title:    "Restart the World Wide Web service",
			Why:      "IIS runs again with the updated web components. Its state is checked on every run, also when the rest is done.",
			Test:     w3svcRunning,
			Commands: []string{"net start w3svc"},
			Shell:    "update", Kind: KindNative,
			Verify:    w3svcRunning,
			OnFailure: rerun,
			Evidence:  "Get-Service reports W3SVC running, read on every run."},
		{ID: "update-databases", NotNeededWhen: updated, NotNeededReason: updatedReason, DocStep: 11, Stage: StageDatabase, DatabaseStep: true,
			Title:    "Apply the changes to the SQL Server databases",
			Why:      step11.Why,
			Commands: []string{step11.Command + " -Report $DatabaseReport -ErrorAction Continue -Confirm:$false"},
			Shell:    "update", Kind: KindChildCommand,
			Verify:              databaseUpdate,
			VerifiedAfterWindow: true,
			OnFailure:           `Read the Install-CsDatabase log (the HTML file $DatabaseReport in -LogDirectory), fix the cause, then run the script again.`,
			Evidence:            `Install-CsDatabase's own outcome (no error record), recorded under HKLM:\SOFTWARE\sfbpatch\UpdatedDatabases; Test-CsDatabase's Succeed is read after it, as a warning.`},
		{ID: "start-services", Stage: StageRestart, SkipSwitch: "SkipStartServices", EndsDowntime: true,
			Title:    fmt.Sprintf("Start the %s services", p.Name),
			Why:      "The doc stops after the database update; the server returns to service only when its services run. Each service that ran before the run is started by name; one that was down before the run is reported and left as it was.",
			Test:     csRunning,
			Commands: []string{"foreach ($name in $RunningBefore) { Start-CsWindowsService -Name $name -Confirm:$false }"},
			Shell:    "update", Kind: KindChildCommand,
			Verify:    csRunning,
			OnFailure: "Start the services by hand with Start-CsWindowsService and check them with Get-CsWindowsService.",
			Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports running every service that ran before the run."},
	}
}

// closeShellsStep is the check that no Management Shell holds the
// module's assemblies before the installer (doc step 6 of the Back End
// procedure; docStep 0 where the procedure has no such step).
func closeShellsStep(p Product, docStep int) Step {
	return Step{ID: "close-shells", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: docStep, Stage: StageDowntime, Override: "Force",
		Title:     fmt.Sprintf("Close every %s window", p.ShellName),
		Why:       "A shell that holds the module's assemblies keeps the installer from replacing them. The script itself never loads them: the product's cmdlets run in child processes.",
		Test:      noOpenShell,
		Kind:      KindCheck,
		Verify:    noOpenShell,
		OnFailure: "Close the processes listed (or run with -Force), then run the script again.",
		Evidence:  "No PowerShell process holds the module's assemblies; a later run takes the installer's record instead."}
}

// installStep is the step that runs the update installer, in the
// script's own process.
func installStep(p Product, f Facts) Step {
	updateTest := Probe{
		Description: `This same installer (by SHA-256) succeeded on this server before, as recorded under HKLM:\SOFTWARE\sfbpatch\InstalledUpdates. Running it again is harmless: it installs only the updates not yet applied.`,
		Expression:  "Test-InstallRecord",
	}
	updateVerify := Probe{
		Description: `The installer exited with 0, 3010 (a reboot is needed) or 1641 (it started a reboot), within -InstallerTimeoutMinutes: its success is recorded by SHA-256 under HKLM:\SOFTWARE\sfbpatch\InstalledUpdates. Windows Installer's 1618 (another installation runs) is a failure; the installer is not started while its _MSIExecute mutex is held. The Core Components version before and after is compared as a cross-check (a warning when it did not rise).`,
		Expression:  "Test-InstallResult",
	}
	if f.TargetVersion != "" {
		updateVerify.Description += fmt.Sprintf(" After the services are back, the %s version must be at or above $TargetVersion (Get-CsServerPatchVersion where it exists, else the Uninstall registry keys); if not, the step fails and its record is removed.", p.CoreComponents)
	}
	return Step{ID: "install-update", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 7, Stage: StageDowntime,
		Title:     "Install the update",
		Why:       "The cumulative update installer applies every update that applies to this server, one package per component. Its success record, by SHA-256, is the only evidence a later run takes that this step is done.",
		Test:      updateTest,
		Commands:  []string{fmt.Sprintf("Invoke-UpdateInstaller -LiteralPath $UpdatePath -ArgumentList %s", PSQuote(p.SilentSwitch))},
		Kind:      KindInstaller,
		Verify:    updateVerify,
		OnFailure: "Read the installer's output in the transcript and its logs in the installer's folder, fix the cause, then run the script again. Exit code 1641: Windows is restarting; run the script again after the reboot.",
		Evidence:  `The installer's exit code (0, 3010 or 1641), recorded by SHA-256 under HKLM:\SOFTWARE\sfbpatch\InstalledUpdates: no text of its output decides.`}
}

// window lists what a run that installs the update does between the
// first service stop and the final start: the steps in order, each child
// start counted once, until the step that ends the downtime.
func window(steps []Step) []WindowOp {
	var ops []WindowOp
	current := ""
	for _, s := range steps {
		where := "script"
		if s.Shell != "" {
			where = s.Shell
			if s.Shell != current {
				ops = append(ops, WindowOp{Kind: KindChildShell, DocStep: s.DocStep, Where: "script",
					Command: fmt.Sprintf("powershell.exe -NoProfile -NonInteractive -File <this script> -Phase %s", s.Shell)})
			}
		}
		current = s.Shell
		if s.Kind == KindCheck {
			ops = append(ops, WindowOp{Kind: KindCheck, DocStep: s.DocStep, Where: where, Command: s.Test.Expression})
		}
		for _, c := range s.Commands {
			ops = append(ops, WindowOp{Kind: s.Kind, DocStep: s.DocStep, Where: where, Command: c})
		}
		if s.EndsDowntime {
			break
		}
	}
	for i := range ops {
		ops[i].Number = i + 1
	}
	return ops
}

// resumeCases derives, from the steps' resume rules, what a run does after
// each outcome an earlier run can leave. The script decides the same way:
// a step runs unless the state its NotNeededWhen names held when the run
// began (UpdateInstalled: the installer's success is recorded;
// DatabasesUpdated: that, and Install-CsDatabase's success is recorded or
// the databases read current), and a server with both and every service
// back has nothing to do.
func resumeCases(steps []Step, outcomes []ResumeCase) []ResumeCase {
	var cases []ResumeCase
	for _, c := range outcomes {
		state := map[string]bool{installed: c.InstallerDone, updated: c.InstallerDone && c.DatabasesDone}
		c.Runs = []string{}
		done := c.ServicesBack
		for _, s := range steps {
			done = done && (s.NotNeededWhen == "" || state[s.NotNeededWhen])
		}
		if !done {
			for _, s := range steps {
				if !state[s.NotNeededWhen] {
					c.Runs = append(c.Runs, s.ID)
					c.StopsServices = c.StopsServices || s.StartsDowntime
				}
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// backEndResume are the outcomes an earlier run of a Back End or Standard
// Edition script can leave.
var backEndResume = []ResumeCase{
	{ServicesBack: true, Why: "No success of this installer is recorded: the run carries out the whole procedure from doc step 4."},
	{Why: "No success of this installer is recorded: the run carries out the whole procedure from doc step 4, restoring the services recorded before the first stop if a step fails."},
	{InstallerDone: true, ServicesBack: true, Why: "Install-CsDatabase has not succeeded since the installer: doc step 9 stops the services again so that doc step 11 can run. The confirmation, and the transcript of an unattended run, say so."},
	{InstallerDone: true, Why: "Install-CsDatabase has not succeeded since the installer: the run resumes at doc step 8, stops what runs again at doc step 9, then updates the databases and starts the services."},
	{InstallerDone: true, DatabasesDone: true, Why: "The documented work is done: the run starts W3SVC and the services that ran before the earlier run, and stops nothing."},
	{InstallerDone: true, DatabasesDone: true, ServicesBack: true, Why: "Nothing to do: the run reads the state and reports it; a database that Test-CsDatabase does not report current is a warning, never a new outage."},
}

// mirrorTitle says how the script tells a mirrored database.
func mirrorTitle(p Product) string {
	const title = "The databases step 11 updates are not mirrored (Install-CsDatabase -Update fails on mirrored databases): "
	if p.SupportsMirroring {
		return title + "Test-CsDatabase names no mirror, and Get-CsDatabaseMirrorState -PoolFqdn reports none for each pool whose user database is on $SqlServerFqdn."
	}
	return title + "Test-CsDatabase names no mirror (" + p.Name + " no longer supports SQL Server mirroring)."
}
