
# ---- The role of the server: a Standard Edition server or an Enterprise Edition Back End. What the
# read child reports, what this run does after preflight, and what it puts back after a failure. ----

function Initialize-Role {
    # The SQL Server of doc step 11 (this computer on a Standard Edition server) and the
    # Install-CsDatabase report. A restart the installer asks for (3010) waits until the end.
    $script:HoldForReboot = $false
    $script:LeftDownRemedy = 'start them with Start-Service.'
    if (-not $script:DatabaseServer) { $script:DatabaseServer = $HostFqdn }
    $script:DatabaseReport = [System.IO.Path]::Combine($LogDirectory, 'Install-CsDatabase-' + $env:COMPUTERNAME + '-' + $RunStamp + '.html')
}

function Send-ServerState {
    # In the read child: the services, the databases, the Core Components version, the pools
    # (-DatabaseOnly) and the mirror state.
    param([hashtable]$Request)
    $script:ShellResults.AddRange([object[]]@(Get-CsServiceState) + @(Get-DatabaseState))
    Send-Result 'version' @{ Version = [string](Get-CoreVersion) }
    if ($Request.Pool) { Send-PoolDatabaseServer }
    if ($MirrorStateCommand) { Send-MirrorState }
}

function Invoke-RecoveryRestore {
    # The recovery task: what the run recorded as running before its first stop, through the
    # Service Control Manager. Returns the manual actions left.
    Restore-ServerService
}

function Test-NothingToDo {
    # A finished server: installed, databases updated, W3SVC running, and nothing an
    # unfinished run recorded left down.
    $script:Resume.DatabasesUpdated -and @(Get-LeftDown).Count -eq 0 -and (Test-W3svc -Desired 'Running')
}

