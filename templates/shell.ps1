
# ---- The steps, and the fresh Windows PowerShells that run this same file (doc steps 3 and 8).
# The product's cmdlets run only in a child, started by powershell.exe -File with this
# script's own path and the internal -Phase: this process never loads the product's
# assemblies (doc step 6), and the same signature and AppLocker or WDAC rule cover the child.
# The two exchange CliXml files (typed objects, no console encoding or width in the way) in
# a folder of this run that only Administrators and SYSTEM can open; the child's console
# lines are progress for the operator. ----

function Invoke-Step {
    # Tests the step's state, acts only when it does not hold, then verifies (a step verified
    # after the window: once its commands ran without an error record, by the child's deferred
    # loop, with its own output). Returns the step's result; throws if it fails.
    param([hashtable]$Step)
    Enter-Step $Step
    $result = 'Done'
    $script:Detail = ''
    # A step without a test acts every time it runs (doc steps 9 and 11), or, without commands
    # (doc step 8), is done by the child's own import of the updated module.
    $done = -not $Step.Action
    if ($Step.Test) { $done = [bool](& $Step.Test) }
    if ($done -and $Step.Test) {
        $result = 'Already done'
        if ($script:Detail) { $result = $result + ' (' + $script:Detail + ')' }
    } elseif (-not $done -and -not $Step.Action) {
        if (-not (Test-Switch $Step.Override)) { throw ('The check of this step failed and no command can fix it: ' + $script:Detail) }
        Write-Warning ($script:Detail + ' Going on because of -' + $Step.Override + '.')
        $result = 'Not done, overridden by -' + $Step.Override
    } elseif (-not $done) {
        if ($Step.StartsDowntime -and $null -eq $script:DowntimeStart) { $script:DowntimeStart = [DateTime]::UtcNow.Ticks }
        $script:Changed = $true
        Write-Status ($Step.Label + ': ' + $Step.Title)
        Invoke-NativeCommand -ScriptBlock $Step.Action
        if ($Step.VerifyAfterWindow) {
            if ($script:LastErrors.Count -gt 0) { throw ('The commands reported errors: ' + ($script:LastErrors -join ' ')) }
            $script:Deferred += @{ Step = $Step; Output = $script:LastOutput; Warnings = $script:LastWarnings }
            $result = 'Applied, verified once the services are back'
        } elseif (-not (& $Step.Verify)) {
            throw ('Not done after the commands: ' + $script:Detail)
        }
    }
    if ($Step.EndsDowntime) { Stop-DowntimeClock }
    $result
}

function Invoke-NativeCommand {
    # Runs a step's commands, shows their output as it comes and keeps it, with its error and
    # warning records apart (Install-CsDatabase's outcome). The verification decides, not the
    # first non-fatal error.
    param([scriptblock]$ScriptBlock)
    $lines = New-Object System.Collections.Generic.List[string]
    $errors = New-Object System.Collections.Generic.List[string]
    $warnings = New-Object System.Collections.Generic.List[string]
    $global:LASTEXITCODE = $null
    & {
        $ErrorActionPreference = 'Continue'
        & $ScriptBlock 2>&1 3>&1 | ForEach-Object {
            if ($_ -is [System.Management.Automation.ErrorRecord]) { $errors.Add([string]$_) }
            if ($_ -is [System.Management.Automation.WarningRecord]) { $warnings.Add([string]$_) }
            $lines.Add([string]$_)
            Write-Status ('    ' + [string]$_)
        }
    }
    $script:LastExit = $LASTEXITCODE
    $script:LastOutput = $lines.ToArray()
    $script:LastErrors = $errors.ToArray()
    $script:LastWarnings = $warnings.ToArray()
    if ($null -ne $script:LastExit) { Write-Status ('    exit code ' + $script:LastExit) }
}

