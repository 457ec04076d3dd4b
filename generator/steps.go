package generator

import "fmt"

// preflight lists the checks that run before the first service stops, in
// the order the script runs them. The PowerShell functions they call are
// defined once in the script template.
func preflight(p Product, f Facts) []Check {
	checks := []Check{
		{ID: "elevated", DocStep: 1, DatabaseOnly: true,
			Title:  "The session runs elevated (as Administrator).",
			Test:   "Get-ElevationProblem",
			Remedy: "Start Windows PowerShell with Run as administrator and run the script again."},
		{ID: "cs-admin", DocStep: 1, DatabaseOnly: true, Override: "Force",
			Title:  "The user is a member of CSAdministrator or RTCUniversalServerAdmins.",
			Test:   "Get-MembershipProblem",
			Remedy: "Add the account to CSAdministrator or RTCUniversalServerAdmins, log off and on again (group changes apply at logon), and run the script again; -Force runs anyway."},
	}
	if f.ServerFQDN != "" {
		checks = append(checks, Check{ID: "server-identity", DocStep: 1,
			Title:  "The script runs on the server it was generated for.",
			Test:   "Get-ServerIdentityProblem",
			Remedy: "Run the script on the server named in $ExpectedServerFqdn, or generate a script for this server."})
	}
	installer := Check{ID: "installer", DocStep: 2,
		Title:  fmt.Sprintf("The update installer exists at -UpdatePath (default: %s beside the script).", p.Installer),
		Test:   "Get-InstallerProblem",
		Remedy: "Download the update, extract it to the local disk and pass its path with -UpdatePath."}
	if f.UpdateSHA256 != "" {
		installer.Title = "The update installer exists at -UpdatePath and its SHA-256 matches $ExpectedSha256."
		installer.Remedy = "Download the update again from Microsoft and compare its SHA-256; a different file is never run."
	}
	checks = append(checks,
		installer,
		Check{ID: "module", DocStep: 3, DatabaseOnly: true,
			Title:  fmt.Sprintf("The %s module imports in a fresh Windows PowerShell (the %s).", p.Module, p.ShellName),
			Test:   "Get-ModuleProblem",
			Remedy: "Install the product's administrative tools. On a dedicated SQL Back End without its components, run this script with -DatabaseOnly from a Front End Server of the pool."},
		Check{ID: "no-open-shell", DocStep: 6, Override: "Force",
			Title:  fmt.Sprintf("No other Windows PowerShell process (a %s window) holds the module's assemblies.", p.ShellName),
			Test:   "Get-OpenShellProblem",
			Remedy: "Close every Management Shell window and every process listed (doc step 6); -Force runs anyway."},
		Check{ID: "pending-reboot", Override: "IgnorePendingReboot",
			Title:  "Windows has no reboot pending.",
			Test:   "Get-PendingRebootProblem",
			Remedy: "Reboot the server first and run the script again; -IgnorePendingReboot runs anyway."},
	)
	if f.Edition == EditionEnterprise {
		checks = append(checks,
			Check{ID: "sql-resolves", DatabaseOnly: true,
				Title:  "The SQL Server FQDN resolves in DNS.",
				Test:   "Get-SqlServerProblem",
				Remedy: "Check the name in $SqlServerFqdn and this server's DNS settings."},
			Check{ID: "not-mirrored", DatabaseOnly: true,
				Title: "The Back End databases are not mirrored (Install-CsDatabase -Update fails on mirrored databases).",
				Test:  "Get-MirrorProblem",
				Remedy: "Remove the mirror first with Uninstall-CsMirrorDatabase -SqlServerFqdn <primary> -DatabaseType <type> for each database listed, " +
					"run this script, then re-establish the mirror with Install-CsMirrorDatabase -ConfiguredDatabases -SqlServerFqdn <primary> -FileShare <share>."},
		)
	}
	return checks
}

// Probe expressions: each returns 'Done', 'Absent' (nothing to do on
// this server, reported and skipped) or 'Todo'.
var (
	csStopped = Probe{
		Description: "Every Skype for Business or Lync service on this server is stopped (Get-CsWindowsService); none installed counts as nothing to do.",
		Expression:  "Get-CsServiceState -Desired 'Stopped'",
	}
	csRunning = Probe{
		Description: "Every Skype for Business or Lync service on this server is running (Get-CsWindowsService).",
		Expression:  "Get-CsServiceState -Desired 'Running'",
	}
	w3svcStopped = Probe{
		Description: "The World Wide Web service (W3SVC) is stopped; a server without it has nothing to do.",
		Expression:  "Get-W3svcState -Desired 'Stopped'",
	}
	w3svcRunning = Probe{
		Description: "The World Wide Web service (W3SVC) is running; a server without it has nothing to do.",
		Expression:  "Get-W3svcState -Desired 'Running'",
	}
	noOpenShell = Probe{
		Description: "No other Windows PowerShell process (a Management Shell window) holds the module's assemblies.",
		Expression:  "Get-OpenShellState",
	}
	moduleLoads = Probe{
		Description: "The module imports in a fresh Windows PowerShell, with the updated assemblies.",
		Expression:  "Get-ModuleState",
	}
	databasesCurrent = Probe{
		Description: "Every database row of Test-CsDatabase has ExpectedVersion equal to InstalledVersion.",
		Expression:  "Get-DatabaseState",
	}
)

