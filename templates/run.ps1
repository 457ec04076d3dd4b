
# ---- The run: preflight, one confirmation, the procedure, the restore after a failure. ----

function Invoke-Preflight {
    # Every check of $Checks that this run needs; returns the failures.
    foreach ($check in $Checks) {
        if (($DatabaseOnly -and -not ($check.DatabaseOnly -or $check.OnlyDatabaseOnly)) -or (-not $DatabaseOnly -and $check.OnlyDatabaseOnly)) { continue }
        $label = 'Preflight'
        if ($check.DocStep) { $label = 'Preflight (doc step ' + $check.DocStep + ')' }
        $started = Get-Date
        Write-Status ($label + ': ' + $check.Title)
        if ($check.ReadsServer -and ($null -eq $script:ServerState -or @(Get-Reported 'failed').Count -gt 0)) {
            $problem = 'Not checked: the Management Shell check failed.'
        } else {
            try { $problem = & $check.Test } catch { $problem = $_.Exception.Message }
        }
        $result = 'Passed'
        if ($script:NotChecked) { $result = 'Not checked (-WhatIf)' }
        $script:NotChecked = $false
        if ($problem -and (Test-Switch $check.Override)) {
            Write-Warning ($problem + ' Going on because of -' + $check.Override + '.')
            $result = 'Failed, overridden by -' + $check.Override
        } elseif ($problem) {
            $result = 'FAILED'
            $problem + ' ' + $check.Remedy
        }
        $script:CheckRows.Add((New-Row $label $check.Title $result (Format-Elapsed ((Get-Date) - $started))))
        Write-Status ('  ' + $result)
    }
}

function Test-StepRuns {
    # Whether a step runs in this run; if not, its summary row says why.
    param([hashtable]$Step)
    $reason = $null
    if ($DatabaseOnly -and -not $Step.DatabaseStep) {
        $reason = 'Skipped (-DatabaseOnly)'
    } elseif (Test-Switch $Step.SkipSwitch) {
        $reason = 'Skipped (-' + $Step.SkipSwitch + ')'
    } elseif ($Step.NotNeededWhen -and $script:Resume[$Step.NotNeededWhen]) {
        $reason = 'Not needed: ' + $ResumeStates[$Step.NotNeededWhen]
    }
    if ($reason) { Add-StepResult $Step $reason }
    -not $reason
}

function Show-WhatIf {
    # -WhatIf: what each step would do, judged from the state read before the window. After
    # the installer every step would run; after a stop, every step but the database update.
    param([hashtable[]]$Steps)
    $afterInstaller = $false
    $stopping = $false
    foreach ($step in $Steps) {
        $command = $StartManagementShell
        if ($step.Action) { $command = $step.Action }
        if (-not $step.Action -and -not $step.Shell) {
            $would = 'Checked: ' + $step.Title
            if (-not (& $step.Test)) { $would = 'Would fail: ' + $script:Detail }
        } elseif (-not $afterInstaller -and (-not $stopping -or $step.DatabaseStep) -and $step.Test -and (& $step.Test)) {
            $would = 'Already done'
        } else {
            $would = 'Would run: ' + $command.ToString().Trim()
            if ($afterInstaller) { $would = 'Would run after the installer: ' + $command.ToString().Trim() }
            if ($step.StartsDowntime) { $stopping = $true }
        }
        if ($step.Installs) { $afterInstaller = $true }
        Add-StepResult $step $would
    }
}

