
# ---- The server's state: read by the product's cmdlets in a child, or, in this process,
# taken from what the read child reported before the window. ----

function Get-Text {
    # A property as text, under strict mode: '' when the object lacks it.
    param($Object, [string]$Name)
    if ($null -ne $Object -and $Object.PSObject.Properties[$Name]) { return [string]$Object.$Name }
    ''
}

function Get-Reported {
    param([string]$Kind)
    @($script:ServerState | Where-Object { $_.Kind -eq $Kind })
}

function Get-CsServiceState {
    # Status only: -ExcludeActivityLevel skips the performance counters. StartMode is the
    # service's Start value: 2 automatic, 3 manual, 4 disabled.
    if (-not $script:InShell) { return Get-Reported 'service' }
    foreach ($service in @(Get-CsWindowsService -ExcludeActivityLevel)) {
        $name = Get-Text $service 'Name'
        $key = Get-ItemProperty -LiteralPath ('HKLM:\SYSTEM\CurrentControlSet\Services\' + $name) -ErrorAction SilentlyContinue
        $startMode = -1
        if ($key -and $key.PSObject.Properties['Start']) { $startMode = [int]$key.Start }
        New-Object PSObject -Property @{ Kind = 'service'; Name = $name; Status = (Get-Text $service 'Status'); StartMode = $startMode }
    }
}

function Test-ServicesAre {
    # Stopped: every service. Running: those that ran before the run; one that was down then
    # is reported, not failed.
    param([string]$Desired)
    $services = @(Get-CsServiceState)
    $other = @($services | Where-Object { $_.Status -ne $Desired -and ($Desired -eq 'Stopped' -or $script:RunningBefore -contains $_.Name) })
    if ($other.Count -gt 0) { $script:Detail = 'not ' + $Desired + ': ' + (@($other | ForEach-Object { $_.Name + ' (' + $_.Status + ')' }) -join ', ') }
    $down = @($services | Where-Object { $Desired -eq 'Running' -and $_.Status -ne 'Running' -and $script:RunningBefore -notcontains $_.Name })
    if ($down.Count -gt 0 -and $other.Count -eq 0) { $script:Detail = 'down before the run, left as they were: ' + (@($down | ForEach-Object { $_.Name }) -join ', ') }
    if ($services.Count -eq 0) { $script:Detail = 'no Skype for Business or Lync service on this server' }
    $other.Count -eq 0
}

function Test-W3svc {
    param([string]$Desired)
    $service = Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue
    if (-not $service) { $script:Detail = 'W3SVC is not installed' } elseif ([string]$service.Status -ne $Desired) { $script:Detail = 'W3SVC is ' + [string]$service.Status }
    -not $service -or [string]$service.Status -eq $Desired
}

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

function Get-CoreVersion {
    # The update level is the Core Components version (Get-CsServerVersion shows only the
    # base version): from the product's cmdlet where it has one, else from the Uninstall
    # registry keys (never Win32_Product, which repairs MSIs).
    if (-not $script:InShell) {
        $reports = @(Get-Reported 'version' | Where-Object { $_.Version })
        if ($reports.Count -gt 0) { return [Version]$reports[-1].Version }
        return $null
    }
    $versions = @()
    if ($PatchVersionCommand) {
        try {
            $versions = @(& $PatchVersionCommand | Where-Object { (Get-Text $_ 'ComponentName') -eq $CoreComponentsName } | ForEach-Object { Get-Text $_ 'Version' })
        } catch {
            Write-Verbose ('The product reports no update level: ' + $_.Exception.Message)
        }
    }
    if ($versions.Count -eq 0) {
        $versions = @(Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*' -ErrorAction SilentlyContinue |
            Where-Object { (Get-Text $_ 'DisplayName') -eq $CoreComponentsName } | ForEach-Object { Get-Text $_ 'DisplayVersion' })
    }
    $best = $null
    foreach ($text in $versions) {
        $version = $null
        if ([Version]::TryParse($text, [ref]$version) -and ($null -eq $best -or $version -gt $best)) { $best = $version }
    }
    $best
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

# ---- What was running before the first stop (HKLM:\SOFTWARE\sfbpatch\RunState, kept until
# a run ends well), and putting it back after a failure. ----

$RunStateKey = 'HKLM:\SOFTWARE\sfbpatch\RunState'
$DatabaseRecordKey = 'HKLM:\SOFTWARE\sfbpatch\UpdatedDatabases'
$BusyKey = 'HKLM:\SOFTWARE\sfbpatch\Busy'

function Set-RecordValue {
    # One value of the script's own records under HKLM:\SOFTWARE\sfbpatch.
    param([string]$Key, [string]$Name, $Value, [string]$Type = 'String')
    if (-not (Test-Path -LiteralPath $Key)) { New-Item -Path $Key -Force -Confirm:$false -WhatIf:$false | Out-Null }
    New-ItemProperty -LiteralPath $Key -Name $Name -Value $Value -PropertyType $Type -Force -Confirm:$false -WhatIf:$false | Out-Null
}

function Set-RunStateValue {
    param([string]$Name, [string]$Value)
    if (Test-Path -LiteralPath $RunStateKey) { Set-RecordValue -Key $RunStateKey -Name $Name -Value $Value }
}

function Get-RunState {
    $saved = Get-ItemProperty -LiteralPath $RunStateKey -ErrorAction SilentlyContinue
    if ($saved -and $saved.PSObject.Properties['ServicesRunning'] -and $saved.PSObject.Properties['W3svcRunning']) { $saved }
}

function Save-RunningBefore {
    # Before the first stop: what a failure starts again. A run that did not finish left its
    # own record, taken before its first stop: that record stays the truth, for the services
    # that still exist and are not disabled.
    $saved = Get-RunState
    if ($saved) {
        $present = @(Get-CsServiceState | Where-Object { $_.StartMode -ne 4 } | ForEach-Object { $_.Name })
        $script:RunningBefore = @($saved.ServicesRunning | Where-Object { $_ -and $present -contains $_ })
        $script:W3svcWasRunning = $saved.W3svcRunning -eq 'True'
    } else {
        # The names the module listed, their state now from the Service Control Manager.
        $script:RunningBefore = @(Get-CsServiceState | ForEach-Object { $_.Name } | Where-Object { $s = Get-Service -Name $_ -ErrorAction SilentlyContinue; $s -and [string]$s.Status -eq 'Running' })
        $w3svc = Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue
        $script:W3svcWasRunning = [bool]($w3svc -and [string]$w3svc.Status -eq 'Running')
        $script:RecordedHere = $true
        Set-RecordValue -Key $RunStateKey -Name 'ServicesRunning' -Value ([string[]]$script:RunningBefore) -Type MultiString
        Set-RecordValue -Key $RunStateKey -Name 'W3svcRunning' -Value ([string]$script:W3svcWasRunning)
    }
    Write-Status ('Running before the first stop (' + $RunStateKey + '), started again if a step fails: ' + ($script:RunningBefore -join ', ') + '; W3SVC running: ' + $script:W3svcWasRunning)
}

function Clear-RunningBefore {
    # The run finished: the next one records afresh.
    if (Test-Path -LiteralPath $RunStateKey) { Remove-Item -LiteralPath $RunStateKey -Recurse -Confirm:$false -WhatIf:$false }
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
