package generator

import (
	"fmt"
	"io"
	"strings"
)

// WindowRow is one server of a batch's window.md.
type WindowRow struct {
	Number                                                      int
	ServerFQDN, Product, Role, Step11, ScriptFile, ScriptSHA256 string
	ChildShells, Operations, WarnMinutes, BudgetMinutes         int
}

// NewWindowRow describes a server of a batch from its plan, its script's
// file name and the script's SHA-256.
func NewWindowRow(number int, p Plan, scriptFile, scriptSHA256 string) WindowRow {
	ed, _ := LookupEdition(p.Facts.Edition)
	return WindowRow{
		Number: number, ServerFQDN: p.Facts.ServerFQDN, Product: p.Product.Name, Role: p.Role,
		// The board reads which SQL Server each command updates.
		Step11:     strings.ReplaceAll(ed.step11(p.Facts).Command, "$SqlServerFqdn", p.Facts.SQLServerFQDN),
		ScriptFile: scriptFile, ScriptSHA256: scriptSHA256,
		ChildShells: p.WindowCount(KindChildShell), Operations: len(p.Window),
		WarnMinutes: p.Downtime.WarnMinutes, BudgetMinutes: p.Downtime.BudgetMinutes,
	}
}

// WindowDoc writes a batch's window.md row by row, so that its memory does
// not grow with the inventory: GitHub Flavored Markdown without raw HTML,
// UTF-8, LF.
type WindowDoc struct {
	w       io.Writer
	servers int
}

// NewWindowDoc writes the head of window.md.
func NewWindowDoc(w io.Writer, version string) (*WindowDoc, error) {
	view := struct {
		Version                    string
		WarnMinutes, BudgetMinutes int
	}{version, warnMinutes, budgetMinutes}
	if err := tmpl.ExecuteTemplate(w, "window-head", view); err != nil {
		return nil, fmt.Errorf("render window.md: %w", err)
	}
	return &WindowDoc{w: w}, nil
}

// Add writes one server's row.
func (d *WindowDoc) Add(r WindowRow) error {
	d.servers++
	if err := tmpl.ExecuteTemplate(d.w, "window-row", r); err != nil {
		return fmt.Errorf("render window.md: %w", err)
	}
	return nil
}

// Close writes the end of window.md.
func (d *WindowDoc) Close() error {
	if err := tmpl.ExecuteTemplate(d.w, "window-foot", struct{ Servers int }{d.servers}); err != nil {
		return fmt.Errorf("render window.md: %w", err)
	}
	return nil
}