function Invoke-Procedure {
    # The steps that run, in plan order: those of this process one by one, a run of steps of
    # the same Shell in one start of that child. Stops after the installer starts a reboot.
    param([hashtable[]]$Steps)
    $i = 0
    # A Front End Server also waits for a restart the installer asks for ($HoldForReboot).
    while ($i -lt $Steps.Count -and -not ($script:RebootUnderWay -or ($script:RebootRequired -and $HoldForReboot))) {
        $step = $Steps[$i]
        $started = Get-Date
        if (-not $step.Shell) {
            try { Add-StepResult $step (Invoke-Step $step) $started } catch { Add-StepResult $step ('FAILED (' + $_.Exception.Message + ')') $started; throw }
            $i++
            continue
        }
        $group = @()
        while ($i -lt $Steps.Count -and $Steps[$i].Shell -eq $step.Shell) {
            $group += $Steps[$i]
            $i++
        }
        Enter-Step $step
        Write-Status ('A fresh Windows PowerShell (-Phase ' + $step.Shell + ') imports the module for: ' + (@($group | ForEach-Object { $_.Label }) -join ', '))
        $request = @{ Steps = @($group | ForEach-Object { $_.Id }); RunningBefore = $script:RunningBefore; W3svcWasRunning = $script:W3svcWasRunning; DatabaseReport = $DatabaseReport
            Switches = @($BoundParameters.Keys | Where-Object { $BoundParameters[$_] -is [System.Management.Automation.SwitchParameter] -and $BoundParameters[$_].IsPresent })
            GatesSkipped = $script:GatesSkipped
            DowntimeStart = $script:DowntimeStart; ReadVersion = ($i -ge $Steps.Count) }
        try {
            $report = @(Invoke-ScriptPhase -Name $step.Shell -Request $request)
        } catch {
            foreach ($member in $group) { Add-StepResult $member ('Still running, or not run: ' + $_.Exception.Message) $started }
            throw
        }
        $after = @($report | Where-Object { $_.Kind -eq 'version' -and $_.Version })
        if ($after.Count -gt 0) { $script:VersionAfter = [Version]$after[0].Version }
        $script:Disagreements += @($report | Where-Object { $_.Kind -eq 'disagree' } | ForEach-Object { $_.Message })
        Complete-ScriptPhase -Report $report -Steps $group -Started $started
    }
    for (; $i -lt $Steps.Count; $i++) { Add-StepResult $Steps[$i] 'Not run: Windows must restart first' }
}

