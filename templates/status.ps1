# ==== The engine: the same in every script of this sfbpatch version (the runbook names its
# SHA-256). It reads the tables above and names no step and no phase of its own. ====

# ---- Status lines, the downtime clock, the summary. ----

function Format-Elapsed {
    param([TimeSpan]$Elapsed)
    '{0:00}:{1:00}' -f [Math]::Floor($Elapsed.TotalMinutes), $Elapsed.Seconds
}

function Get-Downtime {
    # The downtime so far, or $null before the first service stops.
    if ($null -eq $script:DowntimeStart) { return $null }
    $end = $script:DowntimeEnd
    if ($null -eq $end) { $end = [DateTime]::UtcNow.Ticks }
    [TimeSpan]::FromTicks($end - $script:DowntimeStart)
}

function Stop-DowntimeClock {
    param([long]$Ticks = [DateTime]::UtcNow.Ticks)
    if ($null -ne $script:DowntimeStart -and $null -eq $script:DowntimeEnd) {
        $script:DowntimeEnd = $Ticks
        Write-Status ('  the server is back in service after ' + (Format-Elapsed (Get-Downtime)) + ' of downtime')
    }
}

function Update-Clock {
    # The doc: a Back End down for 30 minutes or more sends users into resiliency mode; the
    # clock warns before and then, also while a wait prints nothing. Returns the downtime.
    $elapsed = Get-Downtime
    if ($null -eq $elapsed -or $null -ne $script:DowntimeEnd) { return }
    $level = 0
    if ($elapsed.TotalMinutes -ge $DowntimeLimits.WarnMinutes) { $level = 1 }
    if ($elapsed.TotalMinutes -ge $DowntimeLimits.BudgetMinutes) { $level = 2 }
    if ($level -gt $script:WarnedLevel) {
        $script:WarnedLevel = $level
        Write-Warning (@('', $DowntimeLimits.WarnMessage, $DowntimeLimits.BudgetMessage)[$level])
    }
    $elapsed
}

function Write-Status {
    # A line for the operator, with the downtime so far.
    param([string]$Message)
    $elapsed = Update-Clock
    if ($elapsed) { $Message = '[downtime ' + (Format-Elapsed $elapsed) + '] ' + $Message }
    Write-Host $Message
}

function New-Row {
    param([string]$Label, [string]$Title, [string]$Result, [string]$Duration)
    New-Object PSObject -Property ([ordered]@{ Step = $Label; Title = $Title; Result = $Result; Duration = $Duration })
}

function Add-StepResult {
    # The summary row of a step: the last one given wins.
    param([hashtable]$Step, [string]$Result, [DateTime]$Started = (Get-Date))
    $script:StepRows[$Step.Id] = New-Row $Step.Label $Step.Title $Result (Format-Elapsed ((Get-Date) - $Started))
    Write-Status ($Step.Label + ': ' + $Step.Title + ': ' + $Result)
}

function Enter-Step {
    # Names the step that runs now, for the failure message.
    param([hashtable]$Step)
    $script:CurrentStep = $Step.Label + ': ' + $Step.Title
    $script:CurrentRemedy = $Step.OnFailure
    if ($Step.DatabaseStep) { $script:CurrentRemedy = $script:CurrentRemedy + ' Report: ' + $DatabaseReport }
}

function Show-Summary {
    $rows = @($script:CheckRows)
    foreach ($step in $Procedure) {
        $row = $script:StepRows[$step.Id]
        if (-not $row) { $row = New-Row $step.Label $step.Title 'Not run' '' }
        $rows += $row
    }
    $rows | Format-Table -AutoSize -Property @('Step', 'Title', 'Result', 'Duration') | Out-String -Width 200 | Write-Host
}

function Test-Switch {
    # Whether the run was given one of its switches (-Force, -SkipStartServices...).
    param([string]$Name)
    $Name -and $BoundParameters.ContainsKey($Name) -and [bool]$BoundParameters[$Name]
}
