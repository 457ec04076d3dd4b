package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Outcome is the verdict of Verify.
type Outcome int

// Outcomes, from best to worst.
const (
	// Unchanged: the file is, byte for byte, what its facts generate.
	Unchanged Outcome = iota
	// OnlyEncodingChanged: only the line endings or the byte order mark
	// differ, as after a mail system or an editor: the commands are the same.
	OnlyEncodingChanged
	// Changed: anything else differs.
	Changed
)

// Line endings of a file, as Verification reports them.
const (
	LineEndingsCRLF  = "CRLF"
	LineEndingsLF    = "LF"
	LineEndingsMixed = "mixed"
)

// Verification is what Verify found out about a script.
type Verification struct {
	Outcome Outcome
	// Header is what the script's header records.
	Header Header
	// LineEndings of the file: LineEndingsCRLF, LineEndingsLF or LineEndingsMixed.
	LineEndings string
	// HasBOM is true when the file starts with a UTF-8 byte order mark;
	// WantBOM when the generated script does.
	HasBOM, WantBOM bool
	// BodyHashMatches is true when the body, its line endings made CRLF
	// again, has the SHA-256 the header records. False means the body was
	// edited after it was generated, whatever happened to the header.
	BodyHashMatches bool
	// Diff is a unified diff from the script the header's facts generate
	// to the file, both without BOM and with LF line endings; set only
	// when Changed.
	Diff string
}

// Verify checks that script (the bytes of a file called name) is exactly
// what this sfbpatch generates from the facts in its header. It reports a
// header of another version, but compares with this version's output,
// rendering the header with the script's version. The error, if any, says
// why the script cannot be verified: no sfbpatch header, a header it
// cannot read, or facts that no longer validate.
func Verify(script []byte, name string) (Verification, error) {
	if bytes.HasPrefix(script, []byte{0xFF, 0xFE}) || bytes.HasPrefix(script, []byte{0xFE, 0xFF}) {
		// Out-File in Windows PowerShell 5.1 writes UTF-16 by default.
		return Verification{}, errors.New("the file is UTF-16, not the UTF-8 sfbpatch writes: it was saved again (Out-File or an editor); compare the generated file instead")
	}
	content := bytes.TrimPrefix(script, utf8BOM)
	h, body, err := parseHeader(content)
	if err != nil {
		return Verification{}, err
	}
	plan, err := BuildPlan(h.Facts)
	if err != nil {
		return Verification{}, fmt.Errorf("the facts in its header do not validate with sfbpatch %s: %s",
			Version, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	want, err := RenderScript(plan, Options{Version: h.Version})
	if err != nil {
		return Verification{}, err
	}
	sum := sha256.Sum256(crlf(body))
	v := Verification{
		Header:          h,
		LineEndings:     lineEndings(content),
		HasBOM:          len(content) < len(script),
		WantBOM:         bytes.HasPrefix(want, utf8BOM),
		BodyHashMatches: hex.EncodeToString(sum[:]) == h.BodySHA256,
	}
	gotText, wantText := withoutEncoding(script), withoutEncoding(want)
	switch {
	case bytes.Equal(script, want):
		v.Outcome = Unchanged
	case gotText == wantText:
		v.Outcome = OnlyEncodingChanged
	default:
		v.Outcome = Changed
		v.Diff, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(wantText),
			B:        difflib.SplitLines(gotText),
			FromFile: name + " (as generated)",
			ToFile:   name,
			Context:  3,
		})
	}
	return v, err
}

// Notes explain a verification in sentences: another version, what
// changed in the encoding, and whether the body still matches its hash.
func (v Verification) Notes() []string {
	var notes []string
	if v.Header.Version != Version {
		notes = append(notes, fmt.Sprintf("made by sfbpatch %s, this is %s; compared with this version's output", v.Header.Version, Version))
	}
	encoding := v.encodingChanges()
	switch {
	case v.Outcome == OnlyEncodingChanged:
		notes = append(notes, "only line endings or the byte order mark differ ("+strings.Join(encoding, "; ")+"): the commands are the same")
	case v.Outcome == Changed && len(encoding) > 0:
		notes = append(notes, "the diff leaves out line endings and the byte order mark, which differ too ("+strings.Join(encoding, "; ")+")")
	}
	if v.Outcome == Changed && v.BodyHashMatches {
		notes = append(notes, "the body matches the sfbpatch-body-sha256 in its header: the header was edited, or this version generates another script from the same facts")
	} else if v.Outcome == Changed {
		notes = append(notes, "the body does not match the sfbpatch-body-sha256 in its header: the body was edited after it was generated")
	}
	return notes
}

func (v Verification) encodingChanges() []string {
	var changes []string
	switch v.LineEndings {
	case LineEndingsLF:
		changes = append(changes, "line endings are LF, not CRLF")
	case LineEndingsMixed:
		changes = append(changes, "some line endings are LF, not CRLF")
	}
	switch {
	case v.WantBOM && !v.HasBOM:
		changes = append(changes, "the byte order mark was removed: Windows PowerShell 5.1 reads this script's non-ASCII text wrongly without it; "+
			"use the generated file or save it as UTF-8 with BOM")
	case v.HasBOM && !v.WantBOM:
		changes = append(changes, "a byte order mark was added")
	}
	return changes
}

// withoutEncoding is the text of a script without BOM and with LF line
// endings: what a reviewer reads, whatever the mail system did.
func withoutEncoding(b []byte) string {
	return strings.ReplaceAll(string(bytes.TrimPrefix(b, utf8BOM)), "\r\n", "\n")
}

func lineEndings(b []byte) string {
	lf, crlfs := bytes.Count(b, []byte("\n")), bytes.Count(b, []byte("\r\n"))
	switch {
	case crlfs == lf:
		return LineEndingsCRLF
	case crlfs == 0:
		return LineEndingsLF
	default:
		return LineEndingsMixed
	}
}
