
# ---- The run: preflight, one confirmation, the procedure, the restore after a failure. ----

function Invoke-Preflight {
    $failures = @()
    foreach ($check in $Checks) {
        if (($DatabaseOnly -and $check.DatabaseOnly -eq 'never') -or (-not $DatabaseOnly -and $check.DatabaseOnly -eq 'only')) { continue }
        $label = 'Preflight'
        if ($check.DocStep) { $label = 'Preflight (doc step ' + $check.DocStep + ')' }
        $started = Get-Date
        Write-Status ($label + ': ' + $check.Title)
        try { $problem = & $check.Test } catch { $problem = $_.Exception.Message }
        if (-not $problem) {
            Add-CheckResult $check $label 'Passed' $started
        } elseif (Test-Switch $check.Override) {
            Write-Warning ($problem + ' Going on because of -' + $check.Override + '.')
            Add-CheckResult $check $label ('Failed, overridden by -' + $check.Override) $started
        } else {
            Add-CheckResult $check $label 'FAILED' $started
            $failures += ($problem + ' ' + $check.Remedy)
        }
    }
    $failures
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
    if ($null -eq $reason) { return $true }
    Add-StepResult $Step $reason
    $false
}

function Invoke-LocalStep {
    # A step of this process: tests its state, acts only when it does not hold, verifies.
    param([hashtable]$Step)
    $started = Get-Date
    Enter-Step $Step
    Write-Status ($Step.Label + ': ' + $Step.Title)
    if (& $Step.Test) { Add-StepResult $Step 'Already done' $started; return }
    if (-not $Step.Action) {
        if (Test-Switch $Step.Override) {
            Write-Warning ('Going on because of -' + $Step.Override + '.')
            Add-StepResult $Step ('Not done, overridden by -' + $Step.Override) $started
            return
        }
        Add-StepResult $Step 'FAILED' $started
        throw 'The check of this step failed and no command can fix it.'
    }
    if ($Step.StartsDowntime) { Start-DowntimeClock }
    $script:Changed = $true
    Invoke-NativeCommand -ScriptBlock $Step.Action
    if (-not (& $Step.Verify)) {
        Add-StepResult $Step 'FAILED' $started
        throw 'After the commands the step is still not done.'
    }
    Add-StepResult $Step 'Done' $started
}

function Test-NothingToDo {
    # A finished server: installed, databases current, W3SVC and the services running,
    # those an unfinished run recorded included.
    $saved = Get-RunState
    $recorded = @()
    if ($saved) { $recorded = @($saved.ServicesRunning | Where-Object { $_ }) }
    $down = @($recorded | Where-Object { $s = Get-Service -Name $_ -ErrorAction SilentlyContinue; $s -and [string]$s.Status -ne 'Running' })
    $script:Resume.UpdateInstalledAndDatabasesCurrent -and $down.Count -eq 0 -and (Test-W3svc -Desired 'Running') -and (Test-ServicesAre -Desired 'Running')
}

function Show-WhatIf {
    # -WhatIf: each step says what it would do, from the state read before the window.
    param([hashtable[]]$Steps)
    $installs = @($Steps | Where-Object { $_.Installs }).Count -gt 0
    $afterInstaller = $false
    $stopping = $false
    foreach ($step in $Steps) {
        $would = 'Would run'
        if ($installs -and $afterInstaller) { $would = 'Would run after the installer' }
        if ($step.Action) { $would = $would + ': ' + $step.Action.ToString().Trim() } elseif ($step.Shell) { $would = $would + ': ' + $StartManagementShell.ToString().Trim() }
        if (-not $step.Action -and -not $step.Shell) {
            $would = 'Would fail: ' + $step.Title
            if (& $step.Test) { $would = 'Checked: ' + $step.Title }
        } elseif ($step.Test -and -not ($installs -and $afterInstaller) -and -not ($stopping -and -not $step.DatabaseStep) -and (& $step.Test)) {
            $would = 'Already done'
        } elseif ($step.StartsDowntime) {
            $stopping = $true
        }
        if ($step.Installs) { $afterInstaller = $true }
        Add-StepResult $step $would
    }
}

