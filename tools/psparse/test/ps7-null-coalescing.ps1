$a = $null
$b = $a ?? 1
