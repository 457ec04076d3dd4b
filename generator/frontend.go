package generator

import (
	"fmt"
	"strconv"
)

// The Front End procedure's sources (DOMAIN.md section 11): Skype for
// Business Server 2015 and 2019, "Patch or update Front End Servers" of
// manage-front-end-servers; Lync Server 2013, "Upgrade or update Front End
// Servers" and, for the wait between upgrade domains, "Improving the
// Reliability of Pool Upgrades".
const (
	sfbFrontEndSource  = "Microsoft's procedure \"Patch or update Front End Servers\" (Manage Front End Servers in Skype for Business Server)"
	lyncFrontEndSource = "Microsoft's procedure \"Upgrade or update Front End Servers in Lync Server 2013\""
)

// FrontEndRole names the server a Front End plan patches.
const FrontEndRole = "Enterprise Edition Front End Server"

// The Front End script's bounds and clock, in minutes: a child may wait
// for Invoke-CsComputerFailOver or -FailBack, whose own wait is one hour
// by default (their -WaitTime), then for the pool's fabric state.
const frontEndShellMinutes, frontEndWarnMinutes, frontEndBudgetMinutes = 150, 60, 90

// frontEndShellFloor is the lowest bound a child may have: above the
// failover's own one-hour wait after up to 20 minutes of Busy readings, and
// above the 75 minutes the pool may take to settle.
const frontEndShellFloor = 120

// frontEndPlanOf computes the plan of a Front End Server's valid facts.
func frontEndPlanOf(f Facts) Plan {
	p, _ := LookupProduct(f.Product)
	ed, _ := LookupEdition(f.Edition)
	plan := Plan{
		Facts:     f,
		Product:   p,
		Role:      FrontEndRole,
		Procedure: frontEndSource(p),
		FrontEnd:  true,
		Installer: Installer{
			DefaultFileName: p.Installer,
			Arguments:       []string{p.SilentSwitch},
		},
		Downtime: Downtime{WarnMinutes: frontEndWarnMinutes, BudgetMinutes: frontEndBudgetMinutes,
			WarnMessage:   fmt.Sprintf("This Front End Server has been out of service for %d minutes: the pool serves its users with one server fewer until it is back.", frontEndWarnMinutes),
			BudgetMessage: fmt.Sprintf("This Front End Server has been out of service for %d minutes, beyond the night's estimate: the next server of the pool must wait until it is back.", frontEndBudgetMinutes)},
		Parameters: frontEndParameters(p, f),
		ExitCodes:  frontEndExitCodes(p),
	}
	plan.FactTable = factTable(p, ed, f)
	plan.Variables = variables(f)
	plan.Preflight = frontEndPreflight(p, f)
	plan.Steps = frontEndSteps(p, f)
	numberSteps(plan.Steps)
	plan.Children = frontEndChildren(p)
	plan.Window = window(plan.Steps)
	plan.Recovery = recovery
	plan.Recovery.Restores = "While no run holds the machine's mutex, neither the installer nor the child the run recorded still runs, and no restart of Windows is pending (a server held out of service for the restart waits for it, the task kept meanwhile): imports the module and runs the step that puts the server back in service (" +
		plan.Steps[len(plan.Steps)-1].Commands[0] + "), then writes an event (Application log, source sfbpatch) and removes itself. " +
		"If that fails (the task runs as SYSTEM, which the product may not accept), the event names the command to run. It runs a copy of the script in a folder owned by Administrators that only Administrators and SYSTEM can open."
	plan.Recovery.Description = "sfbpatch: puts this Front End Server back in service if a run ended without doing so. Removed when the run ends."
	plan.Run = runOf(p, ed, f)
	plan.Manifest = manifestOf(plan)
	plan.Resume = resumeCases(plan.Steps, frontEndResume)
	return plan
}

