package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/sfbpatch/sfbpatch/templates"
)

// funcs is the whole FuncMap: escaping only. Templates take no decisions.
var funcs = template.FuncMap{
	"psq":     PSQuote,
	"comment": CommentText,
	"shown":   CommentValue,
	"md":      MarkdownText,
	"mdcode":  MarkdownCode,
}

// tmpl holds every template, parsed once: a broken template stops the
// program at startup, not in the middle of a change.
var tmpl = template.Must(template.New("").
	Funcs(funcs).
	Option("missingkey=error").
	ParseFS(templates.FS, "*.tmpl"))

// Format is an output of sfbpatch generate.
type Format string

// Formats.
const (
	FormatScript  Format = "ps1"  // the patch script
	FormatRunbook Format = "md"   // the reviewer's runbook, in Markdown
	FormatJSON    Format = "json" // the plan, for CMDBs and automation
	// FormatManifest lists every state-changing operation of the script.
	FormatManifest Format = "manifest"
)

// Options say what to render. The zero value renders the script with this
// sfbpatch's Version.
type Options struct {
	// Format is the output; empty means FormatScript.
	Format Format
	// Version is the sfbpatch version the script header records; empty
	// means Version. Tests pin it so that golden files do not change with
	// every release; verify passes the version of the script it checks.
	Version string
}

