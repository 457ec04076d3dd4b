#requires -Version 3.0
Get-Date -Format 'yyyy'
