
# ---- One run at a time, and the recovery task: if a run ends without starting again what it
# stopped (killed, or stopped at a bound), a task of SYSTEM does it once nothing the run
# started still works. ----

function Enter-MachineLock {
    # A machine-wide mutex, held until this process ends: $true when this process holds it.
    # A holder that ended without releasing it (killed) leaves it to the next one.
    try {
        $script:MachineLock = New-Object System.Threading.Mutex($false, $Recovery.LockName)
        $script:MachineLock.WaitOne(0)
    } catch [System.Threading.AbandonedMutexException] {
        $true
    } catch {
        # Another account's run holds it and this one may not open it.
        $false
    }
}

function Test-BusyProcess {
    # Whether the installer or a child that a run recorded (PID, start time, name) still runs.
    $busy = Get-Text (Get-ItemProperty -LiteralPath $BusyKey -ErrorAction SilentlyContinue) 'Process'
    if (-not $busy) { return $false }
    $id, $ticks, $name = $busy.Split(' ')
    $process = Get-Process -Id ([int]$id) -ErrorAction SilentlyContinue
    if (-not $process -or $process.ProcessName -ne $name) { return $false }
    # A start time this account may not read: taken as the same process.
    try { $process.StartTime.ToUniversalTime().Ticks -eq [long]$ticks } catch { $true }
}

function Invoke-SchTasks {
    # Its exit code decides: a line on standard error must not stop the script first.
    param([string[]]$ArgumentList)
    $ErrorActionPreference = 'Continue'
    $output = & (Join-Path $env:SystemRoot 'System32\schtasks.exe') $ArgumentList 2>&1
    if ($LASTEXITCODE -ne 0) { throw ('schtasks.exe ' + $ArgumentList[0] + ' failed (exit code ' + $LASTEXITCODE + '): ' + ($output -join ' ')) }
}

function Register-RecoveryTask {
    # Before the first stop: a copy of this file in a folder only Administrators and SYSTEM
    # can open (that, not the copy's SHA-256 in the run state, is what protects it), and a
    # task of SYSTEM that runs it with -Phase $Recovery.Phase every 15 minutes for a day, from
    # 15 minutes on: while this run holds the machine's mutex, or what it started still
    # runs, the task does nothing.
    $folder = Join-Path $env:ProgramFiles 'sfbpatch'
    if (-not (Test-Path -LiteralPath $folder)) { [void](New-ProtectedFolder -Path $folder) }
    # Owned by Administrators or SYSTEM, as the task (SYSTEM) checks it.
    Assert-ProtectedFolder -Folder $folder -Owners $TrustedSids
    $copy = Join-Path $folder ($Recovery.TaskName + '.ps1')
    $bytes = [System.IO.File]::ReadAllBytes($ScriptFile)
    [System.IO.File]::WriteAllBytes($copy, $bytes)
    $expected = Get-Sha256 $bytes
    if ((Get-Sha256 ([System.IO.File]::ReadAllBytes($copy))) -ne $expected) { throw ('The copy ' + $copy + ' does not hold this script.') }
    Set-RunStateValue -Name 'RecoveryCopySha256' -Value $expected
    $arguments = Get-PhaseArguments -File $copy -Name $Recovery.Phase
    # The execution policy this run has (from -ExecutionPolicy, or the operator's own scope)
    # does not reach a task of SYSTEM: the task gets the same. A Group Policy one applies to both.
    $arguments = '-ExecutionPolicy ' + (Get-ExecutionPolicy) + ' ' + $arguments
    $start = (Get-Date).AddMinutes(15)
    $format = 'yyyy-MM-dd''T''HH:mm:ss'
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    $xml = '<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>' + [System.Security.SecurityElement]::Escape($Recovery.Description) + '</Description></RegistrationInfo>
  <Triggers><TimeTrigger><Enabled>true</Enabled><StartBoundary>' + $start.ToString($format, $invariant) + '</StartBoundary><EndBoundary>' + $start.AddDays(1).ToString($format, $invariant) + '</EndBoundary><Repetition><Interval>PT15M</Interval><Duration>P1D</Duration></Repetition></TimeTrigger></Triggers>
  <Principals><Principal id="Author"><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal></Principals>
  <Settings><MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy><DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries><StopIfGoingOnBatteries>false</StopIfGoingOnBatteries><StartWhenAvailable>true</StartWhenAvailable><Enabled>true</Enabled><ExecutionTimeLimit>PT4H</ExecutionTimeLimit><DeleteExpiredTaskAfter>PT1H</DeleteExpiredTaskAfter></Settings>
  <Actions Context="Author"><Exec><Command>' + [System.Security.SecurityElement]::Escape((Join-Path $PSHOME 'powershell.exe')) + '</Command><Arguments>' + [System.Security.SecurityElement]::Escape($arguments) + '</Arguments></Exec></Actions>
</Task>'
    $definition = Join-Path $script:RunFolder 'recovery-task.xml'
    [System.IO.File]::WriteAllText($definition, $xml, [System.Text.Encoding]::Unicode)
    Invoke-SchTasks @('/Create', '/TN', $Recovery.TaskName, '/XML', $definition, '/RU', 'SYSTEM', '/F')
    $script:RecoveryRegistered = $true
    Write-Status ('Recovery task ' + $Recovery.TaskName + ' registered (SYSTEM, from ' + $start.ToString('yyyy-MM-dd HH:mm') + '): it starts again what was running if this run ends without doing so.')
}

