package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// runbookView is what the runbook template reads: the plan, and the
// script it describes.
type runbookView struct {
	Plan
	// Version is the sfbpatch version recorded in the script's header.
	Version string
	// ScriptSHA256 is the SHA-256 (hex) of the .ps1 file exactly as
	// generate writes it from the same plan and version.
	ScriptSHA256 string
	// EngineSHA256 is the SHA-256 (hex) of the engine, the static part
	// that ends every script of this version.
	EngineSHA256 string
	// WindowChildShells and WindowPrompts count those operations of the
	// downtime window.
	WindowChildShells int
	WindowPrompts     int
}

// RenderRunbook renders the reviewer's runbook of a plan in GitHub
// Flavored Markdown without raw HTML: UTF-8 without BOM, LF line endings.
// It renders the script first, to print the SHA-256 of the very file the
// reviewer approves.
func RenderRunbook(p Plan, opts Options) ([]byte, error) {
	version, err := opts.version()
	if err != nil {
		return nil, err
	}
	script, err := RenderScript(p, opts)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(script)
	view := runbookView{Plan: p, Version: version, ScriptSHA256: hex.EncodeToString(sum[:]), EngineSHA256: EngineSHA256(),
		WindowChildShells: p.WindowCount(KindChildShell),
		WindowPrompts:     p.WindowCount(KindPrompt)}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "runbook.md.tmpl", view); err != nil {
		return nil, fmt.Errorf("render runbook: %w", err)
	}
	return buf.Bytes(), nil
}
