package generator

import (
	"strconv"
	"strings"
)

// ManifestEntry is one state-changing operation a script can carry out:
// in which mode, what it changes, and the command as it runs, with the
// paths the script computes by default. Covers names the script's own
// commands and .NET methods that carry it out, which a test holds to the
// script: nothing the script changes is missing from the manifest.
type ManifestEntry struct {
	Mode    string   `json:"mode"`
	What    string   `json:"what"`
	Command string   `json:"command"`
	Covers  []string `json:"covers"`
}

// The run modes of the manifest, in the order a reviewer reads them.
const (
	ModeWhole        = "whole run"
	ModeDatabaseOnly = "-DatabaseOnly"
	ModeFailure      = "after a failure"
	ModeRecovery     = "recovery task (SYSTEM)"
	ModeWhatIf       = "-WhatIf"
)

// Paths as the script computes them by default.
const (
	defaultLogDirectory = `C:\ProgramData\sfbpatch`
	runFolder           = `%TEMP%\sfbpatch-<new GUID>`
	recoveryFolder      = `C:\Program Files\sfbpatch`
	records             = `HKLM:\SOFTWARE\sfbpatch`
)

// manifestOf lists every state-changing operation of a plan's script.
func manifestOf(p Plan) []ManifestEntry {
	stamp := "<COMPUTERNAME>-<yyyyMMdd-HHmmss>"
	begin := []ManifestEntry{
		{What: "The holder of the machine's mutex (" + p.Recovery.LockName + "), for a second run's message; removed when the run ends.",
			Command: records + `\Lock: Holder`, Covers: []string{"New-Item", "New-ItemProperty", "Remove-ItemProperty"}},
		{What: "The log folder, created for Administrators and SYSTEM only if it is missing (-LogDirectory); a probe file written and deleted in it; the transcript.",
			Command: defaultLogDirectory + `\sfbpatch-` + stamp + `.log`, Covers: []string{"CreateDirectory", "WriteAllText", "Delete", "Start-Transcript", "Stop-Transcript"}},
		{What: "The run folder (Administrators and SYSTEM only): each child's request and results (CliXml); removed when the run ends.",
			Command: runFolder + `\<phase>.request.xml, <phase>.result.xml`, Covers: []string{"CreateDirectory", "Export-Clixml", "Remove-Item"}},
	}
	var entries []ManifestEntry
	add := func(mode string, es ...ManifestEntry) {
		for _, e := range es {
			e.Mode = mode
			entries = append(entries, e)
		}
	}
	busy := ManifestEntry{What: "The installer or a child of the window while it runs (PID, start time, name): no later run starts meanwhile.",
		Command: records + `\Busy: Process`, Covers: []string{"New-Item", "New-ItemProperty"}}
	databaseRecord := ManifestEntry{What: "Install-CsDatabase's success, by SQL Server and Core Components version: a later run does not stop the services again for it.",
		Command: records + `\UpdatedDatabases: <SQL Server> <version>`, Covers: []string{"New-Item", "New-ItemProperty"}}
	report := ManifestEntry{What: "Install-CsDatabase's report.", Command: defaultLogDirectory + `\Install-CsDatabase-` + stamp + `.html`}

	if p.Enterprise {
		add(ModeDatabaseOnly, begin...)
		for _, s := range p.Steps {
			if s.DatabaseStep {
				add(ModeDatabaseOnly, ManifestEntry{What: s.Label + ": " + s.Title + ", in the -Phase " + s.Shell + " Windows PowerShell.",
					Command: resolved(p, strings.Join(s.Commands, "; ")), Covers: commandNames(s.Commands)})
			}
		}
		add(ModeDatabaseOnly, busy, databaseRecord, report)
	}

	add(ModeWhole, begin...)
	add(ModeWhole,
		ManifestEntry{What: "What runs before the first stop, started again after a failure (the Service Control Manager's state then); removed when the run finishes.",
			Command: records + `\RunState: ServicesRunning, W3svcRunning, RecoveryCopySha256, InstallerStarted`, Covers: []string{"New-Item", "New-ItemProperty", "Remove-Item"}},
		ManifestEntry{What: "With -Unattended or -RecoveryTask: a copy of the script in a folder owned by Administrators (Administrators and SYSTEM only), and the task that runs it as SYSTEM; removed when the run ends (kept at a bound, or when Windows restarts).",
			Command: `schtasks.exe /Create /TN ` + p.Recovery.TaskName + ` /XML ` + runFolder + `\recovery-task.xml /RU SYSTEM /F` + ` (copy: ` + recoveryFolder + `\` + p.Recovery.TaskName + `.ps1)`,
			Covers:  []string{"CreateDirectory", "WriteAllBytes", "WriteAllText", "schtasks"}})
	for _, s := range p.Steps {
		if len(s.Commands) == 0 {
			continue
		}
		where := "the script's own Windows PowerShell"
		if s.Shell != "" {
			where = "the -Phase " + s.Shell + " Windows PowerShell"
		}
		command := resolved(p, strings.Join(s.Commands, "; "))
		if s.Kind == KindInstaller {
			// Started by the engine from its literal path, in its own folder.
			command = installerPath(p) + " " + strings.Join(p.Installer.Arguments, " ")
		}
		add(ModeWhole, ManifestEntry{What: s.Label + ": " + s.Title + ", in " + where + ", when the step runs.", Command: command, Covers: commandNames(s.Commands)})
	}
	installed := ManifestEntry{What: "The installer's success, by its SHA-256: a later run resumes after it.", Command: records + `\InstalledUpdates: <SHA-256>`, Covers: []string{"New-Item", "New-ItemProperty"}}
	if p.FrontEnd {
		add(ModeWhole, busy, installed,
			ManifestEntry{What: "When Windows must restart after the installer (3010, 1641, or a restart Windows reports): a volatile key, which Windows does not keep across the restart, and its mark in the run state: the server stays out of service, for a later run and the recovery task, until Windows has restarted.",
				Command: records + `\UntilRestart (volatile); ` + records + `\RunState: HeldUntilRestart`, Covers: []string{"DeleteSubKey", "CreateSubKey", "New-ItemProperty"}})
	} else {
		add(ModeWhole, busy, installed, databaseRecord, report)
	}
	add(ModeWhole,
		ManifestEntry{What: "When the run ends: the recovery task and its copy removed.", Command: `schtasks.exe /Delete /TN ` + p.Recovery.TaskName + ` /F`, Covers: []string{"schtasks", "Remove-Item"}})

	if p.FrontEnd {
		back := p.Steps[len(p.Steps)-1]
		add(ModeFailure,
			ManifestEntry{What: "Unless -LeaveServicesStopped: the server put back in service by its last step, in the -Phase " + back.Shell + " Windows PowerShell (a process started).",
				Command: resolved(p, strings.Join(back.Commands, "; ")), Covers: append(commandNames(back.Commands), "Start")},
			ManifestEntry{What: "Once it is back: the run state removed (the next run records afresh). With --target-version not reached after the installer: its success record removed.",
				Command: records + `\RunState; ` + records + `\InstalledUpdates: <SHA-256>`, Covers: []string{"Remove-Item", "Remove-ItemProperty"}})
		add(ModeRecovery,
			ManifestEntry{What: "Once no run holds the mutex and nothing the run started still runs: the module imported and the server put back in service by the last step, as SYSTEM; the run state removed.",
				Command: resolved(p, strings.Join(back.Commands, "; ")), Covers: append(commandNames(back.Commands), "Remove-Item")},
			recoveryEvent(p), recoveryRemoved(p))
		add(ModeWhatIf, whatIf)
		return entries
	}
	add(ModeFailure,
		ManifestEntry{What: "Unless -LeaveServicesStopped: every service that ran before the first stop, W3SVC included, started again through the Service Control Manager (each waited for, 10 minutes at most).",
			Command: "[System.ServiceProcess.ServiceController].Start() of each recorded service", Covers: []string{"Start"}},
		ManifestEntry{What: "Once all run again: the run state removed (the next run records afresh). With --target-version not reached after the installer: its success record removed.",
			Command: records + `\RunState; ` + records + `\InstalledUpdates: <SHA-256>`, Covers: []string{"Remove-Item", "Remove-ItemProperty"}})

	add(ModeRecovery,
		ManifestEntry{What: "Once no run holds the mutex and nothing the run started still runs: every recorded service started again through the Service Control Manager, and the run state removed.",
			Command: "[System.ServiceProcess.ServiceController].Start() of each service in " + records + `\RunState`, Covers: []string{"Start", "Remove-Item"}},
		recoveryEvent(p), recoveryRemoved(p))

	add(ModeWhatIf, whatIf)
	return entries
}

// whatIf is all a -WhatIf run changes.
var whatIf = ManifestEntry{What: "The run folder for the read child (created and removed), and a holder of the mutex an earlier run left removed; nothing else: no service, no record, no task.",
	Command: runFolder, Covers: []string{"CreateDirectory", "Export-Clixml", "Remove-Item", "Remove-ItemProperty"}}

// recoveryEvent is the event the recovery task writes.
func recoveryEvent(p Plan) ManifestEntry {
	return ManifestEntry{What: "An event in the Application log (source sfbpatch, created on first use); the mutex's holder while it acts.",
		Command: `[System.Diagnostics.EventLog]::WriteEntry('sfbpatch', ..., ` + "<Warning or Error>, " + strconv.Itoa(p.Recovery.EventID) + `)`, Covers: []string{"CreateEventSource", "WriteEntry", "New-ItemProperty", "Remove-ItemProperty"}}
}

// recoveryRemoved is the recovery task's last change.
func recoveryRemoved(p Plan) ManifestEntry {
	return ManifestEntry{What: "The task and its copy removed.", Command: `schtasks.exe /Delete /TN ` + p.Recovery.TaskName + ` /F`, Covers: []string{"schtasks", "Remove-Item"}}
}

// resolved is a command with the script's variables as it computes them.
func resolved(p Plan, command string) string {
	server := p.Facts.SQLServerFQDN
	if server == "" {
		server = "<this computer's FQDN>"
	}
	return strings.NewReplacer("$SqlServerFqdn", server, "$HostFqdn", "<this computer's FQDN>", "$DatabaseReport", defaultLogDirectory+`\Install-CsDatabase-<COMPUTERNAME>-<yyyyMMdd-HHmmss>.html`,
		"$RunningBefore", "<the services running before the first stop>").Replace(command)
}

// installerPath is the installer's path as the script takes it by default.
func installerPath(p Plan) string {
	if p.Facts.UpdatePath != "" {
		return p.Facts.UpdatePath
	}
	return `<the script's folder>\` + p.Installer.DefaultFileName
}

// commandNames are the names of the commands of a step's command lines,
// as a test finds them in the script: the first word of each, and of each
// statement within braces.
func commandNames(commands []string) []string {
	var names []string
	for _, c := range commands {
		for _, part := range strings.FieldsFunc(c, func(r rune) bool { return r == ';' || r == '{' || r == '}' }) {
			if word := strings.Fields(part); len(word) > 0 && !strings.HasPrefix(word[0], "foreach") && !strings.HasPrefix(word[0], "(") {
				names = append(names, word[0])
			}
		}
	}
	return names
}
