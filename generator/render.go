package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
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
	return render(p, opts, false)
}

// render renders one output of a plan; built is true for a plan BuildPlan
// has just made from its facts, whose script body may come from the
// rendered shapes (see shapes.go).
func render(p Plan, opts Options, built bool) ([]byte, error) {
	switch opts.Format {
	case "", FormatScript:
		return renderScript(p, opts, built)
	case FormatRunbook:
		return renderRunbook(p, opts, built)
	case FormatJSON:
		return RenderJSON(p)
	default:
		return nil, fmt.Errorf("format %q: allowed: %s, %s, %s", opts.Format, FormatScript, FormatRunbook, FormatJSON)
	}
}

// RenderScript renders the patch script of a plan: the header, then the
// body. CRLF line endings, 7-bit ASCII whatever the facts, no byte order
// mark: Windows PowerShell 5.1 reads a file without one in the ANSI code
// page, and anything between the generator and the server may drop one.
func RenderScript(p Plan, opts Options) ([]byte, error) {
	return renderScript(p, opts, false)
}

func renderScript(p Plan, opts Options, built bool) ([]byte, error) {
	version, err := opts.version()
	if err != nil {
		return nil, err
	}
	if built {
		return renderBuilt(p, version)
	}
	body, err := executeBody(p)
	if err != nil {
		return nil, err
	}
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

// scriptView is what the script template reads: the plan, its steps by
// ID, the IDs of the steps each place runs ("script" for the script's own
// process, else the child's phase), in plan order.
type scriptView struct {
	Plan
	Step                  map[string]Step
	IDs                   map[string][]string
	UnattendedCommandLine string
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

func newScriptView(p Plan) scriptView {
	v := scriptView{Plan: p, Step: map[string]Step{}, IDs: map[string][]string{}, UnattendedCommandLine: UnattendedCommandLine}
	for _, s := range p.Steps {
		v.Step[s.ID] = s
		where := s.Child
		if where == "" {
			where = "script"
		}
		v.IDs[where] = append(v.IDs[where], s.ID)
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