function Start-WatchedProcess {
    # Starts a program with its output redirected, for Wait-WatchedProcess.
    param([string]$FilePath, [string]$Arguments, [string]$WorkingDirectory)
    $info = New-Object System.Diagnostics.ProcessStartInfo($FilePath, $Arguments)
    $info.WorkingDirectory = $WorkingDirectory
    $info.UseShellExecute = $false
    $info.RedirectStandardOutput = $info.RedirectStandardError = $true
    # Not attached to the operator's console: closing it, or Ctrl+C, does not end the program.
    $info.CreateNoWindow = $true
    [System.Diagnostics.Process]::Start($info)
}

function Wait-WatchedProcess {
    # Passes on a started program's output lines as they come, within a bound, and sets
    # $LASTEXITCODE. Standard error is read on the side, so that neither stream can fill up
    # and stall the program. With -Busy its PID, start time and name are recorded while it
    # runs (HKLM:\SOFTWARE\sfbpatch\Busy): no later run, and no recovery, starts meanwhile. At the bound the program is left running, never killed: the run stops there
    # (exit code 'still-running') and the operator decides.
    param([System.Diagnostics.Process]$Process, [int]$Minutes, [string]$What, [switch]$Busy)
    $ErrorActionPreference = 'Stop'
    # A program that has already ended has no name to read: nothing to record then.
    if ($Busy) { try { Set-RecordValue -Key $BusyKey -Name 'Process' -Value ([string]$Process.Id + ' ' + $Process.StartTime.ToUniversalTime().Ticks + ' ' + $Process.ProcessName) } catch { Write-Verbose $_.Exception.Message } }
    $deadline = [DateTime]::UtcNow.AddMinutes($Minutes)
    $errorText = $Process.StandardError.ReadToEndAsync()
    $line = $Process.StandardOutput.ReadLineAsync()
    while ($true) {
        if ($line.Wait(1000)) {
            if ($null -eq $line.Result) { break }
            $line.Result
            $line = $Process.StandardOutput.ReadLineAsync()
        } elseif ($Process.HasExited) {
            # Ended, and no line for a second: a program it started may hold the output open.
            break
        }
        [void](Update-Clock)
        if ([DateTime]::UtcNow -gt $deadline) {
            $script:StillRunning = $What + ' (process ' + $Process.Id + ') is still running after ' + $Minutes + ' minutes. It was left running.'
            throw $script:StillRunning
        }
    }
    $left = [Math]::Max(0, [int]($deadline - [DateTime]::UtcNow).TotalMilliseconds)
    if (-not $Process.WaitForExit($left)) {
        $script:StillRunning = $What + ' (process ' + $Process.Id + ') closed its output but is still running after ' + $Minutes + ' minutes. It was left running.'
        throw $script:StillRunning
    }
    if ($errorText.Wait(10000)) { $errorText.Result -split '\r?\n' | Where-Object { $_ } }
    if ($Busy) { Set-RecordValue -Key $BusyKey -Name 'Process' -Value '' }
    $global:LASTEXITCODE = $Process.ExitCode
}

$TrustedSids = @('S-1-5-32-544', 'S-1-5-18')