function Test-RecoveryTask {
    $ErrorActionPreference = 'Continue'
    & (Join-Path $env:SystemRoot 'System32\schtasks.exe') @('/Query', '/TN', $Recovery.TaskName) 2>&1 | Out-Null
    $LASTEXITCODE -eq 0
}

function Unregister-RecoveryTask {
    try {
        Invoke-SchTasks @('/Delete', '/TN', $Recovery.TaskName, '/F')
        Remove-Item -LiteralPath (Join-Path (Join-Path $env:ProgramFiles 'sfbpatch') ($Recovery.TaskName + '.ps1')) -Force -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false
        $script:RecoveryRegistered = $false
    } catch {
        Write-Warning ('The recovery task ' + $Recovery.TaskName + ' could not be removed: ' + $_.Exception.Message + ' Remove it with: schtasks /Delete /TN ' + $Recovery.TaskName + ' /F')
    }
}

function Write-RecoveryEvent {
    # In the Application log, source sfbpatch (created on first use).
    param([string]$Message, [string]$Type)
    Write-Host $Message
    try {
        if (-not [System.Diagnostics.EventLog]::SourceExists('sfbpatch')) { [System.Diagnostics.EventLog]::CreateEventSource('sfbpatch', 'Application') }
        [System.Diagnostics.EventLog]::WriteEntry('sfbpatch', $Message, $Type, $Recovery.EventId)
    } catch {
        Write-Host ('No event written: ' + $_.Exception.Message)
    }
}

function Invoke-Recovery {
    # The recovery task (SYSTEM). While a run holds the machine, or the installer or a child
    # it recorded still runs, it does nothing: the next repetition looks again. Then it starts
    # again through the Service Control Manager what the run recorded as running before its
    # first stop, writes an event, and removes itself.
    if (-not (Enter-MachineLock)) { return 0 }
    Set-RecordValue -Key $LockKey -Name 'Holder' -Value ('the recovery task, process ' + $PID)
    $saved = Get-RunState
    if ($saved) {
        try {
            $copy = Join-Path (Join-Path $env:ProgramFiles 'sfbpatch') ($Recovery.TaskName + '.ps1')
            Assert-ProtectedFolder -Folder (Split-Path -Parent $copy)
            if ((Get-Sha256 ([System.IO.File]::ReadAllBytes($copy))) -ne (Get-Text $saved 'RecoveryCopySha256')) { throw ($copy + ' is not the copy the run made.') }
            # A server held out of service until Windows restarts waits for the restart.
            # A role that holds for a restart (a Front End Server) also waits while Windows reports
            # one: an installer the run left at its bound may have asked for it.
            if ((Test-BusyProcess) -or (Test-WindowsInstallerBusy) -or (Test-HeldUntilRestart) -or ($HoldForReboot -and (Get-Text $saved 'InstallerStarted') -and @(Get-PendingRebootMarker).Count -gt 0)) { return 0 }
            $script:RunningBefore = @($saved.ServicesRunning | Where-Object { $_ })
            $script:W3svcWasRunning = $saved.W3svcRunning -eq 'True'
            $manual = @(Invoke-RecoveryRestore)
        } catch {
            Write-RecoveryEvent -Message ('sfbpatch recovery failed: ' + $_.Exception.Message + ' Nothing more was started: run the script again, or start the services by hand.') -Type 'Error'
            return 1
        }
        $started = (@($script:RunningBefore) + @('W3SVC' | Where-Object { $script:W3svcWasRunning })) -join ', '
        if ($manual.Count -gt 0) {
            Write-RecoveryEvent -Message ('sfbpatch recovery: a run ended without starting again what it stopped (' + $started + '); these did not start: ' + ($manual -join '; ') + '. Run the script again, or start them by hand.') -Type 'Error'
        } else {
            Clear-RunningBefore
            Write-RecoveryEvent -Message ('sfbpatch recovery: a run ended without starting again what it stopped; running again: ' + $started + '. Run the script again to finish the update.') -Type 'Warning'
        }
    }
    Unregister-RecoveryTask
    Remove-ItemProperty -LiteralPath $LockKey -Name 'Holder' -ErrorAction SilentlyContinue -Confirm:$false -WhatIf:$false
    0
}
