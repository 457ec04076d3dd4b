
# ---- The update installer (doc step 7), run in this process; its success is recorded under
# HKLM:\SOFTWARE\sfbpatch\InstalledUpdates by the installer's SHA-256. ----

$InstallRecordKey = 'HKLM:\SOFTWARE\sfbpatch\InstalledUpdates'

function Invoke-UpdateInstaller {
    # The call operator (&) would read [ and ] in the path as wildcards, so the installer
    # starts from its literal path, in its own folder, where it writes its logs; bounded by
    # -InstallerTimeoutMinutes. Windows Installer answers 1618 while another installation
    # runs: the installer does not start then. Its output lines are this function's output.
    param([string]$LiteralPath, [string[]]$ArgumentList = @())
    if (Test-WindowsInstallerBusy) { throw 'Windows Installer is busy with another installation (the _MSIExecute mutex is held): the installer was not started.' }
    try {
        $process = Start-WatchedProcess -FilePath $LiteralPath -Arguments ($ArgumentList -join ' ') -WorkingDirectory ([System.IO.Path]::GetDirectoryName($LiteralPath))
    } catch {
        throw ('The installer did not start: ' + $_.Exception.Message)
    }
    $script:InstallerRan = $true
    # For the recovery task: a restart the installer asks for comes first.
    Set-RunStateValue -Name 'InstallerStarted' -Value 'True'
    Wait-WatchedProcess -Process $process -Minutes $InstallerTimeoutMinutes -What 'The update installer' -Busy
}

function Test-WindowsInstallerBusy {
    # Windows Installer holds the _MSIExecute mutex while an installation runs.
    $mutex = $null
    try {
        try {
            if (-not [System.Threading.Mutex]::TryOpenExisting('Global\_MSIExecute', [ref]$mutex)) { return $false }
        } catch [System.UnauthorizedAccessException] {
            # It exists, and this account may not open it: taken as held.
            return $true
        }
        try { $free = $mutex.WaitOne(0) } catch [System.Threading.AbandonedMutexException] { $free = $true }
        if ($free) { $mutex.ReleaseMutex() }
        -not $free
    } finally {
        if ($mutex) { $mutex.Dispose() }
    }
}

function Get-Sha256 {
    # Of bytes or of a stream, in lower-case hex.
    param($Data)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { -join ($sha.ComputeHash($Data) | ForEach-Object { $_.ToString('x2') }) } finally { $sha.Dispose() }
}

function Open-Installer {
    # Opens the installer so that others may only read it until it has run (the file that
    # runs is the file that was hashed), and returns its SHA-256 (Get-FileHash needs 4.0).
    if (-not $script:InstallerStream) {
        # The full path: .NET's current folder is not PowerShell's.
        $script:UpdatePath = (Get-Item -LiteralPath $UpdatePath).FullName
        $script:InstallerStream = [System.IO.File]::Open($script:UpdatePath, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
        $script:InstallerSha256 = Get-Sha256 $script:InstallerStream
    }
    $script:InstallerSha256
}

function Test-InstallRecord {
    $record = Get-ItemProperty -LiteralPath $InstallRecordKey -ErrorAction SilentlyContinue
    [bool]($record -and $record.PSObject.Properties[(Open-Installer)])
}

function Remove-InstallRecord {
    Remove-ItemProperty -LiteralPath $InstallRecordKey -Name (Open-Installer) -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false
}

function Test-InstallResult {
    # Windows Installer's codes: 0 success, 3010 success with a reboot needed, 1641 success
    # with a reboot already started. The exit code decides, and is recorded by the installer's
    # SHA-256: a later run takes the record as the evidence that doc step 7 is done.
    $script:Detail = ''
    if (@(0, 1641, 3010) -notcontains $script:LastExit) {
        $script:Detail = 'exit code ' + $script:LastExit + ' is not a success'
        if ($script:LastExit -eq 1618) { $script:Detail = $script:Detail + ': another installation was running (1618)' }
        return $false
    }
    $script:RebootRequired = $script:LastExit -eq 3010
    $script:RebootUnderWay = $script:LastExit -eq 1641
    Set-RecordValue -Key $InstallRecordKey -Name (Open-Installer) -Value $UpdatePath
    # A role that waits for the restart (a Front End Server) also waits when Windows reports
    # one after the installer.
    if ($HoldForReboot -and -not $script:RebootUnderWay -and @(Get-PendingRebootMarker).Count -gt 0) { $script:RebootRequired = $true }
    $true
}

function Test-UpdateLevel {
    # After the procedure: a warning when the Core Components version did not rise; below
    # $TargetVersion, the installer's record is removed and the run fails.
    $installer = @($Procedure | Where-Object { $_.Installs })[0]
    $before = Get-CoreVersion
    if ($script:InstallerRan -and $before -and $script:VersionAfter -and $script:VersionAfter -le $before) {
        Write-Warning ($CoreComponentsName + ' is at ' + [string]$script:VersionAfter + ' after the installer, as before it (' + [string]$before + '): this update was already installed, or did not apply.')
    }
    if ($TargetVersion -and -not $DatabaseOnly -and -not $script:VersionAfter) {
        Write-Warning ('The ' + $CoreComponentsName + ' version cannot be read after the installer: the target ' + $TargetVersion + ' is not checked.')
    } elseif ($TargetVersion -and -not $DatabaseOnly -and $script:VersionAfter -lt [Version]$TargetVersion) {
        Enter-Step $installer
        Remove-InstallRecord
        Add-StepResult $installer ('FAILED (' + $CoreComponentsName + ' is at ' + [string]$script:VersionAfter + ', below ' + $TargetVersion + ')')
        throw ($CoreComponentsName + ' is at ' + [string]$script:VersionAfter + ' after the installer, below the target ' + $TargetVersion + ': the next run installs again.')
    }
}

function Get-PendingRebootMarker {
    # The three markers Windows leaves when a reboot is pending. PendingFileRenameOperations
    # is a value, not a key: Test-Path cannot see it.
    foreach ($key in @('Component Based Servicing\RebootPending', 'WindowsUpdate\Auto Update\RebootRequired')) {
        if (Test-Path -LiteralPath ('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\' + $key)) { $key }
    }
    $sessionManager = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
    if ($sessionManager -and $sessionManager.PSObject.Properties['PendingFileRenameOperations']) { 'Session Manager\PendingFileRenameOperations' }
}

function Get-ShellHolder {
    # Doc step 6: a PowerShell host that loaded the Management Shell's assemblies keeps the
    # installer from replacing them. Only PowerShell hosts count: the product's own services
    # and IIS load them too, and the steps stop those.
    foreach ($process in @(Get-Process -Name 'powershell', 'powershell_ise', 'pwsh', 'wsmprovhost' -ErrorAction SilentlyContinue | Where-Object { $_.Id -ne $PID })) {
        try {
            $holds = [string]$process.MainWindowTitle -like ('*' + $ShellName + '*') -or @($process.Modules | Where-Object { $_.ModuleName -like 'Microsoft.Rtc.Management*' }).Count -gt 0
        } catch {
            $holds = $false
            Write-Verbose ('Cannot inspect process ' + $process.Id + ': ' + $_.Exception.Message)
        }
        if ($holds) { $process }
    }
}

function Test-NoOpenShell {
    $script:Detail = Get-OpenShellProblem
    -not $script:Detail
}