function Invoke-Window {
    # From the state read before the window: where this run starts (the resume rules), the
    # confirmation, the recovery task, the procedure, then the version checks. Returns the
    # exit code; throws when a step fails.
    $script:CurrentStep = 'Deciding what this run does'
    $script:CurrentRemedy = 'Fix the cause shown, then run the script again.'
    $current = @(Get-DatabaseState -Owned | Where-Object { -not (Test-RowCurrent $_ -Known) }).Count -eq 0
    $script:Resume.UpdateInstalled = -not $DatabaseOnly -and (Test-InstallRecord)
    # -DatabaseOnly stops nothing: only databases read current leave doc step 11 out, so a run
    # after a restore of the databases updates them again.
    $script:Resume.DatabasesUpdated = ($DatabaseOnly -and $current) -or ($script:Resume.UpdateInstalled -and ($current -or (Test-DatabaseRecord)))
    if (-not $DatabaseOnly -and (Test-NothingToDo)) {
        foreach ($step in $Procedure) { Add-StepResult $step ('Already done: ' + $ResumeStates['DatabasesUpdated']) }
        if (-not $WhatIfPreference) { Clear-RunningBefore }
        if (@(Get-DatabaseState -Owned | Where-Object { -not (Test-RowCurrent $_) }).Count -gt 0) {
            Write-Warning ('Test-CsDatabase does not report every database current, though Install-CsDatabase succeeded in an earlier run: check them with ' + $DatabaseTest.ToString().Trim() + ' -Verbose. The services are not stopped again for them.')
            $script:DoneWithWarning = $true
            return $ExitCodes['databases-disagree']
        }
        return $ExitCodes['done']
    }
    # -DatabaseOnly: databases at the versions this machine expects prove nothing about this
    # machine, unless --target-version or a record of Install-CsDatabase from it does.
    if ($DatabaseOnly -and $script:Resume.DatabasesUpdated -and -not $TargetVersion -and -not (Test-DatabaseRecord)) {
        foreach ($step in $Procedure) { Add-StepResult $step 'Not run: nothing this machine can update' }
        Write-Warning ('The databases on ' + $DatabaseServer + ' are at the versions this machine expects (' + $CoreComponentsName + ' ' + [string](Get-CoreVersion) + '): there is nothing it can update. If it has the update, so have the databases; if not, run -DatabaseOnly from an updated Front End Server of the pool, or generate the script with --target-version.')
        return $ExitCodes['nothing-to-update']
    }
    $steps = @($Procedure | Where-Object { Test-StepRuns $_ })
    $listed = @($steps | Where-Object { $_.Action } | ForEach-Object { $_.Label + ': ' + $_.Action.ToString().Trim() })
    $question = 'Run, in this order: ' + ($listed -join ' | ') + ' (UpdatePath: ' + $UpdatePath + '; SqlServerFqdn: ' + [string]$SqlServerFqdn + ')'
    if ($script:Resume.UpdateInstalled -and -not (Get-RunState) -and @($steps | Where-Object { $_.StartsDowntime }).Count -gt 0) {
        $again = 'An earlier run installed the update and its services run again, but Install-CsDatabase has not succeeded since: this run stops the services again (doc step 9) to finish doc step 11.'
        Write-Warning $again
        $question = $again + ' ' + $question
    }
    if ($WhatIfPreference) {
        [void]$RunCmdlet.ShouldProcess($HostFqdn, $question)
        Show-WhatIf -Steps $steps
        return $ExitCodes['done']
    }
    if (-not ($NoPrompt -or $RunCmdlet.ShouldProcess($HostFqdn, $question))) { throw 'The run was declined at the confirmation: nothing was changed.' }
    if (-not $DatabaseOnly) {
        Save-RunningBefore
        if (($Unattended -or $RecoveryTask) -and -not $LeaveServicesStopped) { Register-RecoveryTask }
    }
    Invoke-Procedure -Steps $steps
    if ($script:RebootUnderWay) {
        Write-Warning 'The installer has started a reboot of Windows (exit code 1641). Run this script again after the reboot: it resumes after the installer.'
        return $ExitCodes['reboot-under-way']
    }
    Test-UpdateLevel
    # Services left stopped on purpose stay recorded: the next run starts them.
    if (-not $DatabaseOnly -and -not (Test-Switch 'SkipStartServices')) { Clear-RunningBefore }
    if (Test-Switch 'SkipStartServices') { Write-Warning ('The services stay stopped (-SkipStartServices): the downtime goes on after this run (' + (Format-Elapsed (Get-Downtime)) + ' so far). Start them with Start-CsWindowsService.') }
    if ($script:Disagreements.Count -gt 0) {
        $script:DoneWithWarning = $true
        return $ExitCodes['databases-disagree']
    }
    $ExitCodes['done']
}

function Restore-AfterFailure {
    # After a failed step: nothing to do if nothing changed; else start again what ran before.
    # Returns the exit code.
    if (-not $script:Changed) {
        Write-Host 'Nothing was changed.' -ForegroundColor Red
        if ($script:RecordedHere) { Clear-RunningBefore }
        return $ExitCodes['nothing-changed']
    }
    $manual = @(Restore-ServerService)
    if ($manual.Count -gt 0) {
        Write-Host ('Manual action needed, these services were running before the run (recorded under ' + $RunStateKey + '):') -ForegroundColor Red
        foreach ($action in $manual) { Write-Host ('  - ' + $action) -ForegroundColor Red }
        return $ExitCodes['manual-action']
    }
    # Everything that ran before runs again: the next run records afresh.
    Stop-DowntimeClock
    if (-not $DatabaseOnly) { Clear-RunningBefore }
    $ExitCodes['restored']
}


# ---- The databases of doc step 11 and the W3SVC of doc steps 5 and 10: read by the product's
# cmdlets in a child, or, in this process, taken from what the read child reported. ----

$DatabaseRecordKey = 'HKLM:\SOFTWARE\sfbpatch\UpdatedDatabases'

