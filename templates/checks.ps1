
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

function Get-ServerIdentityProblem {
    # With -DatabaseOnly, an Enterprise Back End's database step runs from a Front End Server
    # of a pool homed on it.
    $homed = $DatabaseOnly -and $SqlServerFqdn -and @(Get-Reported 'pool' | Where-Object { $_.UserDatabaseServer -eq $SqlServerFqdn }).Count -gt 0
    if ($HostFqdn -eq $ExpectedServerFqdn -or $homed) { return }
    $problem = 'This server is ' + $HostFqdn + ', not ' + $ExpectedServerFqdn
    if ($DatabaseOnly -and $SqlServerFqdn) { $problem = $problem + ', nor a Front End Server of a pool whose user database is on ' + $SqlServerFqdn }
    $problem + '.'
}
