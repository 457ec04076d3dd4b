function Test-Pool {
    if ($true) {
        Get-CsPool
    }

Write-Host 'done'