function Get-DatabaseState {
    # Read only: a row per database, Owned when doc step 11 updates it: on $DatabaseServer (a
    # row may name it without its domain), and not in $ExcludedDatabases.
    param([switch]$Owned)
    if (-not $script:InShell) { return @(Get-Reported 'row' | Where-Object { -not $Owned -or $_.Owned }) }
    $output = @(& { $ErrorActionPreference = 'Continue'; $WarningPreference = 'SilentlyContinue'; & $DatabaseTest 2>&1 })
    foreach ($row in $output) {
        if ($row -is [System.Management.Automation.ErrorRecord]) {
            Write-Warning ('Test-CsDatabase: ' + $row.ToString())
            continue
        }
        $server = Get-Text $row 'SqlServerFqdn'
        $database = Get-Text $row 'DatabaseName'
        $onServer = $server -eq $DatabaseServer -or ($server -notlike '*.*' -and $server -eq $DatabaseServer.Split('.')[0])
        $isOwned = $onServer -and $ExcludedDatabases -notcontains $database
        if (-not $Owned -or $isOwned) {
            New-Object PSObject -Property @{ Kind = 'row'; SqlServerFqdn = $server; DatabaseName = $database; ExpectedVersion = (Get-Text $row 'ExpectedVersion')
                InstalledVersion = (Get-Text $row 'InstalledVersion'); Succeed = (Get-Text $row 'Succeed'); MirrorSqlServerFqdn = (Get-Text $row 'MirrorSqlServerFqdn'); Owned = [bool]$isOwned }
        }
    }
}

function Test-RowCurrent {
    # Current: InstalledVersion equal to ExpectedVersion, and Succeed not False. A blank
    # InstalledVersion with Succeed True (Microsoft's success sample) is not a failure after
    # Install-CsDatabase, but never enough to leave it out (-Known).
    param($Row, [switch]$Known)
    if ($Row.Succeed -eq 'False') { return $false }
    if (-not $Row.InstalledVersion) { return -not $Known -and $Row.Succeed -eq 'True' }
    $Row.InstalledVersion -eq $Row.ExpectedVersion
}

function Get-StaleRow {
    # The rows doc step 11 updates that are not current; in a child, other rows that are not
    # current are warnings with the command that updates them.
    param([object[]]$Rows)
    $owned = @($rows | Where-Object { $_.Owned })
    if ($owned.Count -eq 0) { throw ('Test-CsDatabase returned no database on ' + $DatabaseServer + ' (' + $rows.Count + ' rows in all).') }
    foreach ($row in @($rows | Where-Object { $script:InShell -and -not $_.Owned -and -not (Test-RowCurrent $_) })) {
        Write-Warning ($row.DatabaseName + ' on ' + $row.SqlServerFqdn + ' is not current (installed ' + $row.InstalledVersion + ', expected ' + $row.ExpectedVersion + '); doc step 11 of this script does not update it: ' + $OtherDatabasesRemedy)
    }
    @($owned | Where-Object { -not (Test-RowCurrent $_) })
}

function Get-DatabaseRecordName {
    # The database record names the SQL Server and this machine's Core Components version,
    # whose binaries set the versions Install-CsDatabase brings the databases to; none
    # without that version.
    $version = Get-CoreVersion
    if ($version) { $DatabaseServer + ' ' + [string]$version }
}

function Test-DatabaseUpdate {
    # Doc step 11 is done by Install-CsDatabase's own outcome: no error record (a step with
    # one fails at once). Test-CsDatabase is read afterwards. With a warning of Install-CsDatabase
    # and a row not current, the step failed; else its success is recorded and a later run does
    # not stop the services again for it: a row not current is then a warning (exit code
    # 'databases-disagree').
    # Without a warning, the record comes first: a reading that fails afterwards is a warning.
    $name = Get-DatabaseRecordName
    if ($name -and $script:LastWarnings.Count -eq 0) { Set-RecordValue -Key $DatabaseRecordKey -Name $name -Value $DatabaseReport }
    try {
        $stale = @(Get-StaleRow -Rows @(Get-DatabaseState))
    } catch {
        if ($script:LastWarnings.Count -gt 0) { throw }
        $stale = @(New-Object PSObject -Property @{ DatabaseName = 'Test-CsDatabase'; InstalledVersion = ''; ExpectedVersion = ''; Succeed = $_.Exception.Message })
    }
    if ($stale.Count -gt 0 -and $script:LastWarnings.Count -gt 0) {
        $script:Detail = 'Install-CsDatabase warned (' + ($script:LastWarnings -join ' ') + ') and Test-CsDatabase does not report current: ' + (@($stale | ForEach-Object { $_.DatabaseName }) -join ', ')
        return $false
    }
    if ($name -and $script:LastWarnings.Count -gt 0) { Set-RecordValue -Key $DatabaseRecordKey -Name $name -Value $DatabaseReport }
    if ($stale.Count -gt 0) {
        $message = 'Install-CsDatabase reported no error, but Test-CsDatabase does not report these databases current: ' + (@($stale | ForEach-Object { $_.DatabaseName + ' (installed ' + $_.InstalledVersion + ', expected ' + $_.ExpectedVersion + ', Succeed ' + $_.Succeed + ')' }) -join ', ') + '. Check them with ' + $DatabaseTest.ToString().Trim() + ' -Verbose; a later run does not stop the services again for them.'
        Write-Warning $message
        Send-Result 'disagree' @{ Message = $message }
    }
    $true
}

