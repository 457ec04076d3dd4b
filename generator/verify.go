package generator

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// Outcome is the verdict of Verify.
type Outcome int

// Outcomes, from best to worst.
const (
	// Unchanged: the file is, byte for byte, what its facts generate.
	Unchanged Outcome = iota
	// OnlyEncodingChanged: only the line endings differ, as after a mail
	// system or an editor: the commands are the same. A byte order mark or
	// any byte beyond 7-bit ASCII is a change: sfbpatch never writes one,
	// and either changes how Windows PowerShell 5.1 reads the file.
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
	// Outcome is the verdict on the script above its signature block, if
	// it has one: the signature does not change it.
	Outcome Outcome
	// Header is what the script's header records.
	Header Header
	// LineEndings of the file: LineEndingsCRLF, LineEndingsLF or LineEndingsMixed.
	LineEndings string
	// HasBOM is true when the file starts with a UTF-8 byte order mark.
	HasBOM bool
	// NonASCIILine is the first line holding a byte beyond 7-bit ASCII, or 0.
	NonASCIILine int
	// BodyHashMatches is true when the body, its line endings made CRLF
	// again, has the SHA-256 the header records. False means the body was
	// edited after it was generated, whatever happened to the header.
	BodyHashMatches bool
	// Diff is a unified diff from the script the header's facts generate
	// to the file, both without BOM and with LF line endings; set only
	// when Changed.
	Diff string
	// Signature is the Authenticode signature block at the end of the
	// file, or nil when it has none.
	Signature *Signature
}

// Verify checks that file (the bytes of a file called name) is exactly
// what this sfbpatch generates from the facts in its header. It reports a
// header of another version, but compares with this version's output,
// rendering the header with the script's version. A file that ends with an
// Authenticode signature block is checked without it, and the signature
// against the script above it. The error, if any, says why the script
// cannot be verified: no sfbpatch header, a header it cannot read, or facts
// that no longer validate.
func Verify(file []byte, name string) (Verification, error) {
	if bytes.HasPrefix(file, []byte{0xFF, 0xFE}) || bytes.HasPrefix(file, []byte{0xFE, 0xFF}) {
		// Out-File in Windows PowerShell 5.1 writes UTF-16 by default.
		return Verification{}, errors.New("the file is UTF-16, not the UTF-8 sfbpatch writes: it was saved again (Out-File or an editor); compare the generated file instead")
	}
	script, block, line := splitSignature(file)
	v, err := verifyScript(script, name)
	if err != nil || block == nil {
		return v, err
	}
	sig := checkSignature(block, line, script)
	v.Signature = &sig
	return v, nil
}

// verifyScript is Verify of a script without a signature block.
func verifyScript(script []byte, name string) (Verification, error) {
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
	sum := sha256.Sum256([]byte(strings.ReplaceAll(withoutEncoding(body), "\n", "\r\n")))
	v := Verification{
		Header:          h,
		LineEndings:     lineEndings(content),
		HasBOM:          len(content) < len(script),
		NonASCIILine:    nonASCIILine(content),
		BodyHashMatches: hex.EncodeToString(sum[:]) == h.BodySHA256,
	}
	gotText, wantText := withoutEncoding(script), withoutEncoding(want)
	switch {
	case bytes.Equal(script, want):
		v.Outcome = Unchanged
	case gotText == wantText && !v.HasBOM && v.NonASCIILine == 0:
		v.Outcome = OnlyEncodingChanged
	default:
		v.Outcome = Changed
		v.Diff, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(visible(wantText)),
			B:        difflib.SplitLines(visible(gotText)),
			FromFile: name + " (as generated)",
			ToFile:   name,
			Context:  3,
		})
	}
	return v, err
}

