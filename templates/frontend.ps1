
# ---- The role of the server: a Front End Server of an Enterprise Edition pool, patched by its
# pool's own procedure. The pool's gates are read before anything changes and again just before
# the server leaves service; what this run does after preflight; and what it puts back after a
# failure: the server in service again. ----

function Initialize-Role {
    # A Front End Server has no database step: the Back End's script runs it, with -DatabaseOnly.
    # A restart the installer asks for (3010) comes before the server returns to service.
    $script:DatabaseOnly = $false
    $script:HoldForReboot = $true
    $back = @($Procedure | Where-Object { $_.EndsDowntime })[0]
    $script:LeftDownRemedy = 'put the server back in service by hand: ' + ($back.Action.ToString().Trim() -replace '\$HostFqdn', $HostFqdn -replace '\$RunningBefore', '<the services named>')
}

function Set-HeldUntilRestart {
    # Holds this server out of service until Windows restarts: a volatile registry key, which
    # Windows does not keep across a restart, and its mark in the run state. A key that cannot
    # be made holds it while Windows reports a pending reboot.
    try {
        # Its parent exists, stable (RunState is in it); a key left by anything else goes first:
        # only a key this call creates is volatile.
        [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKey($RestartKey, $false)
        $key = [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey($RestartKey, [Microsoft.Win32.RegistryKeyPermissionCheck]::ReadWriteSubTree, [Microsoft.Win32.RegistryOptions]::Volatile)
        $key.Dispose()
        Set-RunStateValue -Name 'HeldUntilRestart' -Value 'key'
    } catch {
        Write-Warning ('The hold until the restart is kept by the pending reboot only: ' + $_.Exception.Message)
        try { Set-RunStateValue -Name 'HeldUntilRestart' -Value 'marker' } catch { Write-Warning ('The hold until the restart is not recorded: ' + $_.Exception.Message) }
    }
}

function Read-FabricState {
    # Get-CsPoolFabricState returns text (its reference names no property), and may warn: a
    # warning, a line that names missing replicas (unless it counts 0 of them), or no output
    # at all fails the gate.
    $warnings = @()
    $lines = @(Get-CsPoolFabricState -PoolFqdn $PoolFqdn -WarningVariable warnings -WarningAction SilentlyContinue | Out-String -Stream -Width 400 | Where-Object { $_.Trim() })
    $missing = @($lines | Where-Object { $_ -match 'missing' -and $_ -notmatch '[:=]\s*0\s*$' }) + @($warnings | ForEach-Object { 'WARNING: ' + [string]$_ })
    if ($lines.Count -eq 0) { $missing += 'Get-CsPoolFabricState returned nothing.' }
    New-Object PSObject -Property @{ Kind = 'fabric'; Lines = $lines; Missing = $missing; Error = '' }
}

function Read-Readiness {
    # The pool's upgrade state. Busy: asked again after 10 minutes, at most 3 times in all.
    # Lync Server 2013 also needs the upgrade domain of this server and whether it is ready.
    for ($attempt = 1; $attempt -le 3; $attempt++) {
        $state = @(& $ReadinessCommand)[0]
        $pool = Get-Text $state 'PoolUpgradeState'
        if ($pool -ne 'Busy' -or $attempt -eq 3) { break }
        Write-Host ('The pool is Busy (' + $attempt + ' of 3): asked again in 10 minutes.')
        Start-Sleep -Seconds 600
    }
    $domain = $ready = ''
    if ($state -and $state.PSObject.Properties['UpgradeDomains']) {
        foreach ($candidate in @($state.UpgradeDomains)) {
            $frontEnds = @()
            if ($candidate.PSObject.Properties['FrontEnds']) { $frontEnds = @($candidate.FrontEnds | ForEach-Object { [string]$_ }) }
            if ($frontEnds -contains $HostFqdn) {
                $domain = Get-Text $candidate 'UpgradeDomain'
                $ready = Get-Text $candidate 'ReadyForUpgrade'
            }
        }
    }
    New-Object PSObject -Property @{ Kind = 'readiness'; State = $pool; Attempts = $attempt; Domain = $domain; DomainReady = $ready
        Text = (($state | Select-Object -Property * | Out-String -Width 400).Trim()); Error = '' }
}

function Read-Gate {
    # One read of the pool; an error is the reading's, not the run's.
    param([string]$Kind)
    try {
        if ($Kind -eq 'fabric') { Read-FabricState } else { Read-Readiness }
    } catch {
        New-Object PSObject -Property @{ Kind = $Kind; Lines = @(); Missing = @(); State = ''; Attempts = 0; Domain = ''; DomainReady = ''; Text = ''; Error = $_.Exception.Message }
    }
}

function Get-FabricGateProblem {
    # What the fabric state says against taking this server out of service now (an error or
    # a missing replica); '' when nothing.
    param($Fabric)
    if ($Fabric.Error) { return ('Get-CsPoolFabricState -PoolFqdn ' + $PoolFqdn + ' failed: ' + $Fabric.Error) }
    if (@($Fabric.Missing).Count -gt 0) { return ('Get-CsPoolFabricState reports missing replicas: ' + (@($Fabric.Missing) -join ' | ')) }
    ''
}

function Get-ReadinessGateProblem {
    # What the upgrade state says against it; '' when nothing. A state the script cannot read
    # is a problem too, unless -Force.
    param($Readiness)
    $problem = ''
    if ($Readiness.Error) {
        $problem = 'The upgrade state cannot be read: ' + $Readiness.Error
    } elseif ($Readiness.State -eq 'Busy') {
        return ('The pool is still Busy after ' + $Readiness.Attempts + ' readings 10 minutes apart: it has a problem to solve before any update.')
    } elseif ($Readiness.State -eq 'InsufficientActiveFrontEnds') {
        return 'The pool has too few active Front End Servers (InsufficientActiveFrontEnds): none may go down now.'
    } elseif ($Readiness.State -ne 'Ready') {
        $problem = 'The output names no PoolUpgradeState the script knows (' + $Readiness.State + ').'
    } elseif (-not $FailsOver -and -not $Readiness.Domain) {
        $problem = 'The output names no upgrade domain holding ' + $HostFqdn + '.'
    } elseif (-not $FailsOver -and $Readiness.DomainReady -ne 'True') {
        return ('The upgrade domain of this server (' + $Readiness.Domain + ') is not ready for upgrade (ReadyForUpgrade: ' + $Readiness.DomainReady + ').')
    }
    if ($problem -and (Test-Switch 'Force')) {
        Write-Warning ($problem + ' Going on because of -Force.')
        return ''
    }
    $problem
}

function Send-ServerState {
    # In the read child: the services, the Core Components version, this computer's pool; the
    # pool's gates, unless the server is out of service after an earlier run (the run resumes)
    # or is updated and in service (nothing to do); with Settle, the pool after the update.
    param([hashtable]$Request)
    $services = @(Get-CsServiceState)
    $script:ShellResults.AddRange([object[]]$services)
    Send-Result 'version' @{ Version = [string](Get-CoreVersion) }
    try { Send-Result 'pool' @{ Pool = (Get-Text (Get-CsComputer -Identity $HostFqdn) 'Pool'); Error = '' } } catch { Send-Result 'pool' @{ Pool = ''; Error = $_.Exception.Message } }
    if ($Request.Settle) { return (Send-Settled) }
    $frontEnd = @($services | Where-Object { $_.Name -eq 'RTCSRV' })
    $out = $frontEnd.Count -gt 0 -and $frontEnd[0].Status -ne 'Running'
    if ($Request.Resuming -and $out) {
        Send-Result 'gates-skipped' @{ Why = 'an earlier run took this server out of service: the run resumes' }
    } elseif ($Request.Installed -and (Test-Serving $services)) {
        Send-Result 'gates-skipped' @{ Why = 'the update is installed and the server is in service' }
    } else {
        $script:ShellResults.Add((Read-Gate 'fabric'))
        $script:ShellResults.Add((Read-Gate 'readiness'))
    }
}

function Send-Settled {
    # After the update: the fabric state until no replica is missing, within 30 minutes; by
    # upgrade domain (Lync Server 2013), also the upgrade state until it has been Ready for 20
    # minutes, within 45.
    $deadline = [DateTime]::UtcNow.AddMinutes(30)
    do {
        $fabric = Read-Gate 'fabric'
        $again = -not $fabric.Error -and @($fabric.Missing).Count -gt 0 -and [DateTime]::UtcNow -lt $deadline
        if ($again) {
            Write-Host 'Missing replicas still reported: asked again in 1 minute.'
            Start-Sleep -Seconds 60
        }
    } while ($again)
    $script:ShellResults.Add($fabric)
    if ($FailsOver) { return }
    $deadline = [DateTime]::UtcNow.AddMinutes(45)
    $readySince = $null
    while ([DateTime]::UtcNow -lt $deadline) {
        try { $state = Get-Text (@(& $ReadinessCommand)[0]) 'PoolUpgradeState' } catch { $state = 'unreadable (' + $_.Exception.Message + ')' }
        if ($state -ne 'Ready') { $readySince = $null } elseif ($null -eq $readySince) { $readySince = [DateTime]::UtcNow }
        if ($readySince -and ([DateTime]::UtcNow - $readySince).TotalMinutes -ge 20) { break }
        Write-Host ('The pool is ' + $state + ': asked again in 1 minute (Ready for 20 minutes is needed).')
        Start-Sleep -Seconds 60
    }
    $minutes = 0
    if ($readySince) { $minutes = [int]([DateTime]::UtcNow - $readySince).TotalMinutes }
    Send-Result 'ready-for' @{ Minutes = $minutes }
}

function Get-FrontEndStateProblem {
    # Before the window: the read child imports the module and reads this server and its pool.
    $readPhase = @($Shells | Where-Object { $_.Reads })[0].Phase
    $installed = (Test-Path -LiteralPath $UpdatePath -PathType Leaf) -and (Test-InstallRecord)
    $script:ServerState = @(Invoke-ScriptPhase -Name $readPhase -Request @{ Read = $true; Resuming = [bool](Get-RunState); Installed = $installed })
    $failed = @(Get-Reported 'failed')
    if ($failed.Count -gt 0) { return ('The module does not import or cannot read the server: ' + $failed[0].Message) }
    $skipped = @(Get-Reported 'gates-skipped')
    $script:GatesSkipped = $skipped.Count -gt 0
    if ($script:GatesSkipped) { Write-Status ('  the pool''s gates are not read: ' + $skipped[0].Why) }
    if (@(Get-CsServiceState | Where-Object { $_.Name -eq 'RTCSRV' }).Count -eq 0) { return ('Get-CsWindowsService lists no Front-End service (RTCSRV): ' + $HostFqdn + ' is not a Front End Server.') }
    Write-Status ('  services running now: ' + (@(Get-CsServiceState | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name }) -join ', '))
    Write-Status ('  ' + $CoreComponentsName + ': ' + [string](Get-CoreVersion))
}

function Get-FrontEndPoolProblem {
    $pool = @(Get-Reported 'pool')[0]
    if (-not $pool -or (Get-Text $pool 'Pool') -ne $PoolFqdn) {
        'Get-CsComputer -Identity ' + $HostFqdn + ' names the pool ' + (Get-Text $pool 'Pool') + ' ' + (Get-Text $pool 'Error') + ', not ' + $PoolFqdn + '.'
    }
}

function Get-FabricProblem {
    # Missing replicas: the pool cannot lose another server now.
    if ($script:GatesSkipped) { return }
    $fabric = @(Get-Reported 'fabric')[0]
    if (-not $fabric) { return 'The fabric state was not read.' }
    foreach ($line in @($fabric.Lines)) { Write-Status ('    ' + $line) }
    Get-FabricGateProblem $fabric
}

function Get-ReadinessProblem {
    # Ready, not Busy three times in a row nor InsufficientActiveFrontEnds; on Lync Server 2013,
    # this server's upgrade domain is ReadyForUpgrade.
    if ($script:GatesSkipped) { return }
    $readiness = @(Get-Reported 'readiness')[0]
    if (-not $readiness) { return 'The upgrade state was not read.' }
    if ($readiness.Text) { Write-Status ('    ' + ($readiness.Text -replace '\r?\n', ' | ')) }
    Get-ReadinessGateProblem $readiness
}

function Test-OutOfService {
    # $true when the server is already out of service, as this product's step leaves it; else,
    # in the child that takes it out (not with -NoGates, the verification, nor when preflight
    # found the server already out after an earlier run), the pool's gates are read again, just
    # before it leaves, and a gate that no longer holds stops the step before any change.
    param([switch]$NoGates)
    if ($FailsOver) {
        $frontEnd = @(Get-CsServiceState | Where-Object { $_.Name -eq 'RTCSRV' -and $_.Status -eq 'Stopped' -and $_.StartMode -eq 4 })
        if ($frontEnd.Count -gt 0) { return $true }
        $script:Detail = 'RTCSRV is not stopped and disabled'
    } elseif (Test-ServicesAre -Desired 'Stopped') {
        return $true
    }
    if ($NoGates -or -not $script:InShell -or $script:GatesSkipped) { return $false }
    # The upgrade state first: its Busy readings may take 20 minutes, the fabric state is read after.
    $readiness = Read-Gate 'readiness'
    $problem = Get-FabricGateProblem (Read-Gate 'fabric')
    if (-not $problem) { $problem = Get-ReadinessGateProblem $readiness }
    if ($problem) { throw ('The pool''s gates, read again just before this server leaves service: ' + $problem) }
    $false
}

function Test-InService {
    # Every service that ran before the run runs again, none of them nor RTCSRV disabled; by
    # upgrade domain (Lync Server 2013, whose Stop-CsWindowsService also stops the web server),
    # W3SVC runs if it ran before.
    if (-not (Test-ServicesAre -Desired 'Running')) { return $false }
    $disabled = @(Get-CsServiceState | Where-Object { $_.StartMode -eq 4 -and ($_.Name -eq 'RTCSRV' -or $script:RunningBefore -contains $_.Name) } | ForEach-Object { $_.Name })
    if ($disabled.Count -gt 0) {
        $script:Detail = 'disabled: ' + ($disabled -join ', ')
        return $false
    }
    $FailsOver -or -not $script:W3svcWasRunning -or (Test-W3svc -Desired 'Running')
}

function Test-Serving {
    # The Front-End service (RTCSRV) of these service states runs and is not disabled.
    param([object[]]$Services)
    @($Services | Where-Object { $_.Name -eq 'RTCSRV' -and $_.Status -eq 'Running' -and $_.StartMode -ne 4 }).Count -gt 0
}

function Test-NothingToDo {
    # The update installed, nothing an unfinished run recorded left down, the server in service.
    $script:Resume.UpdateInstalled -and @(Get-LeftDown).Count -eq 0 -and (Test-Serving @(Get-CsServiceState))
}

function Confirm-PoolSettled {
    # The server serves again: the pool read until it settles, before the next server of the
    # pool goes down. Returns the exit code.
    $script:CurrentStep = 'The pool after the update'
    Write-Status ('Reading the pool ' + $PoolFqdn + ' until it settles (no missing replica, 30 minutes at most; by upgrade domain, Ready for 20 minutes).')
    $readPhase = @($Shells | Where-Object { $_.Reads })[0].Phase
    $script:ServerState = @(Invoke-ScriptPhase -Name $readPhase -Request @{ Read = $true; Settle = $true })
    $why = @(Get-Reported 'failed' | ForEach-Object { $_.Message })
    foreach ($fabric in @(Get-Reported 'fabric')) { $why += @(@($fabric.Error) + @($fabric.Missing) | Where-Object { $_ }) }
    if (@(Get-Reported 'fabric').Count -eq 0) { $why += 'The fabric state was not read.' }
    foreach ($ready in @(Get-Reported 'ready-for' | Where-Object { $_.Minutes -lt 20 })) { $why += 'The pool was Ready for ' + $ready.Minutes + ' minutes only, 20 are needed.' }
    if ($why.Count -gt 0) {
        Write-Warning ('This server is back in service, but the pool has not settled: ' + ($why -join ' | ') + ' Do not take the next Front End Server of ' + $PoolFqdn + ' down until it has.')
        $script:DoneWithWarning = $true
        return $ExitCodes['not-settled']
    }
    Write-Status ('The pool ' + $PoolFqdn + ' has settled. ' + $NextServerAdvice)
    $ExitCodes['done']
}

function Invoke-Window {
    # From the state read before the window: where this run starts (the resume rules), the
    # confirmation, the recovery task, the procedure, then the version checks and the pool's
    # state. Returns the exit code; throws when a step fails.
    $script:CurrentStep = 'Deciding what this run does'
    $script:CurrentRemedy = 'Fix the cause shown, then run the script again.'
    $script:Resume.UpdateInstalled = Test-InstallRecord
    if (Test-NothingToDo) {
        foreach ($step in $Procedure) { Add-StepResult $step ('Already done: ' + $ResumeStates['UpdateInstalled']) }
        if ($WhatIfPreference) { return $ExitCodes['done'] }
        $script:VersionAfter = Get-CoreVersion
        Test-UpdateLevel
        Clear-RunningBefore
        return (Confirm-PoolSettled)
    }
    $steps = @($Procedure | Where-Object { Test-StepRuns $_ })
    $listed = @($steps | Where-Object { $_.Action } | ForEach-Object { $_.Label + ': ' + $_.Action.ToString().Trim() })
    $question = 'Run, in this order: ' + ($listed -join ' | ') + ' (UpdatePath: ' + $UpdatePath + '; PoolFqdn: ' + $PoolFqdn + ')'
    if ($WhatIfPreference) {
        [void]$RunCmdlet.ShouldProcess($HostFqdn, $question)
        Show-WhatIf -Steps $steps
        return $ExitCodes['done']
    }
    if (-not ($NoPrompt -or $RunCmdlet.ShouldProcess($HostFqdn, $question))) { throw 'The run was declined at the confirmation: nothing was changed.' }
    Save-RunningBefore -KeepDisabled
    if (($Unattended -or $RecoveryTask) -and -not $LeaveServicesStopped) { Register-RecoveryTask }
    Invoke-Procedure -Steps $steps
    if ($script:RebootUnderWay -or $script:RebootRequired) {
        # The server stays out of service: the run after the restart puts it back.
        Set-HeldUntilRestart
        Write-Warning ('Windows must restart to finish the update (the installer''s exit code ' + $script:LastExit + ', or a restart Windows reports). This server stays out of service: restart Windows (if the installer has not), then run this script again; it resumes after the installer, puts the server back in service and reads the pool. The recovery task, if registered, does it after a restart within its day.')
        if ($script:RebootUnderWay) { return $ExitCodes['reboot-under-way'] }
        return $ExitCodes['reboot-required']
    }
    Test-UpdateLevel
    Clear-RunningBefore
    Confirm-PoolSettled
}

function Restore-AfterFailure {
    # After a failed step: nothing to do if nothing changed; else the step that puts the server
    # back in service, in a fresh Windows PowerShell. Returns the exit code.
    if (-not $script:Changed) {
        Write-Host 'Nothing was changed.' -ForegroundColor Red
        if ($script:RecordedHere) { Clear-RunningBefore }
        if (@(Get-LeftDown).Count -gt 0) { return $ExitCodes['left-down'] }
        return $ExitCodes['nothing-changed']
    }
    if ($script:RebootUnderWay -or $script:RebootRequired) {
        Set-HeldUntilRestart
        Write-Host 'The server stays out of service until Windows restarts: restart it, then run this script again.' -ForegroundColor Red
        return $ExitCodes['reboot-required']
    }
    $back = @($Procedure | Where-Object { $_.EndsDowntime })[0]
    $command = $back.Action.ToString().Trim()
    if (Test-Switch 'LeaveServicesStopped') {
        Write-Host ('Manual action needed: the server is left out of service (-LeaveServicesStopped); put it back with: ' + $command) -ForegroundColor Red
        return $ExitCodes['manual-action']
    }
    Write-Status ('Putting the server back in service: ' + $command)
    try {
        Invoke-Procedure -Steps @($back)
    } catch {
        Write-Host ('Manual action needed, the server is not back in service (' + $_.Exception.Message + '): ' + $command) -ForegroundColor Red
        return $ExitCodes['manual-action']
    }
    Stop-DowntimeClock
    Clear-RunningBefore
    $ExitCodes['restored']
}

function Invoke-RecoveryRestore {
    # The recovery task: the step that puts the server back in service, in this process (a
    # fresh Windows PowerShell of SYSTEM) after the module's import, unless it is back already.
    # Returns the manual actions left.
    $back = @($Procedure | Where-Object { $_.EndsDowntime })[0]
    try {
        $script:InShell = $true
        & $StartManagementShell
        if (Test-InService) { return }
        # Its output is for the event log's reader, not a result: Test-InService decides.
        & { $ErrorActionPreference = 'Continue'; & $back.Action 2>&1 } | Out-Null
        if (Test-InService) { return }
        $problem = $script:Detail
    } catch {
        $problem = $_.Exception.Message
        try { if (Test-InService) { return } } catch { Write-Host $_.Exception.Message }
    }
    $back.Action.ToString().Trim() + ' (' + $problem + ')'
}