function Test-DatabaseRecord {
    $record = Get-ItemProperty -LiteralPath $DatabaseRecordKey -ErrorAction SilentlyContinue
    $name = Get-DatabaseRecordName
    [bool]($name -and $record -and $record.PSObject.Properties[$name])
}

function Get-UserDatabaseServer {
    # The SQL Server FQDN of a registrar's UserDatabase, UserDatabase:<FQDN>, with an
    # instance after a backslash if the store names one.
    param($Service)
    $database = Get-Text $Service 'UserDatabase'
    $database.Substring($database.IndexOf(':') + 1).Split('\')[0]
}

function Send-PoolDatabaseServer {
    # For -DatabaseOnly: the SQL Server of the user database of this computer's pool.
    try {
        $pool = Get-Text (Get-CsComputer -Identity $HostFqdn) 'Pool'
        foreach ($service in @(Get-CsService -UserServer | Where-Object { (Get-Text $_ 'PoolFqdn') -eq $pool })) {
            Send-Result 'pool' @{ Pool = $pool; UserDatabaseServer = (Get-UserDatabaseServer $service) }
        }
    } catch {
        Write-Warning ('Cannot read the pool of ' + $HostFqdn + ': ' + $_.Exception.Message)
    }
}

function Send-MirrorState {
    # The mirror state of the databases of every pool whose user database is on $SqlServerFqdn.
    try {
        $pools = @(Get-CsService -UserServer | Where-Object { (Get-UserDatabaseServer $_) -eq $SqlServerFqdn } | ForEach-Object { Get-Text $_ 'PoolFqdn' } | Sort-Object -Unique)
        foreach ($pool in $pools) {
            foreach ($state in @(& $MirrorStateCommand $pool)) {
                Send-Result 'mirror' @{ Pool = $pool; DatabaseName = (Get-Text $state 'DatabaseName'); StateOnMirror = (Get-Text $state 'StateOnMirror'); StatusOnPrimary = (Get-Text $state 'MirroringStatusOnPrimary') }
            }
        }
        if ($pools.Count -eq 0) { Send-Result 'mirror-unread' @{ Message = 'no pool keeps its user database on ' + $SqlServerFqdn } }
    } catch {
        Send-Result 'mirror-unread' @{ Message = $_.Exception.Message }
    }
}

function Restore-ServerService {
    # After a failure: start again exactly what was running before the run, through the
    # Service Control Manager, which starts their dependencies first (not the module, which
    # may be what broke). Returns the manual actions left.
    $names = @()
    if ($script:W3svcWasRunning) { $names += 'W3SVC' }
    $names += @($script:RunningBefore | Where-Object { $_ })
    if (Test-Switch 'LeaveServicesStopped') {
        # Only those that are down: a failure after the services started again leaves none.
        return @($names | Where-Object { $s = Get-Service -Name $_ -ErrorAction SilentlyContinue; -not $s -or [string]$s.Status -ne 'Running' } |
            ForEach-Object { 'Left stopped (-LeaveServicesStopped): Start-Service -Name ' + $_ })
    }
    if ($names.Count -gt 0) { Write-Status ('Starting again what was running before the run: ' + ($names -join ', ')) }
    foreach ($name in $names) {
        try {
            $service = Get-Service -Name $name
            # A service still stopping must stop before it can start.
            if ([string]$service.Status -eq 'StopPending') { $service.WaitForStatus('Stopped', [TimeSpan]::FromMinutes(10)) }
            if ([string]$service.Status -eq 'Stopped') { $service.Start() }
            if ([string]$service.Status -ne 'Running') { $service.WaitForStatus('Running', [TimeSpan]::FromMinutes(10)) }
        } catch {
            Write-Status ('  ' + $name + ': ' + $_.Exception.Message)
        }
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if (-not $service -or [string]$service.Status -ne 'Running') { 'Start-Service -Name ' + $name }
    }
}

# ---- The Back End's preflight checks, named by $Checks. ----

function Get-W3svcDependentProblem {
    if (Test-ResumesAfterInstaller) { return }
    $running = @(Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue | ForEach-Object { $_.DependentServices } | Where-Object { [string]$_.Status -ne 'Stopped' })
    if ($running.Count -gt 0) { 'These services depend on W3SVC and are running: ' + (($running | ForEach-Object { $_.Name }) -join ', ') + '.' }
}

function Get-SqlServerProblem {
    try { [void][System.Net.Dns]::GetHostAddresses($SqlServerFqdn) } catch { $SqlServerFqdn + ' does not resolve: ' + $_.Exception.Message }
}

function Get-ServerStateProblem {
    # Doc step 3, before the window: the read child imports the module and reads the state
    # every later decision starts from.
    $readPhase = @($Shells | Where-Object { $_.Reads })[0].Phase
    $script:ServerState = @(Invoke-ScriptPhase -Name $readPhase -Request @{ Read = $true; Pool = [bool]$DatabaseOnly })
    $failed = @(Get-Reported 'failed')
    if ($failed.Count -gt 0) { return ('The module does not import or cannot read the server: ' + $failed[0].Message) }
    # An empty list would make the stops "already done" while the services run.
    if (@(Get-CsServiceState).Count -eq 0 -and @(Get-Service -Name 'RTC*' -ErrorAction SilentlyContinue).Count -gt 0) { return 'Get-CsWindowsService lists no service, but Windows has RTC services: the module cannot read this server''s topology.' }
    Write-Status ('  services running now: ' + (@(Get-CsServiceState | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name }) -join ', '))
    foreach ($row in @(Get-DatabaseState)) {
        $scope = 'not updated by doc step 11'
        if ($row.Owned) { $scope = 'doc step 11' }
        Write-Status ('  database ' + $row.DatabaseName + ' on ' + $row.SqlServerFqdn + ': installed ' + $row.InstalledVersion + ', expected ' + $row.ExpectedVersion + ' (' + $scope + ')')
    }
    Write-Status ('  ' + $CoreComponentsName + ': ' + [string](Get-CoreVersion))
}