// versionPattern keeps the version on its header line, where verify reads
// it back.
var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+-]*$`)

func (o Options) version() (string, error) {
	if o.Version == "" {
		return Version, nil
	}
	if !versionPattern.MatchString(o.Version) {
		return "", fmt.Errorf("version %q: allowed: letters, digits, '.', '+' and '-'", o.Version)
	}
	return o.Version, nil
}

// Render renders one output of a plan.
func Render(p Plan, opts Options) ([]byte, error) {
	switch opts.Format {
	case "", FormatScript:
		return RenderScript(p, opts)
	case FormatRunbook:
		return RenderRunbook(p, opts)
	case FormatJSON:
		return RenderJSON(p)
	case FormatManifest:
		return RenderManifest(p)
	default:
		return nil, fmt.Errorf("format %q: allowed: %s, %s, %s, %s", opts.Format, FormatScript, FormatRunbook, FormatJSON, FormatManifest)
	}
}

// RenderScript renders the patch script of a plan: the header, the
// per-server part (script.ps1.tmpl) and the engine, the static files of
// templates.EngineFiles. CRLF line endings, 7-bit ASCII whatever the
// facts, no byte order mark: Windows PowerShell 5.1 reads a file without
// one in the ANSI code page, and anything between the generator and the
// server may drop one.
func RenderScript(p Plan, opts Options) ([]byte, error) {
	version, err := opts.version()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "script.ps1.tmpl", newScriptView(p)); err != nil {
		return nil, fmt.Errorf("render script: %w", err)
	}
	body := append(crlf(buf.Bytes()), engineOf(p.Facts)...)
	header, err := renderHeader(p, version, body)
	if err != nil {
		return nil, err
	}
	out := append(header, body...)
	// PSQuote and CommentText escape every fact: a byte beyond ASCII is a
	// template's.
	if i := nonASCII(out); i >= 0 {
		return nil, fmt.Errorf("render script: byte %d is not 7-bit ASCII", i)
	}
	return out, nil
}

// engines are the static part of every script, by role, CRLF: the files
// of templates.EngineFiles, in order, byte for byte.
var engines = func() map[string][]byte {
	m := map[string][]byte{}
	for role, names := range templates.EngineFiles {
		var b []byte
		for _, name := range names {
			text, err := templates.FS.ReadFile(name)
			if err != nil {
				panic(err)
			}
			b = append(b, text...)
		}
		m[role] = crlf(b)
	}
	return m
}()

// engineOf is the engine of the script of f.
func engineOf(f Facts) []byte {
	if f.IsFrontEnd() {
		return engines[RoleFrontEnd]
	}
	return engines[RoleBackEnd]
}

// EngineSHA256 is the SHA-256 (hex) of the engine of the script of f as
// every script of this version and role holds it: a reviewer reads it
// once per version and role.
func EngineSHA256(f Facts) string {
	sum := sha256.Sum256(engineOf(f))
	return hex.EncodeToString(sum[:])
}

// scriptView is what the script template reads: the plan, and its steps
// with the switches each sets in the script's step table.
type scriptView struct {
	Plan
	Steps                 []stepView
	UnattendedCommandLine string
	RunSet                string
	LanguageRemedy        string
	// DatabaseServerIsFact is true when the SQL Server of step 11 is a
	// fact variable; otherwise the engine takes this computer's FQDN.
	DatabaseServerIsFact bool
	// NextServerAdvice is what a Front End script says at its end about
	// the next server of the pool.
	NextServerAdvice string
	// ResumeStates are the states a step's NotNeededWhen names, each
	// once, in plan order, with the reason the step is not needed.
	ResumeStates []resumeState
}

type resumeState struct{ Name, Reason string }

// stepView is a step and the names of its true flags, as the script's
// step table writes them (Name = $true).
type stepView struct {
	Step
	Flags []string
}

// ExitCode is the code of the plan's exit code of that name; an unknown
// name stops the rendering.
func (v scriptView) ExitCode(name string) (int, error) {
	for _, e := range v.ExitCodes {
		if e.Name == name {
			return e.Code, nil
		}
	}
	return 0, fmt.Errorf("the plan has no exit code named %q", name)
}

// CommaAfterParameter is true for every parameter of the param block but
// the last.
func (v scriptView) CommaAfterParameter(i int) bool { return i < len(v.Parameters)-1 }

// LanguageRemedy is what the script says when it runs in another language
// mode than FullLanguage.
const LanguageRemedy = "Under AppLocker or WDAC script enforcement, only script files the policy allows run in FullLanguage. " +
	"Sign this file (Set-AuthenticodeSignature) with a certificate the policy trusts, or allow it by publisher or by hash, then run it again. Nothing was changed."

func newScriptView(p Plan) scriptView {
	v := scriptView{Plan: p, UnattendedCommandLine: UnattendedCommandLine, RunSet: ParameterSetRun, LanguageRemedy: LanguageRemedy, NextServerAdvice: NextServerAdvice(p.Product),
		DatabaseServerIsFact: slices.ContainsFunc(p.Variables, func(v Variable) bool { return v.Name == p.Database.Server })}
	for _, s := range p.Steps {
		sv := stepView{Step: s}
		for _, flag := range []struct {
			name string
			set  bool
		}{
			{"StartsDowntime", s.StartsDowntime}, {"EndsDowntime", s.EndsDowntime}, {"VerifyAfterWindow", s.VerifiedAfterWindow},
			{"DatabaseStep", s.DatabaseStep}, {"Installs", s.Kind == KindInstaller},
		} {
			if flag.set {
				sv.Flags = append(sv.Flags, flag.name)
			}
		}
		v.Steps = append(v.Steps, sv)
		if s.NotNeededWhen != "" && !slices.ContainsFunc(v.ResumeStates, func(r resumeState) bool { return r.Name == s.NotNeededWhen }) {
			v.ResumeStates = append(v.ResumeStates, resumeState{s.NotNeededWhen, s.NotNeededReason})
		}
	}
	return v
}

// RenderJSON renders the plan itself, for CMDBs and automation: the field
// names are the json tags of Plan, documented in the README. Indented,
// with < > & as themselves, LF line endings and one final newline.
func RenderJSON(p Plan) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	return buf.Bytes(), nil
}

// RenderManifest renders the change manifest of a plan: every
// state-changing operation of its script, by run mode, in Markdown that
// reads as plain text.
func RenderManifest(p Plan) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "manifest.md.tmpl", p); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// nonASCII returns the index of the first byte beyond 7-bit ASCII, or -1.
func nonASCII(b []byte) int {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return i
		}
	}
	return -1
}

// crlf turns every line ending into CRLF.
func crlf(b []byte) []byte {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(text, "\n", "\r\n"))
}
