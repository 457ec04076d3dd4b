// Package templates holds the embedded templates sfbpatch renders and the
// engine of every script: static PowerShell files, embedded verbatim. It
// is a package of its own because //go:embed cannot reach a parent folder.
package templates

import "embed"

// FS holds every template file and every engine file.
//
//go:embed *.tmpl *.ps1
var FS embed.FS

// sharedEngineFiles begin the engine of every script; the role's file
// follows them, then run.ps1, whose last lines start the run.
var sharedEngineFiles = []string{"status.ps1", "shell.ps1", "server.ps1", "installer.ps1", "checks.ps1", "recovery.ps1"}

// EngineFiles are, by role (the facts' role: backend or frontend), the
// static PowerShell files that end every script, in the order the script
// holds them: no template action, the same bytes in every script of a
// version and role.
var EngineFiles = map[string][]string{
	"backend":  append(sharedEngineFiles[:len(sharedEngineFiles):len(sharedEngineFiles)], "backend.ps1", "run.ps1"),
	"frontend": append(sharedEngineFiles[:len(sharedEngineFiles):len(sharedEngineFiles)], "frontend.ps1", "run.ps1"),
}