function Get-DatabaseScopeProblem {
    # Doc step 11 must find its databases, or the window would end in a failed step 11.
    $owned = @(Get-DatabaseState -Owned)
    if ($owned.Count -eq 0) { return ('Test-CsDatabase reports no database on ' + $DatabaseServer + ' (' + @(Get-DatabaseState).Count + ' databases in all).') }
    $unknown = @($owned | Where-Object { -not $_.ExpectedVersion })
    if ($unknown.Count -gt 0) { return ('Test-CsDatabase reports no expected version for: ' + (($unknown | ForEach-Object { $_.DatabaseName + ' on ' + $_.SqlServerFqdn }) -join ', ') + '.') }
    foreach ($row in @($owned | Where-Object { -not $_.InstalledVersion -and -not $_.Succeed })) {
        Write-Warning ($row.DatabaseName + ' on ' + $row.SqlServerFqdn + ' reports neither an installed version nor Succeed: doc step 11 counts it as to update.')
    }
    # -DatabaseOnly without a target version: only the rows' installed versions tell that this
    # machine is not older than the databases.
    $blank = @($owned | Where-Object { -not $_.InstalledVersion })
    if ($DatabaseOnly -and -not $TargetVersion -and $blank.Count -gt 0) {
        return ('Test-CsDatabase reports no installed version for ' + (($blank | ForEach-Object { $_.DatabaseName }) -join ', ') + ': without a target version, nothing shows that this machine is not older than these databases.')
    }
    # A machine whose binaries are older than the databases would "update" them backwards.
    $newer = @($owned | Where-Object {
        $installed = $expected = $null
        [Version]::TryParse($_.InstalledVersion, [ref]$installed) -and [Version]::TryParse($_.ExpectedVersion, [ref]$expected) -and $installed -gt $expected
    })
    if ($newer.Count -gt 0) {
        'These databases are newer than this machine expects, so this machine is older than the update: ' + (($newer | ForEach-Object { $_.DatabaseName + ' ' + $_.InstalledVersion + ' > ' + $_.ExpectedVersion }) -join ', ') + '.'
    }
}

