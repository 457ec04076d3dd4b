#Requires -Version 3.0
<#
.SYNOPSIS
    Stops the Skype for Business services before patching.
#>
param(
    [Parameter(Mandatory = $true)]
    [string]$SqlServerFqdn
)

$ErrorActionPreference = 'Stop'

function Stop-FrontEnd {
    param([string]$Pool)

    Write-Host "Stopping services on $Pool"
    Stop-CsWindowsService -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn
}

& powershell.exe -NoProfile -Command { Import-Module Lync; Stop-CsWindowsService }

$services = Get-Service | Where-Object { $_.Name -like 'RTC*' }
foreach ($service in $services) {
    if ($service.Status -ne 'Stopped') {
        Stop-Service -Name $service.Name -Force:$true
    }
}

try {
    $names = [System.IO.Path]::GetFileName('C:\Temp\x.log')
} catch {
    Write-Warning ('Failed: ' + $_.Exception.Message)
}

$settings = @{ 'Pool' = 'fe01.contoso.com'; Retries = 3 }
$script = @'
it's verbatim
'@
Stop-FrontEnd -Pool $settings['Pool']

function Foo { Get-Item x }

function Invoke-OnPool {
    Invoke-Command -ComputerName fe01 -ScriptBlock { Get-CsPool -Identity 'fe01' }
}
