package generator

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/sfbpatch/sfbpatch/templates"
)

// funcs is the whole FuncMap: escaping only. Templates take no decisions.
var funcs = template.FuncMap{
	"psq": PSQuote,
}

var scriptTemplate = template.Must(template.New("script.ps1.tmpl").
	Funcs(funcs).
	Option("missingkey=error").
	ParseFS(templates.FS, "script.ps1.tmpl"))

// utf8BOM makes Windows PowerShell 5.1 read a script as UTF-8 instead of
// the ANSI code page.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// RenderScript renders the patch script of a plan: CRLF line endings,
// pure ASCII, or UTF-8 with a BOM when a fact holds non-ASCII text.
func RenderScript(p Plan) ([]byte, error) {
	var buf bytes.Buffer
	if err := scriptTemplate.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render script: %w", err)
	}
	return windowsText(buf.Bytes()), nil
}

// windowsText turns LF into CRLF and adds a BOM to non-ASCII text.
func windowsText(b []byte) []byte {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\n", "\r\n")
	out := []byte(text)
	if !isASCII(out) {
		out = append(append([]byte{}, utf8BOM...), out...)
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Generate validates the facts, plans and renders the script, and writes
// it to w only once it is complete.
func Generate(w io.Writer, f Facts) error {
	plan, err := BuildPlan(f)
	if err != nil {
		return err
	}
	out, err := RenderScript(plan)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