function Get-FrontEndProblem {
    # RTCSRV, the Front-End service, is on Front End and Standard Edition servers, never on a
    # Back End: as the module lists it, or as Windows does (the module's list comes from the
    # topology, which may not read).
    if (@(Get-CsServiceState | Where-Object { $_.Name -eq 'RTCSRV' }).Count -gt 0 -or (Get-Service -Name 'RTCSRV' -ErrorAction SilentlyContinue)) {
        'This server has the Front-End service (RTCSRV): it is a Front End Server, which this procedure must not stop.'
    }
}

function Get-DatabaseOnlyEditionProblem {
    if (-not $SqlServerFqdn) { '-DatabaseOnly runs doc step 11 of an Enterprise Edition Back End from a Front End Server; this script is for a Standard Edition server.' }
}

function Get-MirrorProblem {
    # Install-CsDatabase -Update cannot update mirrored databases: a mirror named by
    # Test-CsDatabase, or a state Get-CsDatabaseMirrorState reports other than
    # DatabaseInaccessibleOrMirroringNotEnabled (its word for no mirror).
    $mirrored = @(Get-DatabaseState -Owned | Where-Object { $_.MirrorSqlServerFqdn } | ForEach-Object { $_.DatabaseName + ' (mirror on ' + $_.MirrorSqlServerFqdn + ')' })
    $mirrored += @(Get-Reported 'mirror' | Where-Object { $_.StatusOnPrimary -or @('', 'DatabaseInaccessibleOrMirroringNotEnabled') -notcontains $_.StateOnMirror } |
        ForEach-Object { $_.DatabaseName + ' of ' + $_.Pool + ' (' + $_.StateOnMirror + ' ' + $_.StatusOnPrimary + ')' })
    if ($mirrored.Count -gt 0) { return ('These databases are mirrored: ' + ($mirrored -join ', ') + '.') }
    # A state that cannot be read fails the check too, unless -Force.
    foreach ($unread in @(Get-Reported 'mirror-unread')) {
        $problem = 'The mirror state cannot be read (' + $unread.Message + ').'
        if (-not (Test-Switch 'Force')) { return $problem }
        Write-Warning ($problem + ' Going on because of -Force.')
    }
}

function Get-StaleMachineProblem {
    # Test-CsDatabase takes the versions it expects from the machine that runs it.
    $version = Get-CoreVersion
    if (-not ($version -and $version -ge [Version]$TargetVersion)) {
        'This machine is not updated: ' + $CoreComponentsName + ' is at ' + [string]$version + ', below ' + $TargetVersion + '.'
    }
}

function Get-PoolMemberProblem {
    # -DatabaseOnly updates the databases to this machine's level: only from a Front End Server
    # of a pool whose user database is on $SqlServerFqdn.
    $pools = @(Get-Reported 'pool')
    if (@($pools | Where-Object { $_.UserDatabaseServer -eq $SqlServerFqdn }).Count -eq 0) {
        'This machine (' + $HostFqdn + ') is not a Front End Server of a pool whose user database is on ' + $SqlServerFqdn + ' (its pool: ' + ((@($pools | ForEach-Object { $_.Pool + ' on ' + $_.UserDatabaseServer }) -join ', ')) + ').'
    }
}
