package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
)

// FactsURLPrefix starts the data URL of a runbook's facts line.
const FactsURLPrefix = "data:application/json,"

// runbookFacts finds a runbook's facts line: its data URL and version.
var runbookFacts = regexp.MustCompile(`(?m)^\[sfbpatch-facts\]: ` + regexp.QuoteMeta(FactsURLPrefix) + `([^ ]*) "sfbpatch ([0-9A-Za-z.+-]+)"$`)

// VerifyOutput checks a runbook or a JSON plan against the facts it
// carries (a runbook's facts line, a plan's facts): it returns the format,
// the facts and whether the file is exactly what they generate.
func VerifyOutput(file []byte) (Format, Facts, bool, error) {
	var f Facts
	format, version := FormatJSON, ""
	if m := runbookFacts.FindSubmatch(file); m != nil {
		text, err := url.PathUnescape(string(m[1]))
		if err != nil {
			return "", f, false, fmt.Errorf("its facts line does not read: %w", err)
		}
		if f, _, err = DecodeFacts([]byte(text)); err != nil {
			return "", f, false, fmt.Errorf("its facts line does not read: %w", err)
		}
		format, version = FormatRunbook, string(m[2])
	} else {
		var plan struct {
			Facts json.RawMessage `json:"facts"`
		}
		if err := json.Unmarshal(file, &plan); err != nil || plan.Facts == nil {
			return "", f, false, errors.New("neither a runbook with a facts line nor a JSON plan that sfbpatch wrote")
		}
		var err error
		if f, _, err = DecodeFacts(plan.Facts); err != nil {
			return "", f, false, fmt.Errorf("its facts do not read: %w", err)
		}
	}
	plan, err := BuildPlan(f)
	if err != nil {
		return format, f, false, fmt.Errorf("its facts do not validate: %w", err)
	}
	want, err := Render(plan, Options{Format: format, Version: version})
	if err != nil {
		return format, f, false, err
	}
	return format, f, bytes.Equal(want, file), nil
}

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
	// NextServerAdvice says when the next server of a Front End Server's
	// pool may go down.
	NextServerAdvice string
	// FactsURL carries the facts for sfbpatch verify, in a Markdown link
	// reference definition, which renders as nothing: a data URL of their
	// JSON, percent-encoded (no space, no angle bracket, no parenthesis).
	FactsURL string
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
	facts, err := json.Marshal(p.Facts)
	if err != nil {
		return nil, err
	}
	view := runbookView{Plan: p, Version: version, ScriptSHA256: hex.EncodeToString(sum[:]), EngineSHA256: EngineSHA256(p.Facts), NextServerAdvice: NextServerAdvice(p.Product),
		FactsURL:          FactsURLPrefix + url.PathEscape(string(facts)),
		WindowChildShells: p.WindowCount(KindChildShell),
		WindowPrompts:     p.WindowCount(KindPrompt)}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "runbook.md.tmpl", view); err != nil {
		return nil, fmt.Errorf("render runbook: %w", err)
	}
	return buf.Bytes(), nil
}