// numberSteps gives the steps their place and label.
func numberSteps(steps []Step) {
	for i := range steps {
		s := &steps[i]
		s.Number = i + 1
		s.Label = stepLabel(s.DocStep)
		s.ManagementShell = s.Shell != ""
		if s.Commands == nil {
			// The JSON plan lists no commands as [], never null.
			s.Commands = []string{}
		}
	}
}

// frontEndExitCodes are the Back End's, less those of the database step,
// with the pool's own.
func frontEndExitCodes(p Product) []ExitCode {
	var codes []ExitCode
	for _, c := range exitCodes {
		switch c.Name {
		case "databases-disagree", "nothing-to-update":
			continue
		case "nothing-changed":
			c.Meaning = "Nothing was changed: a preflight check failed (the pool's gates included), the confirmation was declined, or the pool's gates, read again just before the server would leave service, refused."
		case "restored":
			c.Meaning = "A step failed once the window had begun (a change may have been made); the server is back in service (" + "the step that ends the window ran again)."
		case "still-running":
			c.Meaning = "The installer or a fresh Windows PowerShell (the " + outAndBack(p) + ", or a reading of the pool) was still running at its bound: it was left running, and so was the server as it was. Wait until it ends, then run the script again; the recovery task, if registered, puts the server back in service once it has ended and no restart of Windows is pending (it looks every 15 minutes for a day)."
		case "manual-action":
			c.Meaning = "A step failed and the server is not back in service (putting it back failed, or -LeaveServicesStopped): manual action needed, named."
		case "reboot-under-way":
			c.Meaning = "Not finished: the installer started a restart of Windows (its exit code 1641); the server is out of service. Run the script again after the restart: it resumes after the installer and puts the server back in service."
		case "reboot-required":
			c.Meaning = "Not finished: Windows must restart to finish the update (the installer's exit code 3010, or a restart Windows reports after it); the server stays out of service until then (a later run exits 3010 until Windows has restarted). Restart Windows, then run the script again: it puts the server back in service if the restart has not, and reads the pool; the recovery task, if registered, does it after a restart within its day (it ends a day after its registration)."
		}
		codes = append(codes, c)
		if c.Name == "left-down" {
			settled := "Get-CsPoolFabricState still reports missing replicas (or cannot be read) 30 minutes later"
			if !p.FailOver {
				settled += ", or the pool was not Ready for 20 minutes within 45"
			}
			codes = append(codes, ExitCode{Code: 8, Name: "not-settled", Meaning: "Done, and the server is back in service, but " + settled + ": the next server of the pool must not go down until it has settled."})
		}
	}
	return codes
}

// frontEndParameters are the Back End's, without -DatabaseOnly and
// -SkipStartServices, with the Front End's meaning of the others.
func frontEndParameters(p Product, f Facts) []Parameter {
	var params []Parameter
	for _, param := range parameters(p, f) {
		switch param.Name {
		case "DatabaseOnly", "SkipStartServices":
			continue
		case "Phase":
			param.Choices = nil
			for _, c := range frontEndChildren(p) {
				param.Choices = append(param.Choices, c.Phase)
			}
			param.Choices = append(param.Choices, recovery.Phase)
		case "LogDirectory":
			param.Help = `Folder for the transcript. Default: $env:ProgramData\sfbpatch.`
		case "Force":
			param.Help = "Turns the failures of the group-membership check, of the open-Management-Shell check and of a pool upgrade state the script cannot read into warnings; never a pool that is not ready."
			if p.FailOver {
				param.Help += " It never reaches Invoke-CsComputerFailOver, whose -Force skips the pool's capacity check."
			}
		case "LeaveServicesStopped":
			param.Help = "When a step fails, leaves the server out of service instead of putting it back."
		case "ShellTimeoutMinutes":
			param.Default = strconv.Itoa(frontEndShellMinutes)
			param.Range = []int{frontEndShellFloor, 1440}
			param.Help = fmt.Sprintf("Bound on the wait for each fresh Windows PowerShell the script starts (the pool's reads, the %s), in minutes (default %d, at least %d). At the bound it is left running and the run ends with exit code 6.", outAndBack(p), frontEndShellMinutes, frontEndShellFloor)
		case "RecoveryTask":
			param.Help = "Registers the recovery task for an interactive run too (-Unattended always does): a task of SYSTEM that puts the server back in service if the run ends without doing so."
		}
		params = append(params, param)
	}
	return params
}