function Invoke-Procedure {
    # The steps that run, in plan order: those of this process one by one, those of a child
    # in one start of it. Returns after the installer starts a reboot (exit code 1641).
    param([hashtable[]]$Steps)
    $i = 0
    while ($i -lt $Steps.Count) {
        $step = $Steps[$i]
        if ($script:RebootUnderWay) {
            Add-StepResult $step 'Not run: Windows is restarting'
            $i++
        } elseif (-not $step.Shell) {
            Invoke-LocalStep $step
            $i++
        } else {
            $group = @()
            while ($i -lt $Steps.Count -and $Steps[$i].Shell -eq $step.Shell) {
                $group += $Steps[$i]
                $i++
            }
            $started = Get-Date
            Enter-Step $group[0]
            Write-Status ('A fresh Windows PowerShell (' + $step.Shell + ') imports the module for: ' + (@($group | ForEach-Object { $_.Label }) -join ', '))
            $script:Changed = $true
            $request = @{ Steps = @($group | ForEach-Object { $_.Id }); RunningBefore = $script:RunningBefore; DatabaseReport = $DatabaseReport
                DowntimeStart = $script:DowntimeStart; ReadVersion = ($i -ge $Steps.Count) }
            $report = @(Invoke-ScriptPhase -Name $step.Shell -Request $request)
            $after = @($report | Where-Object { $_.Kind -eq 'version' -and $_.Version })
            if ($after.Count -gt 0) { $script:VersionAfter = [Version]$after[0].Version }
            Complete-ScriptPhase -Report $report -Steps $group -Started $started
        }
    }
    if ($script:RebootUnderWay) {
        Write-Warning 'The installer has started a reboot of Windows (exit code 1641). Run this script again after the reboot: it resumes after the installer.'
        return $ExitCodes['reboot-under-way']
    }
    $ExitCodes['done']
}

function Test-TargetVersion {
    # After the window: the installed version must have reached the target.
    $installer = @($Procedure | Where-Object { $_.Installs })[0]
    Enter-Step $installer
    $version = $script:VersionAfter
    if (-not $version) {
        Write-Warning ('The ' + $CoreComponentsName + ' version cannot be read after the installer: the target ' + $TargetVersion + ' is not checked.')
    } elseif ($version -lt [Version]$TargetVersion) {
        Remove-InstallRecord
        Add-StepResult $installer ('FAILED (' + $CoreComponentsName + ' is at ' + [string]$version + ', below ' + $TargetVersion + ')')
        throw ($CoreComponentsName + ' is at ' + [string]$version + ' after the installer, below the target ' + $TargetVersion + ': the next run installs again.')
    }
}

function Invoke-Window {
    # From the state read before the window: where this run starts, the confirmation, then
    # the procedure. Returns the exit code; throws when a step fails.
    $script:CurrentStep = 'Deciding what this run does'
    $script:CurrentRemedy = 'Fix the cause shown, then run the script again.'
    if (-not $DatabaseOnly) {
        $script:Resume.UpdateInstalled = Test-InstallRecord
        $stale = @(Get-DatabaseState -Owned | Where-Object { $_.ExpectedVersion -ne $_.InstalledVersion })
        $script:Resume.UpdateInstalledAndDatabasesCurrent = $script:Resume.UpdateInstalled -and $stale.Count -eq 0
        if (Test-NothingToDo) {
            foreach ($step in $Procedure) { Add-StepResult $step 'Already done (the update is installed, the databases current and the services running)' }
            if (-not $WhatIfPreference) { Clear-RunningBefore }
            return $ExitCodes['done']
        }
    }
    $steps = @($Procedure | Where-Object { Test-StepRuns $_ })
    $listed = @($steps | Where-Object { $_.Action } | ForEach-Object { $_.Label + ': ' + $_.Action.ToString().Trim() })
    $question = 'Run, in this order: ' + ($listed -join ' | ') + ' (UpdatePath: ' + $UpdatePath + '; SqlServerFqdn: ' + [string]$SqlServerFqdn + ')'
    if ($WhatIfPreference) {
        [void]$PSCmdletOfRun.ShouldProcess($HostFqdn, $question)
        Show-WhatIf -Steps $steps
        return $ExitCodes['done']
    }
    if (-not ($NoPrompt -or $PSCmdletOfRun.ShouldProcess($HostFqdn, $question))) { throw 'The run was declined at the confirmation: nothing was changed.' }
    if (-not $DatabaseOnly) { Save-RunningBefore }
    $exit = Invoke-Procedure -Steps $steps
    if ($exit -eq $ExitCodes['done'] -and $TargetVersion -and -not $DatabaseOnly) { Test-TargetVersion }
    if ($exit -eq $ExitCodes['done'] -and -not $DatabaseOnly) { Clear-RunningBefore }
    $exit
}