// steps lists doc steps 4 to 11 in doc order, then the start of the
// services, a step beyond the doc. Doc steps 1 to 3 are preflight checks.
func steps(p Product, f Facts) []Step {
	updateTest := Probe{
		Description: `This same installer (by SHA-256) succeeded on this server before, as recorded under HKLM:\SOFTWARE\sfbpatch\InstalledUpdates (no --target-version was given; otherwise the installer runs, and it installs only the updates not yet applied).`,
		Expression:  "Get-UpdateState",
	}
	if f.TargetVersion != "" {
		updateTest.Description = fmt.Sprintf("The installed %s version is at or above $TargetVersion (Get-CsServerPatchVersion where it exists, else the Uninstall registry keys).", p.CoreComponents)
	}
	const rerun = "Fix the cause shown, then run the script again: it resumes at this step."
	const (
		installed       = "UpdateInstalled"
		installedReason = "The update was already installed when the run began (the test of doc step 7): a run that stopped after the installer resumes after it."
		complete        = "UpdateInstalledAndDatabasesCurrent"
		completeReason  = "The update was already installed and the databases current when the run began: the procedure is complete."
	)
	return []Step{
		{ID: "stop-services", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 4, Phase: PhaseDowntime, StartsDowntime: true,
			Title:           fmt.Sprintf("Stop the %s services", p.Name),
			Why:             "The update cannot replace files that running services hold. The downtime clock starts here.",
			Test:            csStopped,
			Commands:        []string{"Stop-CsWindowsService"},
			ManagementShell: true,
			Verify:          csStopped,
			OnFailure:       rerun},
		{ID: "stop-w3svc", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 5, Phase: PhaseDowntime, StartsDowntime: true,
			Title:     "Stop the World Wide Web service",
			Why:       "IIS hosts the product's web components, which the update replaces.",
			Test:      w3svcStopped,
			Commands:  []string{"net stop w3svc"},
			Verify:    w3svcStopped,
			OnFailure: rerun},
		{ID: "close-shells", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 6, Phase: PhaseDowntime, Override: "Force",
			Title:     fmt.Sprintf("Close every %s window", p.ShellName),
			Why:       "A shell that holds the module's assemblies keeps the installer from replacing them. The script itself never loads them: its Cs cmdlets run in child processes.",
			Test:      noOpenShell,
			Verify:    noOpenShell,
			OnFailure: "Close the processes listed (or run with -Force), then run the script again."},
		{ID: "install-update", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 7, Phase: PhaseDowntime,
			Title:     "Install the update",
			Why:       "The cumulative update installer applies every update that applies to this server. Its exit codes are undocumented, so success is judged by its output and, with a target version, by the installed version.",
			Test:      updateTest,
			Commands:  []string{fmt.Sprintf("Invoke-UpdateInstaller -LiteralPath $UpdatePath -ArgumentList %s", PSQuote(p.SilentSwitch))},
			Verify:    Probe{Description: "The installer reported no failure (exit code 0, 1641 or 3010, no ERROR line) and, with a target version, the installed version reached it.", Expression: "Get-InstallResult"},
			OnFailure: "Read the installer's output in the transcript and its logs in the installer's folder, fix the cause, then run the script again."},
		{ID: "reload-shell", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 8, Phase: PhaseDowntime,
			Title:     fmt.Sprintf("Start the %s again", p.ShellName),
			Why:       "The next commands must load the updated assemblies: each runs in a fresh child Windows PowerShell that imports the module.",
			Test:      moduleLoads,
			Verify:    moduleLoads,
			OnFailure: rerun},
		{ID: "stop-services-again", NotNeededWhen: complete, NotNeededReason: completeReason, DocStep: 9, Phase: PhaseDowntime,
			Title:           fmt.Sprintf("Stop the %s services again", p.Name),
			Why:             "Catches services the installer started again, so the Global Assembly Cache (GAC) assemblies are released.",
			Test:            csStopped,
			Commands:        []string{"Stop-CsWindowsService"},
			ManagementShell: true,
			Verify:          csStopped,
			OnFailure:       rerun},
		{ID: "start-w3svc", NotNeededWhen: complete, NotNeededReason: completeReason, DocStep: 10, Phase: PhaseDowntime,
			Title:     "Restart the World Wide Web service",
			Why:       "IIS runs again with the updated web components.",
			Test:      w3svcRunning,
			Commands:  []string{"net start w3svc"},
			Verify:    w3svcRunning,
			OnFailure: rerun},
		{ID: "update-databases", DocStep: 11, Phase: PhaseDatabase, DatabaseStep: true,
			Title:           "Apply the changes to the SQL Server databases",
			Why:             databaseWhy(f),
			Test:            databasesCurrent,
			Commands:        []string{installDatabaseCommand(f)},
			ManagementShell: true,
			Arguments:       databaseTest(f).Arguments,
			Verify:          databasesCurrent,
			OnFailure:       "Read the Install-CsDatabase log (HTML, in the user's temporary folder), fix the cause, then run the script again."},
		{ID: "start-services", Phase: PhaseRestart, SkipSwitch: "SkipStartServices", EndsDowntime: true,
			Title:           fmt.Sprintf("Start the %s services", p.Name),
			Why:             "The doc stops after the database update; the server returns to service only when its services run.",
			Test:            csRunning,
			Commands:        []string{"Start-CsWindowsService"},
			ManagementShell: true,
			Verify:          csRunning,
			OnFailure:       "Start the services by hand with Start-CsWindowsService and check them with Get-CsWindowsService."},
	}
}

func databaseWhy(f Facts) string {
	switch {
	case f.Edition == EditionStandard:
		return "A Standard Edition server updates its local databases."
	case f.CollocatedStores:
		return "An Enterprise Edition Back End with Archiving or Monitoring databases on the same SQL Server: -ExcludeCollocatedStores."
	default:
		return "An Enterprise Edition Back End without collocated Archiving or Monitoring databases."
	}
}