// frontEndChildren are the Front End script's fresh Windows PowerShells.
func frontEndChildren(p Product) []Child {
	out, back := frontEndShells(p)
	return []Child{
		{Phase: "read", Reads: true, Purpose: "Before the window: imports the module and reads the services, this server's pool, the pool's fabric state and its upgrade state (the gates); after the window, the fabric state until the pool settles. Read only."},
		{Phase: out, InWindow: true, Purpose: "Imports the module, then takes the server out of service."},
		{Phase: back, InWindow: true, Purpose: "After the installer: imports the updated module, then puts the server back in service."},
	}
}

// outAndBack names the product's steps that take a server out of service
// and put it back.
func outAndBack(p Product) string {
	if p.FailOver {
		return "failover and the failback"
	}
	return "graceful stop and the start of the services"
}

// frontEndShells are the phases of the children that take the server out
// of service and put it back.
func frontEndShells(p Product) (string, string) {
	if p.FailOver {
		return "failover", "failback"
	}
	return "stop", "start"
}

// frontEndPreflight lists the Front End Server's checks: those of every
// script, then the read child's, then the pool's gates.
func frontEndPreflight(p Product, f Facts) []Check {
	checks := append(commonChecks(p, f), machineChecks(p)...)
	// The Back End procedure's step numbers mean nothing here: the installer is this
	// procedure's step 3 (Lync Server 2013: 2), the rest is beyond it.
	for i := range checks {
		checks[i].DocStep = 0
		switch checks[i].ID {
		case "log-directory":
			checks[i].Title = "The folder -LogDirectory exists or can be created (for Administrators and SYSTEM only), no one else can write in it, and this account can: the transcript goes there."
		case "no-open-shell":
			checks[i].Remedy = "Close every Management Shell window and every process listed; -Force runs anyway."
		}
		if checks[i].ID == "installer" {
			checks[i].DocStep = 3
			if !p.FailOver {
				checks[i].DocStep = 2
			}
		}
	}
	if f.ServerFQDN != "" {
		checks = append(checks, Check{ID: "server-identity",
			Title:  "The script runs on the server it was generated for.",
			Test:   "Get-ServerIdentityProblem",
			Remedy: "Run the script on the server named in $ExpectedServerFqdn, or generate a script for this server."})
	}
	fabric := Check{ID: "pool-fabric", DocStep: 1, ReadsServer: true,
		Title: "Get-CsPoolFabricState -PoolFqdn $PoolFqdn reports no missing replica: the pool can lose this server for the update.",
		Test:  "Get-FabricProblem",
		Remedy: "Recover the pool before any update, as Microsoft's procedure says: Reset-CsPoolRegistrarState -PoolFqdn $PoolFqdn -ResetType QuorumLossRecovery. " +
			"It fits routing groups in quorum loss while the pool as a whole is not (it reloads their users' data from the Back End, and data not yet written there can be lost); " +
			"for a pool in pool-level quorum loss follow Microsoft's high-availability guidance, or ask Microsoft support. Then run the script again."}
	// No override: only a state the script cannot read gives way to -Force, in the check itself.
	ready := Check{ID: "pool-ready", ReadsServer: true,
		Title: "The pool's upgrade state (" + p.ReadinessCommand + ") is Ready; Busy is read again after 10 minutes, 3 times at most.",
		Test:  "Get-ReadinessProblem",
		Remedy: "Wait until the pool is Ready (InsufficientActiveFrontEnds: bring its other Front End Servers back first; Busy three times in a row: the pool has a problem to solve first), then run the script again. " +
			"A state the script cannot read: read " + p.ReadinessCommand + " by hand, then -Force runs anyway."}
	if !p.FailOver {
		fabric.DocStep, ready.DocStep = 0, 1
		ready.Title = "Get-CsPoolUpgradeReadinessState reports the pool Ready (Busy is read again after 10 minutes, 3 times at most) and the upgrade domain of this server ReadyForUpgrade."
	}
	return append(checks,
		Check{ID: "module", ReadsServer: false,
			Title: fmt.Sprintf("The %s module imports in a fresh Windows PowerShell (the %s), which reads the services, this server's pool and the pool's gates before anything changes; this machine has the Front-End service (RTCSRV).",
				p.Module, p.ShellName),
			Test:   "Get-FrontEndStateProblem",
			Remedy: "Run the script on a Front End Server of the pool, with the product's administrative tools."},
		Check{ID: "pool-member", ReadsServer: true,
			Title:  "This server is a Front End Server of $PoolFqdn (Get-CsComputer -Identity).",
			Test:   "Get-FrontEndPoolProblem",
			Remedy: "Run the script on a Front End Server of $PoolFqdn, or generate it with that server's pool."},
		fabric, ready)
}

