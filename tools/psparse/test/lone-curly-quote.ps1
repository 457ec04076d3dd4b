$a = 'q’s'
$b = 'ends with ’'