function Invoke-Run {
    $exitCode = $ExitCodes['done']
    $transcribing = $false
    if (-not $WhatIfPreference) {
        try {
            [void][System.IO.Directory]::CreateDirectory($LogDirectory)
            Start-Transcript -LiteralPath (Join-Path $LogDirectory ('sfbpatch-' + $env:COMPUTERNAME + '-' + $RunStamp + '.log')) -Confirm:$false | Out-Null
            $transcribing = $true
        } catch {
            Write-Warning ('No transcript: ' + $_.Exception.Message)
        }
    }
    try {
        # Held open for reading only until the run ends: every child runs this very file.
        $script:ScriptStream = [System.IO.File]::Open($ScriptFile, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
        Write-Status ($ProductName + ' ' + $ServerRole + ' ' + $HostFqdn + ': update from ' + $UpdatePath)
        $saved = Get-RunState
        if ($saved) {
            Write-Warning ('An earlier run did not finish (' + $RunStateKey + '). Running before it: ' + (@($saved.ServicesRunning) -join ', ') + '. This run restores that set if a step fails; a run that finishes clears it.')
        }
        $failures = @(Invoke-Preflight)
        if ($failures.Count -gt 0) {
            Write-Host 'Preflight failed; nothing was changed:' -ForegroundColor Red
            foreach ($failure in $failures) { Write-Host ('  - ' + $failure) -ForegroundColor Red }
            $exitCode = $ExitCodes['nothing-changed']
        } else {
            try {
                $exitCode = Invoke-Window
            } catch {
                Write-Host ('FAILED at ' + $script:CurrentStep + ': ' + $_.Exception.Message) -ForegroundColor Red
                Write-Host ('What to do: ' + $script:CurrentRemedy) -ForegroundColor Red
                if (-not $script:Changed) {
                    $exitCode = $ExitCodes['nothing-changed']
                    Write-Host 'Nothing was changed.' -ForegroundColor Red
                } else {
                    $exitCode = $ExitCodes['restored']
                    $manual = @(Restore-ServerService)
                    if ($manual.Count -gt 0) {
                        $exitCode = $ExitCodes['manual-action']
                        Write-Host ('Manual action needed, these services were running before the run (recorded under ' + $RunStateKey + '):') -ForegroundColor Red
                        foreach ($action in $manual) { Write-Host ('  - ' + $action) -ForegroundColor Red }
                    } else {
                        # Everything that ran before runs again: the next run records afresh.
                        Stop-DowntimeClock
                        if (-not $DatabaseOnly) { Clear-RunningBefore }
                    }
                }
            }
            if ($exitCode -eq $ExitCodes['done'] -and -not $WhatIfPreference) {
                # A reboot this run calls for: the installer's 3010, or a marker after it ran.
                $markers = @(Get-PendingRebootMarker)
                if ($script:RebootRequired -or ($script:InstallerRan -and $markers.Count -gt 0)) {
                    Write-Warning ('Windows needs a reboot to finish the update; after it, run the script again to confirm the databases. ' + ($markers -join ', '))
                    $exitCode = $ExitCodes['reboot-required']
                } elseif ($markers.Count -gt 0) {
                    Write-Warning ('Windows reports a pending reboot that this run did not cause: ' + ($markers -join ', '))
                }
            }
        }
        $script:Completed = $true
    } finally {
        Update-DowntimeClock
        if ($script:InstallerStream) { $script:InstallerStream.Dispose() }
        if ($script:ScriptStream) { $script:ScriptStream.Dispose() }
        if ($script:RunFolder) { Remove-Item -LiteralPath $script:RunFolder -Recurse -Force -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false }
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
$BoundParameters = $PSBoundParameters
$PSCmdletOfRun = $PSCmdlet
# -Unattended asks nothing; -Confirm:$false (through -Command) does the same.
$NoPrompt = $Unattended -or ($PSBoundParameters.ContainsKey('Confirm') -and -not [bool]$PSBoundParameters['Confirm'])
if ($NoPrompt) { $ConfirmPreference = 'None' }
if (-not $UpdatePath) { $UpdatePath = Join-Path (Split-Path -Parent $ScriptFile) $DefaultInstallerName }
# This computer's FQDN, as the host check and the Standard Edition database scope read it.
$hostProperties = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties()
$HostFqdn = $hostProperties.HostName
if ($hostProperties.DomainName) { $HostFqdn = $HostFqdn + '.' + $hostProperties.DomainName }
if (-not $DatabaseServer) { $DatabaseServer = $HostFqdn }
# One full path for PowerShell and .NET alike (a relative path differs between them).
try {
    $LogDirectory = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LogDirectory)
} catch {
    Write-Verbose ('-LogDirectory ' + $LogDirectory + ': ' + $_.Exception.Message + ' (the preflight check says what to do)')
}
$RunStamp = Get-Date -Format 'yyyyMMdd-HHmmss'
# Not Join-Path: it resolves the drive, and a bad -LogDirectory is the preflight check's to report.
$DatabaseReport = [System.IO.Path]::Combine($LogDirectory, 'Install-CsDatabase-' + $env:COMPUTERNAME + '-' + $RunStamp + '.html')
$script:CheckRows = New-Object System.Collections.Generic.List[object]
$script:StepRows = @{}
$script:ShellResults = New-Object System.Collections.Generic.List[object]
$script:Resume = @{ UpdateInstalled = $false; UpdateInstalledAndDatabasesCurrent = $false }
$script:DowntimeStart = $script:DowntimeEnd = $script:InstallerSha256 = $script:InstallerStream = $script:ServerState = $null
$script:RunningBefore = $script:VersionAfter = $script:ScriptStream = $null
$script:WarnReported = $script:BudgetReported = $script:Changed = $script:RebootRequired = $script:RebootUnderWay = $false
$script:InstallerRan = $script:Completed = $script:InShell = $script:W3svcWasRunning = $false
$script:Detail = $script:CurrentStep = $script:CurrentRemedy = ''
$script:LastOutput = @()
$script:LastExit = 0
if ($Phase) { exit (Invoke-Phase) }
exit (Invoke-Run)