// Notes explain a verification in sentences that say only what the bytes
// prove: another version, the encoding, whether the body still has the
// hash its header records (an unkeyed hash cannot tell who edited what),
// and what the signature block, if any, holds.
func (v Verification) Notes() []string {
	var notes []string
	if v.Header.Version != Version {
		notes = append(notes, fmt.Sprintf("made by sfbpatch %s, this is %s; compared with this version's output", v.Header.Version, Version))
	}
	if v.HasBOM {
		notes = append(notes, "the file starts with a byte order mark, which sfbpatch never writes")
	}
	if v.NonASCIILine > 0 {
		notes = append(notes, fmt.Sprintf("line %d holds a byte beyond 7-bit ASCII, which sfbpatch never writes: Windows PowerShell 5.1 may read it as another character (the diff shows such characters as \\uXXXX or \\xXX)", v.NonASCIILine))
	}
	switch {
	case v.Outcome == OnlyEncodingChanged:
		notes = append(notes, "only line endings differ ("+v.lineEndingChange()+"): the commands are the same")
	case v.Outcome == Changed && v.Diff != "" && v.LineEndings != LineEndingsCRLF:
		notes = append(notes, "the diff leaves out line endings, which differ too ("+v.lineEndingChange()+")")
	}
	switch {
	case v.Outcome == Changed && v.Diff == "":
		notes = append(notes, "apart from that, the file is what its facts generate")
	case v.Outcome == Changed && v.BodyHashMatches:
		notes = append(notes, "header and body are consistent with each other, but not with what these facts generate")
	case v.Outcome == Changed:
		notes = append(notes, "the body no longer matches the sfbpatch-body-sha256 in its header")
	}
	return append(notes, v.signatureNotes()...)
}

// signatureNotes describe the signature block, if any.
func (v Verification) signatureNotes() []string {
	if v.Signature == nil {
		return nil
	}
	notes := []string{v.Signature.Note()}
	if v.Signature.DigestAlgorithm == crypto.SHA1.String() {
		notes = append(notes, "SHA-1 is a weak digest: sign with SHA-256 (Set-AuthenticodeSignature -HashAlgorithm SHA256)")
	}
	return notes
}

func (v Verification) lineEndingChange() string {
	if v.LineEndings == LineEndingsLF {
		return "line endings are LF, not CRLF"
	}
	return "some line endings are not CRLF"
}

// withoutEncoding is the text of a script without BOM and with LF line
// endings (CRLF, CR CR LF and LF alike): what a reviewer reads, whatever
// the mail system did.
func withoutEncoding(b []byte) string {
	b = bytes.TrimPrefix(b, utf8BOM)
	out := make([]byte, 0, len(b))
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return string(append(out, b...))
		}
		out = append(append(out, bytes.TrimRight(b[:i], "\r")...), '\n')
		b = b[i+1:]
	}
}

// visible escapes what a terminal would not show as itself, so that a
// diff cannot hide or rewrite a line on screen: control characters but
// tab as \xXX, other characters beyond ASCII as \uXXXX, bytes that are
// not UTF-8 as \xXX. Line feeds stay.
func visible(text string) string {
	var b strings.Builder
	for i, r := range text {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(text[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02X`, text[i])
		case r == '\n' || r == '\t' || (r >= ' ' && r < 0x7F):
			b.WriteRune(r)
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02X`, r)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	return b.String()
}

// nonASCIILine returns the first line that holds a byte beyond 7-bit
// ASCII, or 0.
func nonASCIILine(b []byte) int {
	i := nonASCII(b)
	if i < 0 {
		return 0
	}
	return bytes.Count(b[:i], []byte("\n")) + 1
}

func lineEndings(b []byte) string {
	lf, crlfs := bytes.Count(b, []byte("\n")), bytes.Count(b, []byte("\r\n"))
	switch {
	case crlfs == lf && !bytes.Contains(b, []byte("\r\r")):
		return LineEndingsCRLF
	case crlfs == 0:
		return LineEndingsLF
	default:
		return LineEndingsMixed
	}
}

// DiffFacts names, fact by fact, how the facts a script was generated
// from (got) differ from approved ones (want), as the plan reads them: the
// default product for none, a SHA-256 in any case.
func DiffFacts(want, got Facts) []string {
	var diffs []string
	for _, f := range []*Facts{&want, &got} {
		if f.Product == "" {
			f.Product = DefaultProduct
		}
		f.UpdateSHA256 = strings.ToLower(f.UpdateSHA256)
	}
	for _, field := range Fields {
		w, g := factValue(want, field.Key), factValue(got, field.Key)
		if field.Kind == KindBool {
			w, g = strconv.FormatBool(want.CollocatedStores), strconv.FormatBool(got.CollocatedStores)
		}
		// DNS names are the same in any case.
		if w != g && !(field.Kind == KindFQDN && strings.EqualFold(w, g)) {
			diffs = append(diffs, fmt.Sprintf("%s: approved %s, the script's %s", field.Key, shownFact(w), shownFact(g)))
		}
	}
	return diffs
}

// shownFact is a fact's value in a message, "not given" when empty.
func shownFact(v string) string {
	if v == "" {
		return "not given"
	}
	return strconv.Quote(v)
}
