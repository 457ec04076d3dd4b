
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

# ---- What was running before the first stop (HKLM:\SOFTWARE\sfbpatch\RunState, kept until
# a run ends well), and putting it back after a failure. ----

$RunStateKey = 'HKLM:\SOFTWARE\sfbpatch\RunState'
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
    # that still exist and are not disabled (-KeepDisabled: also those disabled, as a Front
    # End Server's failover leaves them).
    param([switch]$KeepDisabled)
    $saved = Get-RunState
    if ($saved) {
        $present = @(Get-CsServiceState | Where-Object { $KeepDisabled -or $_.StartMode -ne 4 } | ForEach-Object { $_.Name })
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

function Test-W3svc {
    param([string]$Desired)
    $service = Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue
    if (-not $service) { $script:Detail = 'W3SVC is not installed' } elseif ([string]$service.Status -ne $Desired) { $script:Detail = 'W3SVC is ' + [string]$service.Status }
    -not $service -or [string]$service.Status -eq $Desired
}

function Get-LeftDown {
    # What an earlier run that did not finish recorded as running and is not running now.
    $saved = Get-RunState
    if (-not $saved) { return }
    $names = @($saved.ServicesRunning) + @('W3SVC' | Where-Object { $saved.W3svcRunning -eq 'True' })
    @($names | Where-Object { $s = Get-Service -Name $_ -ErrorAction SilentlyContinue; $s -and [string]$s.Status -ne 'Running' })
}

$RestartKey = 'SOFTWARE\sfbpatch\UntilRestart'

function Test-HeldUntilRestart {
    # A run held this server out of service until Windows restarts, and Windows has not
    # restarted since: the volatile key is still there (or, without it, a reboot is pending).
    $held = Get-Text (Get-RunState) 'HeldUntilRestart'
    if ($held -eq 'key') { return (Test-Path -LiteralPath ('HKLM:\' + $RestartKey)) }
    $held -eq 'marker' -and @(Get-PendingRebootMarker).Count -gt 0
}

function Clear-RunningBefore {
    # The run finished: the next one records afresh.
    if (Test-Path -LiteralPath $RunStateKey) { Remove-Item -LiteralPath $RunStateKey -Recurse -Confirm:$false -WhatIf:$false }
}
