// Package templates holds the embedded templates sfbpatch renders and the
// engine of every script: static PowerShell files, embedded verbatim. It
// is a package of its own because //go:embed cannot reach a parent folder.
package templates

import "embed"

// FS holds every template file and every engine file.
//
//go:embed *.tmpl *.ps1
var FS embed.FS

// EngineFiles are the static PowerShell files that end every script, in
// the order the script holds them: no template action, the same bytes in
// every script of a version.
var EngineFiles = []string{"status.ps1", "shell.ps1", "server.ps1", "installer.ps1", "checks.ps1", "recovery.ps1", "run.ps1"}
