
# ---- Fresh Windows PowerShells that run this same file (doc steps 3 and 8). ----
# The product's cmdlets run only in a child: powershell.exe -File with this script's own
# path and the internal -Phase, so this process never loads the product's assemblies (doc
# step 6), and the child is covered by the same signature and AppLocker or WDAC rule. The
# two talk through CliXml files (Export-Clixml, Import-Clixml: typed objects, no console
# encoding or width in the way) in a folder of this run that only Administrators and
# SYSTEM can open; the child's console lines are progress for the operator.

$TrustedSids = @('S-1-5-32-544', 'S-1-5-18')

function New-RunFolder {
    $folder = Join-Path ([System.IO.Path]::GetTempPath()) ('sfbpatch-' + [Guid]::NewGuid().ToString('N'))
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    foreach ($sid in $TrustedSids) {
        $identity = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $security.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($identity, 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')))
    }
    # CreateDirectory applies no security to a folder that exists: it must not.
    if (Test-Path -LiteralPath $folder) { throw ('The run folder ' + $folder + ' exists already.') }
    [void][System.IO.Directory]::CreateDirectory($folder, $security)
    Assert-RunFolder -Folder $folder
    $folder
}

function Assert-RunFolder {
    # Before each use, here and in the child: only Administrators and SYSTEM have access,
    # nothing is inherited, and the owner is one of them or this account.
    param([string]$Folder)
    $acl = Get-Acl -LiteralPath $Folder
    $sidType = [System.Security.Principal.SecurityIdentifier]
    $owner = $acl.GetOwner($sidType).Value
    $others = @($acl.GetAccessRules($true, $true, $sidType) | Where-Object { $TrustedSids -notcontains $_.IdentityReference.Value })
    $owners = $TrustedSids + @([System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value)
    if (-not $acl.AreAccessRulesProtected -or $others.Count -gt 0 -or $owners -notcontains $owner) {
        throw ('The run folder ' + $Folder + ' is open to others than Administrators and SYSTEM: it is not used.')
    }
}

function Invoke-ScriptPhase {
    # The one place that starts a child Windows PowerShell. No -ExecutionPolicy: a policy
    # given to this process (its Process scope) reaches the child through the environment.
    param([string]$Name, [hashtable]$Request)
    if (-not $script:RunFolder) { $script:RunFolder = New-RunFolder }
    Assert-RunFolder -Folder $script:RunFolder
    $resultFile = Join-Path $script:RunFolder ($Name + '.result.xml')
    $Request | Export-Clixml -LiteralPath (Join-Path $script:RunFolder ($Name + '.request.xml')) -Confirm:$false -WhatIf:$false
    $powershell = Join-Path $PSHOME 'powershell.exe'
    $global:LASTEXITCODE = -1
    & {
        $ErrorActionPreference = 'Continue'
        & $powershell -NoProfile -NonInteractive -File $ScriptFile -Phase $Name -RunFolder $script:RunFolder 2>&1
    } | ForEach-Object {
        $line = [string]$_
        if ($line -like 'WARNING: *') { Write-Warning $line.Substring(9) } else { Write-Host ('  ' + $line) }
    }
    $exit = $LASTEXITCODE
    $results = @()
    if (Test-Path -LiteralPath $resultFile) { $results = @(Import-Clixml -LiteralPath $resultFile) }
    if ($exit -ne 0) {
        $results += New-Object PSObject -Property @{ Kind = 'failed'; Message = 'The ' + $Name + ' Windows PowerShell failed (exit code ' + $exit + ').' }
    }
    foreach ($result in @($results | Where-Object { $_.Kind -eq 'clock' })) {
        if ($result.Event -eq 'started') { Start-DowntimeClock -Ticks $result.Ticks } else { Stop-DowntimeClock -Ticks $result.Ticks }
    }
    if (@($results | Where-Object { $_.Kind -eq 'acting' }).Count -gt 0) { $script:Changed = $true }
    $results
}

function Invoke-Phase {
    # The child: what the parent asked for in its request, after the module import.
    Assert-RunFolder -Folder $RunFolder
    $request = Import-Clixml -LiteralPath (Join-Path $RunFolder ($Phase + '.request.xml'))
    $script:InShell = $true
    $script:RunningBefore = @($request.RunningBefore | Where-Object { $_ })
    $script:DatabaseReport = $request.DatabaseReport
    if ($request.DowntimeStart) { $script:DowntimeStart = [long]$request.DowntimeStart }
    $exit = 0
    try {
        & $StartManagementShell
        if ($request.Read) {
            foreach ($service in @(Get-CsServiceState)) { Send-Result 'service' $service }
            foreach ($row in @(Get-DatabaseState)) { Send-Result 'row' $row }
            Send-Result 'version' @{ Version = [string](Get-CoreVersion) }
            if ($request.Pool) { Send-PoolDatabaseServer }
        } else {
            Invoke-ShellSteps -Ids @($request.Steps)
            if ($request.ReadVersion) { Send-Result 'version' @{ Version = [string](Get-CoreVersion) } }
        }
    } catch {
        Write-Host ('error: ' + $_.Exception.Message)
        $exit = 1
    } finally {
        $script:ShellResults | Export-Clixml -LiteralPath (Join-Path $RunFolder ($Phase + '.result.xml'))
    }
    $exit
}

function Send-Result {
    # In the child: one result for the parent.
    param([string]$Kind, $Values)
    if ($Values -isnot [hashtable]) {
        $copy = @{}
        foreach ($property in $Values.PSObject.Properties) { $copy[$property.Name] = $property.Value }
        $Values = $copy
    }
    $Values['Kind'] = $Kind
    $script:ShellResults.Add((New-Object PSObject -Property $Values))
}

function Send-StepResult {
    param([hashtable]$Step, [string]$State, [string]$Detail)
    Send-Result 'step' @{ Id = $Step.Id; State = $State; Detail = $Detail }
    Write-Status ($Step.Label + ': ' + $Step.Title + ': ' + $State)
}

function Invoke-ShellSteps {
    # In the child, in plan order: test, act only when needed, verify (a step verified after
    # the window: once the services are back). The first failure ends the phase.
    param([string[]]$Ids)
    $deferred = @()
    foreach ($step in @($Procedure | Where-Object { $Ids -contains $_.Id })) {
        if (-not $step.Test) {
            # Doc step 8: this child's own import of the updated module is the step.
            Send-StepResult $step 'Done' ''
            continue
        }
        try {
            $done = & $step.Test
            if (-not $done) {
                if ($step.StartsDowntime) {
                    Start-DowntimeClock
                    Send-Result 'clock' @{ Event = 'started'; Ticks = $script:DowntimeStart }
                }
                Send-Result 'acting' @{ Id = $step.Id }
                Write-Status ($step.Label + ': ' + $step.Title)
                # The verification decides, not the first non-fatal error.
                & { $ErrorActionPreference = 'Continue'; & $step.Action 2>&1 } | ForEach-Object { Write-Status ('    ' + [string]$_) }
                if ($step.VerifyAfterWindow) {
                    $deferred += $step
                } elseif (-not (& $step.Verify)) {
                    throw ('not done after the commands: ' + $script:Detail)
                }
            }
        } catch {
            Send-StepResult $step 'FAILED' $_.Exception.Message
            break
        }
        if ($done) { Send-StepResult $step 'Already done' $script:Detail } elseif ($deferred -contains $step) { Send-StepResult $step 'Applied' '' } else { Send-StepResult $step 'Done' '' }
        if ($step.EndsDowntime) {
            Stop-DowntimeClock
            Send-Result 'clock' @{ Event = 'ended'; Ticks = $script:DowntimeEnd }
        }
    }
    foreach ($step in $deferred) {
        try { $done = & $step.Verify } catch { $done = $false; $script:Detail = $_.Exception.Message }
        if ($done) { Send-StepResult $step 'Done' '' } else { Send-StepResult $step 'FAILED' ('not done after the commands: ' + $script:Detail) }
    }
}

function Complete-ScriptPhase {
    # In this process: one summary row per step the child was asked to run, in plan order,
    # then the first failure, if any.
    param([object[]]$Report, [hashtable[]]$Steps, [DateTime]$Started)
    $failedStep = $null
    $failure = $null
    foreach ($step in $Steps) {
        $result = @($Report | Where-Object { $_.Kind -eq 'step' -and $_.Id -eq $step.Id }) | Select-Object -Last 1
        if ($null -ne $failedStep -and -not $result) {
            Add-StepResult $step 'Not run: an earlier step failed' $Started
        } elseif (-not $result) {
            $failedStep = $step
            $failure = 'The step reported no result.'
            Add-StepResult $step 'FAILED' $Started
        } else {
            $text = $result.State
            if ($result.Detail) { $text = $text + ' (' + $result.Detail + ')' }
            Add-StepResult $step $text $Started
            if ($result.State -eq 'FAILED' -and $null -eq $failedStep) {
                $failedStep = $step
                $failure = $result.Detail
            }
        }
    }
    $childFailed = @($Report | Where-Object { $_.Kind -eq 'failed' })
    if ($childFailed.Count -gt 0 -and $failure -eq 'The step reported no result.') { $failure = $childFailed[0].Message }
    if ($null -ne $failedStep) {
        Enter-Step $failedStep
        throw $failure
    }
    if ($childFailed.Count -gt 0) { throw $childFailed[0].Message }
}
