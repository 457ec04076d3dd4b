
# ---- Preflight checks, named by $Checks: each returns nothing when it passes, else the problem.
# A check that reads the read child's report (ReadsServer) is not run when that child failed. ----

function Get-ElevationProblem {
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) { 'This Windows PowerShell session is not elevated.' }
}

function Get-BitnessProblem { if (-not [Environment]::Is64BitProcess) { 'This is a 32-bit Windows PowerShell.' } }

function Get-PromptProblem {
    # A session that cannot prompt would fail at the confirmation. A remote session can prompt,
    # though its process is not interactive; so can one started without -NonInteractive (or a
    # prefix of it) before -File or -Command.
    if ($WhatIfPreference) { $script:NotChecked = $true }
    if ($NoPrompt -or $WhatIfPreference) { return }
    $nonInteractive = -not [Environment]::UserInteractive -and $Host.Name -ne 'ServerRemoteHost'
    foreach ($argument in @([Environment]::GetCommandLineArgs() | Select-Object -Skip 1)) {
        $name = ([regex]::Match($argument, '^[-/]([A-Za-z]+)$').Groups[1].Value).ToLowerInvariant()
        if ($name.Length -ge 3 -and 'noninteractive'.StartsWith($name)) { $nonInteractive = $true }
        if ($name -and ('file'.StartsWith($name) -or 'command'.StartsWith($name))) { break }
    }
    if ($nonInteractive) { 'This Windows PowerShell is not interactive, so it cannot ask for the confirmation.' }
}

function Get-LogDirectoryProblem {
    # -WhatIf writes nothing, not even a probe. The elevated script writes files of predictable
    # names there: a new folder is made for Administrators and SYSTEM only, and one that others
    # can write in is refused.
    if ($WhatIfPreference) { $script:NotChecked = $true; return }
    try {
        if (-not (Test-Path -LiteralPath $LogDirectory)) { [void](New-ProtectedFolder -Path $LogDirectory) }
        $writers = @(Get-OpenWriter -Folder $LogDirectory)
        if ($writers.Count -gt 0) { return ('Others than Administrators and SYSTEM can write in ' + $LogDirectory + ': ' + ($writers -join ', ') + '.') }
        $probe = Join-Path $LogDirectory ('sfbpatch-' + $RunStamp + '.probe')
        [System.IO.File]::WriteAllText($probe, 'probe')
        [System.IO.File]::Delete($probe)
    } catch {
        'The folder ' + $LogDirectory + ' cannot be created or written: ' + $_.Exception.Message
    }
}

function Get-MembershipProblem {
    # Doc step 1. Group SIDs, not names: IsInRole(string) wants DOMAIN\Group.
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    foreach ($group in @('CSAdministrator', 'RTCUniversalServerAdmins')) {
        try {
            if ($principal.IsInRole((New-Object Security.Principal.NTAccount($group)).Translate([Security.Principal.SecurityIdentifier]))) { return }
        } catch {
            Write-Verbose ('Cannot resolve the group ' + $group + ': ' + $_.Exception.Message)
        }
    }
    $identity.Name + ' is a member of neither CSAdministrator nor RTCUniversalServerAdmins.'
}

function Get-InstallerProblem {
    if (-not (Test-Path -LiteralPath $UpdatePath -PathType Leaf)) { return ('No update installer at ' + $UpdatePath + '.') }
    $actual = Open-Installer
    if ($ExpectedSha256 -and $actual -ne $ExpectedSha256) { return ('The SHA-256 of ' + $UpdatePath + ' is ' + $actual + ', not ' + $ExpectedSha256 + '.') }
    # Windows looks for the installer's DLLs in its folder first: only its .exe is hashed.
    # A warning only: a folder whose permissions cannot be read (a share) gives a warning too.
    $folder = [System.IO.Path]::GetDirectoryName($script:UpdatePath)
    $writers = @()
    try {
        $writers = @(Get-OpenWriter -Folder $folder)
    } catch {
        Write-Warning ('Cannot read who may write in the installer''s folder (' + $folder + '): ' + $_.Exception.Message)
    }
    if ($writers.Count -gt 0) { Write-Warning ('Others than Administrators and SYSTEM can write in the installer''s folder (' + ($writers -join ', ') + '): a DLL placed there would run with the installer. A folder only administrators can write in is safer.') }
}

function Test-ResumesAfterInstaller {
    # A run that resumes after the installer neither stops W3SVC nor runs the installer.
    (Test-Path -LiteralPath $UpdatePath -PathType Leaf) -and (Test-InstallRecord)
}

function Get-W3svcDependentProblem {
    if (Test-ResumesAfterInstaller) { return }
    $running = @(Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue | ForEach-Object { $_.DependentServices } | Where-Object { [string]$_.Status -ne 'Stopped' })
    if ($running.Count -gt 0) { 'These services depend on W3SVC and are running: ' + (($running | ForEach-Object { $_.Name }) -join ', ') + '.' }
}

function Get-PendingRebootProblem {
    $markers = @(Get-PendingRebootMarker)
    if ($markers.Count -gt 0) { 'A reboot is pending: ' + ($markers -join ', ') + '.' }
}

function Get-OwnProcessProblem {
    # The script may have been started from a Management Shell: no switch overrides this one.
    if (@([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -like 'Microsoft.Rtc.Management*' }).Count -gt 0) {
        'This Windows PowerShell has loaded the Management Shell''s assemblies.'
    }
}

function Get-InstallerBusyProblem {
    if (-not (Test-ResumesAfterInstaller) -and (Test-WindowsInstallerBusy)) { 'Windows Installer is busy with another installation.' }
}

function Get-OpenShellProblem {
    if (Test-ResumesAfterInstaller) { return }
    $holders = @(Get-ShellHolder)
    if ($holders.Count -gt 0) { 'These processes hold the Management Shell or its assemblies: ' + (($holders | ForEach-Object { [string]$_.Id + ' ' + $_.ProcessName }) -join ', ') + '.' }
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

function Get-ServerIdentityProblem {
    # With -DatabaseOnly, an Enterprise Back End's database step runs from a Front End Server
    # of a pool homed on it.
    $homed = $DatabaseOnly -and $SqlServerFqdn -and @(Get-Reported 'pool' | Where-Object { $_.UserDatabaseServer -eq $SqlServerFqdn }).Count -gt 0
    if ($HostFqdn -eq $ExpectedServerFqdn -or $homed) { return }
    $problem = 'This server is ' + $HostFqdn + ', not ' + $ExpectedServerFqdn
    if ($DatabaseOnly -and $SqlServerFqdn) { $problem = $problem + ', nor a Front End Server of a pool whose user database is on ' + $SqlServerFqdn }
    $problem + '.'
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
