$a = 'it''s'
$b = 'a‘‘b'
$c = 'x’’y'
$d = 'm‘’n'
$e = ''
$f = "expandable $a"
$g = @'
line one
  'quoted'
'@
$i = $a.Where({ $_ })
$j = [string]::Join(',', $i)