function New-ProtectedFolder {
    # A folder only Administrators and SYSTEM can open, nothing inherited: the run folder and
    # the recovery task's folder.
    param([string]$Path)
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    # Owned by Administrators, whatever the policy for objects an administrator creates.
    $security.SetOwner((New-Object System.Security.Principal.SecurityIdentifier($TrustedSids[0])))
    foreach ($sid in $TrustedSids) {
        $identity = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $security.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($identity, 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')))
    }
    # CreateDirectory applies no security to a folder that exists: it must not.
    if (Test-Path -LiteralPath $Path) { throw ('The folder ' + $Path + ' exists already.') }
    [void][System.IO.Directory]::CreateDirectory($Path, $security)
    $Path
}

function Assert-ProtectedFolder {
    # Before each use, here and in the child: only Administrators and SYSTEM have access,
    # nothing is inherited, and the owner is one of -Owners (default: them or this account).
    param([string]$Folder, [string[]]$Owners = ($TrustedSids + @([System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value)))
    $acl = Get-Acl -LiteralPath $Folder
    $sidType = [System.Security.Principal.SecurityIdentifier]
    $others = @($acl.GetAccessRules($true, $true, $sidType) | Where-Object { $TrustedSids -notcontains $_.IdentityReference.Value })
    if (-not $acl.AreAccessRulesProtected -or $others.Count -gt 0 -or $Owners -notcontains $acl.GetOwner($sidType).Value) {
        throw ('The folder ' + $Folder + ' is open to others than Administrators and SYSTEM: it is not used.')
    }
}

function Get-OpenWriter {
    # Who else than Administrators, SYSTEM, TrustedInstaller, CREATOR OWNER and this account
    # may write in a folder or its files: write data or attributes, create files or folders,
    # change permissions or owner, or the generic write and all rights.
    param([string]$Folder)
    $trusted = $TrustedSids + @('S-1-3-0', 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464', [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value)
    $rules = @((Get-Acl -LiteralPath $Folder).GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) |
        Where-Object { [string]$_.AccessControlType -eq 'Allow' -and ([int]$_.FileSystemRights -band 0x500C0116) -and $trusted -notcontains $_.IdentityReference.Value })
    @(foreach ($rule in $rules) { try { $rule.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { $rule.IdentityReference.Value } }) | Sort-Object -Unique
}

function Get-PhaseArguments {
    # The command line of every start of this script by itself: a child, or the recovery
    # task: the file and its parameters, no code and no encoded command.
    param([string]$File, [string]$Name, [string]$Folder)
    $arguments = '-NoProfile -NonInteractive -File "' + $File + '" -Phase ' + $Name
    if ($Folder) { $arguments = $arguments + ' -RunFolder "' + $Folder + '"' }
    $arguments
}

function Invoke-ScriptPhase {
    # The one place that starts a child Windows PowerShell, bounded by -ShellTimeoutMinutes.
    # No -ExecutionPolicy: a policy given to this process (its Process scope) reaches the
    # child through the environment.
    param([string]$Name, [hashtable]$Request)
    if (-not $script:RunFolder) { $script:RunFolder = New-ProtectedFolder -Path (Join-Path ([System.IO.Path]::GetTempPath()) ('sfbpatch-' + [Guid]::NewGuid().ToString('N'))) }
    Assert-ProtectedFolder -Folder $script:RunFolder
    $resultFile = Join-Path $script:RunFolder ($Name + '.result.xml')
    $Request | Export-Clixml -LiteralPath (Join-Path $script:RunFolder ($Name + '.request.xml')) -Confirm:$false -WhatIf:$false
    $powershell = Join-Path $PSHOME 'powershell.exe'
    $process = Start-WatchedProcess -FilePath $powershell -Arguments (Get-PhaseArguments -File $ScriptFile -Name $Name -Folder $script:RunFolder) -WorkingDirectory $PSHOME
    $global:LASTEXITCODE = -1
    Wait-WatchedProcess -Process $process -Minutes $ShellTimeoutMinutes -What ('The ' + $Name + ' Windows PowerShell') -Busy:(-not $Request.Read) | ForEach-Object {
        $line = [string]$_
        if ($line -like 'WARNING: *') { Write-Warning $line.Substring(9) } else { Write-Host ('  ' + $line) }
    }
    $exit = $LASTEXITCODE
    $results = @()
    if (Test-Path -LiteralPath $resultFile) { $results = @(Import-Clixml -LiteralPath $resultFile) }
    if ($exit -ne 0) {
        $results += New-Object PSObject -Property @{ Kind = 'failed'; Message = 'The ' + $Name + ' Windows PowerShell failed (exit code ' + $exit + ').' }
    }
    foreach ($clock in @($results | Where-Object { $_.Kind -eq 'clock' })) {
        if ($null -eq $script:DowntimeStart -and $clock.Start) { $script:DowntimeStart = [long]$clock.Start }
        if ($clock.End) { Stop-DowntimeClock -Ticks $clock.End }
        if ($clock.Changed) { $script:Changed = $true }
    }
    # A child that left no result may have changed anything.
    if (-not (Test-Path -LiteralPath $resultFile) -and -not $Request.Read) { $script:Changed = $true }
    $results
}

function Send-Result {
    # In the child: one result for the parent.
    param([string]$Kind, [hashtable]$Values)
    $Values['Kind'] = $Kind
    $script:ShellResults.Add((New-Object PSObject -Property $Values))
}

function Invoke-Phase {
    # The child: what the parent's request asks for, after the module import.
    Assert-ProtectedFolder -Folder $RunFolder
    $request = Import-Clixml -LiteralPath (Join-Path $RunFolder ($Phase + '.request.xml'))
    $script:InShell = $true
    $script:RunningBefore = @($request.RunningBefore | Where-Object { $_ })
    $script:W3svcWasRunning = [bool]$request.W3svcWasRunning
    $script:GatesSkipped = [bool]$request.GatesSkipped
    # The run's switches, as Test-Switch reads them in this process too.
    foreach ($name in @($request.Switches | Where-Object { $_ })) { $BoundParameters[$name] = [switch]$true }
    $script:DatabaseReport = $request.DatabaseReport
    $script:DowntimeStart = $request.DowntimeStart
    $exit = 0
    try {
        & $StartManagementShell
        if ($request.Read) {
            Send-ServerState -Request $request
        } else {
            foreach ($step in @($Procedure | Where-Object { $request.Steps -contains $_.Id })) {
                try {
                    Send-Result 'step' @{ Id = $step.Id; State = (Invoke-Step $step) }
                } catch {
                    Send-Result 'step' @{ Id = $step.Id; State = 'FAILED'; Detail = $_.Exception.Message }
                    break
                }
            }
            foreach ($deferred in $script:Deferred) {
                # The verification reads its own step's output, not the later steps'.
                $step = $deferred.Step
                $script:LastOutput = $deferred.Output
                $script:LastWarnings = $deferred.Warnings
                $script:Detail = ''
                try { $done = & $step.Verify } catch { $done = $false; $script:Detail = $_.Exception.Message }
                if ($done) { Send-Result 'step' @{ Id = $step.Id; State = 'Done' } } else { Send-Result 'step' @{ Id = $step.Id; State = 'FAILED'; Detail = 'Not done after the commands: ' + $script:Detail } }
            }
            if ($request.ReadVersion) { Send-Result 'version' @{ Version = [string](Get-CoreVersion) } }
        }
    } catch {
        Write-Host ('error: ' + $_.Exception.Message)
        $exit = 1
    } finally {
        Send-Result 'clock' @{ Start = $script:DowntimeStart; End = $script:DowntimeEnd; Changed = $script:Changed }
        $script:ShellResults | Export-Clixml -LiteralPath (Join-Path $RunFolder ($Phase + '.result.xml'))
    }
    $exit
}

function Complete-ScriptPhase {
    # In this process: a summary row for each step the child was asked to run, in plan order,
    # then the first failure, if any.
    param([object[]]$Report, [hashtable[]]$Steps, [DateTime]$Started)
    $failed = $null
    $childFailure = @($Report | Where-Object { $_.Kind -eq 'failed' } | ForEach-Object { $_.Message })
    foreach ($step in $Steps) {
        $result = @($Report | Where-Object { $_.Kind -eq 'step' -and $_.Id -eq $step.Id }) | Select-Object -Last 1
        if ($result) {
            $state = $result.State
            if ($result.PSObject.Properties['Detail']) { $state = $state + ' (' + $result.Detail + ')' }
            if ($result.State -eq 'FAILED' -and -not $failed) { $failed = @{ Step = $step; Message = $result.Detail } }
        } elseif ($failed) {
            $state = 'Not run: an earlier step failed'
        } else {
            $state = 'FAILED'
            $failed = @{ Step = $step; Message = 'The step reported no result. ' + ($childFailure -join ' ') }
        }
        Add-StepResult $step $state $Started
    }
    if ($failed) {
        Enter-Step $failed.Step
        throw $failed.Message
    }
    if ($childFailure.Count -gt 0) { throw ($childFailure -join ' ') }
}