// frontEndSteps are the Front End procedure of the product, in its order.
func frontEndSteps(p Product, f Facts) []Step {
	out, back := frontEndShells(p)
	install := installStep(p, f)
	install.DocStep = 3
	inService := Probe{
		Description: "Every Skype for Business or Lync service that ran before the run runs again, and none of them nor the Front-End service (RTCSRV) is disabled (Get-CsWindowsService -ExcludeActivityLevel, and the service's Start value); on Lync Server 2013, W3SVC runs if it ran before.",
		Expression:  "Test-InService",
	}
	closeShells := closeShellsStep(p, 0)
	if p.FailOver {
		failedOver := Probe{
			Description: "The Front-End service (RTCSRV) is stopped and disabled, as Invoke-CsComputerFailOver leaves it. If not, the pool's gates (its fabric state and upgrade state) are read again, just before the failover: one that no longer holds stops the step before any change.",
			Expression:  "Test-OutOfService",
		}
		failedOverVerify := Probe{Description: "The Front-End service (RTCSRV) is stopped and disabled.", Expression: "Test-OutOfService -NoGates"}
		return []Step{
			{ID: "fail-over", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 2, Stage: StageDowntime, StartsDowntime: true,
				Title:    "Fail the server over",
				Why:      "Invoke-CsComputerFailOver moves the server's users and data to the other Front End Servers of the pool, drains its sessions, then stops its services and disables them. Without -Force: the cmdlet checks that the pool can take the load, and fails without a change when it cannot. The services running now are recorded.",
				Test:     failedOver,
				Commands: []string{"Invoke-CsComputerFailOver -ComputerName $HostFqdn -Confirm:$false"},
				Shell:    out, Kind: KindChildCommand,
				Verify:    failedOverVerify,
				OnFailure: rerun,
				Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports every service stopped and RTCSRV disabled; a later run takes the installer's record instead."},
			closeShells,
			install,
			{ID: "fail-back", DocStep: 4, Stage: StageRestart, EndsDowntime: true,
				Title:    "Fail the server back",
				Why:      "Invoke-CsComputerFailBack marks the server available to the pool again, enables its services and starts them, in a fresh Windows PowerShell that imports the updated module. Its state is checked on every run.",
				Test:     inService,
				Commands: []string{"Invoke-CsComputerFailBack -ComputerName $HostFqdn -Confirm:$false"},
				Shell:    back, Kind: KindChildCommand,
				Verify:    inService,
				OnFailure: "Fail the server back by hand with Invoke-CsComputerFailBack -ComputerName <this server>, and check it with Get-CsWindowsService.",
				Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports running every service that ran before the run, none disabled."},
		}
	}
	install.DocStep = 2
	stopped := Probe{
		Description: "Every Lync Server service of this server is stopped (Get-CsWindowsService -ExcludeActivityLevel). If not, the pool's gates (its fabric state, and its upgrade state with this server's upgrade domain) are read again, just before the stop: one that no longer holds stops the step before any change.",
		Expression:  "Test-OutOfService",
	}
	return []Step{
		{ID: "stop-services", NotNeededWhen: installed, NotNeededReason: installedReason, DocStep: 2, Stage: StageDowntime, StartsDowntime: true,
			Title:    fmt.Sprintf("Stop the %s services gracefully", p.Name),
			Why:      "Microsoft's procedure stops the services of the servers of the upgrade domain that is ready with -Graceful: the server takes no new session and stops once its sessions have ended. The services running now are recorded.",
			Test:     stopped,
			Commands: []string{"Stop-CsWindowsService -Graceful -Confirm:$false"},
			Shell:    out, Kind: KindChildCommand,
			Verify:    Probe{Description: csStopped.Description, Expression: "Test-OutOfService -NoGates"},
			OnFailure: rerun,
			Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports every service stopped; a later run takes the installer's record instead."},
		closeShells,
		install,
		{ID: "start-services", DocStep: 2, Stage: StageRestart, EndsDowntime: true,
			Title: fmt.Sprintf("Start the %s services again", p.Name),
			Why: "Microsoft's procedure restarts the updated servers and makes sure they take new connections. The script starts the World Wide Web service, which Stop-CsWindowsService stopped, and by name each service that ran before the run, in a fresh Windows PowerShell that imports the updated module. " +
				"A restart of Windows that the installer asks for comes first (exit code 3010: the services stay stopped until the run after it); then the pool must be Ready for 20 minutes before the next upgrade domain.",
			Test:     inService,
			Commands: []string{"net start w3svc", "foreach ($name in $RunningBefore) { Start-CsWindowsService -Name $name -Confirm:$false }"},
			Shell:    back, Kind: KindChildCommand,
			Verify:    inService,
			OnFailure: "Start the services by hand with Start-CsWindowsService and check them with Get-CsWindowsService.",
			Evidence:  "Get-CsWindowsService -ExcludeActivityLevel reports running every service that ran before the run, none disabled."},
	}
}

// frontEndResume are the outcomes an earlier run of a Front End script can
// leave: the installer's success recorded or not, the server in service or
// not.
var frontEndResume = []ResumeCase{
	{ServicesBack: true, Why: "No success of this installer is recorded: the run carries out the whole procedure, after the pool's gates."},
	{Why: "An earlier run took the server out of service and did not finish: the gates are not read again (the server is already out); the run carries out the procedure, each step testing its state first."},
	{InstallerDone: true, Why: "The installer succeeded in an earlier run: once Windows has restarted, if the update asked for it (until then a run exits 3010 and changes nothing), the run puts the server back in service and reads the pool; it takes nothing out of service."},
	{InstallerDone: true, ServicesBack: true, Why: "Nothing to do: the run reads the pool's fabric state and reports it."},
}

// NextServerAdvice says when the next server of the pool may go down, as
// the script says it at its end and window.md between servers.
func NextServerAdvice(p Product) string {
	if p.FailOver {
		return "The next Front End Server of the pool may be updated now, one at a time."
	}
	return "The pool has been Ready for 20 minutes (Microsoft's recommendation before the next upgrade domain): the next Front End Server may be updated now, one at a time. " +
		"Microsoft also advises checking with Get-CsPoolFabricState that every routing group kept a primary and at least one secondary."
}

// frontEndSource is the product's Front End procedure, by name.
func frontEndSource(p Product) string {
	if p.FailOver {
		return sfbFrontEndSource
	}
	return lyncFrontEndSource
}
