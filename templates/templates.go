// Package templates holds the embedded templates sfbpatch renders. It is a
// package of its own because //go:embed cannot reach a parent folder.
package templates

import "embed"

// FS holds every template file.
//
//go:embed *.tmpl
var FS embed.FS