function Invoke-Run {
    $exitCode = $ExitCodes['done']
    $transcribing = $false
    if (-not $WhatIfPreference) {
        try {
            # Not in a folder others can write in: the log-folder check says why.
            if (-not (Test-Path -LiteralPath $LogDirectory)) { [void](New-ProtectedFolder -Path $LogDirectory) }
            if (@(Get-OpenWriter -Folder $LogDirectory).Count -eq 0) {
                Start-Transcript -LiteralPath (Join-Path $LogDirectory ('sfbpatch-' + $env:COMPUTERNAME + '-' + $RunStamp + '.log')) -Confirm:$false | Out-Null
                $transcribing = $true
            }
        } catch {
            Write-Warning ('No transcript: ' + $_.Exception.Message)
        }
    }
    try {
        # Held open for reading only until the run ends: every child runs this very file.
        $script:ScriptStream = [System.IO.File]::Open($ScriptFile, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
        Write-Status ($ProductName + ' ' + $ServerRole + ' ' + $HostFqdn + ': update from ' + $UpdatePath)
        if (Test-HeldUntilRestart) {
            Write-Host ('An earlier run holds this server out of service until Windows restarts (the update asked for it): restart Windows, then run this script again. This run changed nothing.') -ForegroundColor Red
            $exitCode = $ExitCodes['reboot-required']
            $script:Completed = $true
            return $exitCode
        }
        $saved = Get-RunState
        if ($saved) {
            Write-Warning ('An earlier run did not finish (' + $RunStateKey + '). Running before it: ' + (@($saved.ServicesRunning) -join ', ') + '. This run restores that set if a step fails; a run that finishes clears it.')
        }
        $failures = @(Invoke-Preflight)
        $leftDown = @(Get-LeftDown)
        if ($failures.Count -gt 0) {
            Write-Host 'Preflight failed; this run changed nothing:' -ForegroundColor Red
            foreach ($failure in $failures) { Write-Host ('  - ' + $failure) -ForegroundColor Red }
            $exitCode = $ExitCodes['nothing-changed']
            if ($script:StillRunning) {
                Write-Host ('What to do: ' + $script:StillRunning + ' Wait until it ends, then run the script again.') -ForegroundColor Red
                $exitCode = $ExitCodes['still-running']
            } elseif ($leftDown.Count -gt 0) {
                Write-Host ('An earlier run left these services stopped: ' + ($leftDown -join ', ') + '. Fix the problems above and run the script again, or ' + $LeftDownRemedy) -ForegroundColor Red
                $exitCode = $ExitCodes['left-down']
            }
        } else {
            try {
                $exitCode = Invoke-Window
            } catch {
                Write-Host ('FAILED at ' + $script:CurrentStep + ': ' + $_.Exception.Message) -ForegroundColor Red
                if ($script:StillRunning -or (Test-BusyProcess)) {
                    # Never kill the installer or Install-CsDatabase: the operator decides.
                    Write-Host 'What to do: wait until it ends, then run the script again; the services stay as they are until then. The recovery task, if registered, starts them again once it has ended.' -ForegroundColor Red
                    $exitCode = $ExitCodes['still-running']
                } else {
                    Write-Host ('What to do: ' + $script:CurrentRemedy) -ForegroundColor Red
                    $exitCode = Restore-AfterFailure
                }
            }
            # Done, or done with a warning the role's Invoke-Window gave (its own exit code).
            if (($exitCode -eq $ExitCodes['done'] -or $script:DoneWithWarning) -and -not $WhatIfPreference) {
                # A reboot this run calls for: the installer's 3010, or a marker after it ran. It
                # comes first: a database warning is in the transcript, and a later run reads again.
                $markers = @(Get-PendingRebootMarker)
                if (($script:RebootRequired -or ($script:InstallerRan -and $markers.Count -gt 0)) -and -not $HoldForReboot) {
                    Write-Warning ('Windows needs a reboot to finish the update; after it, run the script again to confirm the databases. ' + ($markers -join ', '))
                    $exitCode = $ExitCodes['reboot-required']
                } elseif ($markers.Count -gt 0) {
                    Write-Warning ('Windows reports a pending reboot that this run did not cause: ' + ($markers -join ', '))
                }
            }
        }
        $script:Completed = $true
    } finally {
        foreach ($stream in @($script:InstallerStream, $script:ScriptStream)) { if ($stream) { $stream.Dispose() } }
        Remove-ItemProperty -LiteralPath $LockKey -Name 'Holder' -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false
        # The recovery task stays for a run stopped at a bound (what it waits for still runs), one
        # that ended while Windows restarts or holds the server out until it does (the task acts
        # after the restart), and one that was stopped. Else this run removes its
        # own, and an earlier run's once this run changed something or nothing recorded is down:
        # it would act against what this run left.
        if ($script:Completed -and -not $script:StillRunning -and -not $script:RebootUnderWay -and -not $WhatIfPreference -and -not (Test-HeldUntilRestart) -and
            ($script:RecoveryRegistered -or (($script:Changed -or @(Get-LeftDown).Count -eq 0) -and (Test-RecoveryTask)))) { Unregister-RecoveryTask }
        # A child still running at its bound keeps its folder.
        if ($script:RunFolder -and -not $script:StillRunning) { Remove-Item -LiteralPath $script:RunFolder -Recurse -Force -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false }
        Show-Summary
        if ($script:Completed) {
            Write-Host ('Exit code ' + $exitCode)
        } else {
            Write-Host 'The run was interrupted: services may be stopped. Run the script again to finish, or start them with Start-Service.' -ForegroundColor Red
        }
        if ($transcribing) { Stop-Transcript | Out-Null }
    }
    $exitCode
}

# ---- Where the run starts. ----

$ScriptFile = $MyInvocation.MyCommand.Path
$LockKey = 'HKLM:\SOFTWARE\sfbpatch\Lock'
$BoundParameters = $PSBoundParameters
$RunCmdlet = $PSCmdlet
# -Unattended asks nothing; -Confirm:$false (through -Command) does the same.
$NoPrompt = $Unattended -or ($PSBoundParameters.ContainsKey('Confirm') -and -not [bool]$PSBoundParameters['Confirm'])
if ($NoPrompt) { $ConfirmPreference = 'None' }
if (-not $UpdatePath) { $UpdatePath = Join-Path (Split-Path -Parent $ScriptFile) $DefaultInstallerName }
# This computer's FQDN, as the host check and the Standard Edition database scope read it.
$hostProperties = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties()
$HostFqdn = $hostProperties.HostName
if ($hostProperties.DomainName) { $HostFqdn = $HostFqdn + '.' + $hostProperties.DomainName }
# One full path for PowerShell and .NET alike; a bad -LogDirectory is the preflight check's to
# report, so neither line may throw (Join-Path would: it resolves the drive).
try { $LogDirectory = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LogDirectory) } catch { Write-Verbose $_.Exception.Message }
$RunStamp = Get-Date -Format 'yyyyMMdd-HHmmss'
$DatabaseReport = $null
$CheckRows = New-Object System.Collections.Generic.List[object]
$ShellResults = New-Object System.Collections.Generic.List[object]
$StepRows = @{}
$DowntimeStart = $DowntimeEnd = $InstallerSha256 = $InstallerStream = $ScriptStream = $ServerState = $RunningBefore = $VersionAfter = $null
$Changed = $GatesSkipped = $DoneWithWarning = $RebootRequired = $RebootUnderWay = $InstallerRan = $Completed = $InShell = $W3svcWasRunning = $RecoveryRegistered = $NotChecked = $RecordedHere = $false
$WarnedLevel = $LastExit = 0
$Detail = $CurrentStep = $CurrentRemedy = $StillRunning = ''
$LastOutput = $LastErrors = $LastWarnings = $Deferred = $Disagreements = @()
$Resume = @{ UpdateInstalled = $false; DatabasesUpdated = $false }
Initialize-Role
if ($Phase -eq $Recovery.Phase) { exit (Invoke-Recovery) }
if ($Phase) { exit (Invoke-Phase) }
if (-not (Enter-MachineLock)) {
    $holder = Get-Text (Get-ItemProperty -LiteralPath $LockKey -ErrorAction SilentlyContinue) 'Holder'
    if (-not $holder) { $holder = 'no run recorded: the recovery task, or a run that was ended' }
    Write-Host ('Another run of sfbpatch holds this server (' + $holder + '): this one changed nothing.') -ForegroundColor Red
    exit $ExitCodes['busy']
}
try {
    if (Test-BusyProcess) {
        Write-Host ('What an earlier run started still runs (process ' + (Get-Text (Get-ItemProperty -LiteralPath $BusyKey) 'Process') + '): this run changed nothing. Run it again once that process has ended.') -ForegroundColor Red
        $exitCode = $ExitCodes['busy']
    } else {
        try {
            if (-not $WhatIfPreference) { Set-RecordValue -Key $LockKey -Name 'Holder' -Value ('process ' + $PID + ', started ' + (Get-Date -Format 'yyyy-MM-dd HH:mm:ss') + ' by ' + [System.Security.Principal.WindowsIdentity]::GetCurrent().Name) }
        } catch {
            Write-Verbose ('The holder of the run is not recorded: ' + $_.Exception.Message)
        }
        $exitCode = Invoke-Run
    }
} finally {
    # Released here: an interactive console that goes on must not keep it.
    $MachineLock.ReleaseMutex()
    $MachineLock.Dispose()
}
exit $exitCode
