package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// script renders a case's script with this sfbpatch's own version, as the
// command line does.
func script(t testing.TB, f Facts) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Generate(&out, f, Options{Version: Version}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func verify(t *testing.T, b []byte) Verification {
	t.Helper()
	v, err := Verify(b, "patch.ps1")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

func TestVerifyRoundTrip(t *testing.T) {
	for name, f := range validCases(t) {
		v := verify(t, script(t, f))
		if v.Outcome != Unchanged || len(v.Notes()) != 0 || v.Diff != "" || !v.BodyHashMatches {
			t.Errorf("%s: %+v, notes %q", name, v, v.Notes())
		}
	}
}

// TestVerifyHeaderRoundTrip: the header reads back as the version, the
// facts and the SHA-256 of the bytes after it.
func TestVerifyHeaderRoundTrip(t *testing.T) {
	for name, f := range validCases(t) {
		plan, _ := BuildPlan(f)
		b := generate(t, f, FormatScript)
		h, body, err := parseHeader(bytes.TrimPrefix(b, utf8BOM))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.Sum256(body)
		if h.Version != testVersion || h.Facts != plan.Facts || h.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: header %+v", name, h)
		}
		if !bytes.HasPrefix(body, []byte("#Requires -Version 3.0\r\n")) {
			t.Errorf("%s: the body does not start with #Requires", name)
		}
	}
}

// TestVerifyHeaderSurvivesLineBreaks: a fact with line breaks (which
// validation rejects) still cannot end a header comment line.
func TestVerifyHeaderSurvivesLineBreaks(t *testing.T) {
	plan, err := BuildPlan(Facts{Product: "sfb2015", Edition: EditionStandard})
	if err != nil {
		t.Fatal(err)
	}
	const hostile = "D:\\x\r\nStop-Computer\u0085\u2028y.exe"
	plan.Facts.UpdatePath = hostile
	plan.FactTable[4].Value = hostile
	b, err := RenderScript(plan, Options{Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := parseHeader(bytes.TrimPrefix(b, utf8BOM))
	if err != nil {
		t.Fatal(err)
	}
	if h.Facts.UpdatePath != hostile {
		t.Errorf("facts line read back %q", h.Facts.UpdatePath)
	}
	header := string(bytes.TrimPrefix(b[:len(b)-len(body)], utf8BOM))
	for _, line := range strings.Split(strings.TrimSuffix(header, "\r\n"), "\r\n") {
		if !strings.HasPrefix(line, "#") || strings.ContainsAny(line, "\r\n\u0085\u2028") {
			t.Errorf("header line %q", line)
		}
	}
}

// editAt changes one character of b at or after i, skipping line breaks
// and UTF-8 sequences, so that only that character differs.
func editAt(b []byte, i int) []byte {
	out := bytes.Clone(b)
	for out[i] == '\r' || out[i] == '\n' || out[i] >= 0x80 {
		i++
	}
	if out[i] == 'x' {
		out[i] = 'y'
	} else {
		out[i] = 'x'
	}
	return out
}

// TestVerifyCatchesOneCharacterEdits edits one character at several places
// of every body: each is a change, and the body no longer matches its hash.
func TestVerifyCatchesOneCharacterEdits(t *testing.T) {
	for name, f := range validCases(t) {
		b := script(t, f)
		_, body, _ := parseHeader(bytes.TrimPrefix(b, utf8BOM))
		start := len(b) - len(body)
		for _, at := range []int{start, start + len(body)/4, start + len(body)/2, start + 3*len(body)/4, len(b) - 3} {
			v := verify(t, editAt(b, at))
			if v.Outcome != Changed || v.BodyHashMatches || !strings.Contains(v.Diff, "@@") {
				t.Errorf("%s: edit at byte %d: outcome %d, body hash matches %v, diff %q", name, at, v.Outcome, v.BodyHashMatches, v.Diff)
			}
		}
	}
}

func TestVerifyCatchesHeaderEdits(t *testing.T) {
	b := script(t, Facts{Product: "sfb2015", Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com"})
	hash := bytes.Index(b, []byte(headerBodyHashLine)) + len(headerBodyHashLine)
	otherHash := bytes.Clone(b)
	otherHash[hash] = '0'
	if b[hash] == '0' {
		otherHash[hash] = '1'
	}
	for _, tc := range []struct {
		name            string
		script          []byte
		bodyHashMatches bool
	}{
		{"facts line", bytes.Replace(b, []byte(`"sql01.contoso.com"`), []byte(`"sql02.contoso.com"`), 1), true},
		{"human facts line", bytes.Replace(b, []byte("#   Edition: enterprise"), []byte("#   Edition: standard"), 1), true},
		{"body hash", otherHash, false},
	} {
		v := verify(t, tc.script)
		if v.Outcome != Changed || v.BodyHashMatches != tc.bodyHashMatches || v.Diff == "" {
			t.Errorf("%s: outcome %d, body hash matches %v", tc.name, v.Outcome, v.BodyHashMatches)
		}
	}
}

func TestVerifyLineEndingsAndBOM(t *testing.T) {
	ascii := script(t, Facts{Product: "sfb2015", Edition: EditionStandard})
	lf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
	for _, tc := range []struct {
		name   string
		script []byte
		note   string
	}{
		{"LF", lf(ascii), "line endings are LF, not CRLF"},
		{"mixed", bytes.Replace(ascii, []byte("\r\n"), []byte("\n"), 5), "some line endings are not CRLF"},
		{"CR CR LF", bytes.ReplaceAll(ascii, []byte("\r\n"), []byte("\r\r\n")), "some line endings are not CRLF"},
	} {
		v := verify(t, tc.script)
		notes := strings.Join(v.Notes(), "\n")
		if v.Outcome != OnlyEncodingChanged || !v.BodyHashMatches || !strings.Contains(notes, "only line endings differ") || !strings.Contains(notes, tc.note) {
			t.Errorf("%s: outcome %d, body hash matches %v, notes %q", tc.name, v.Outcome, v.BodyHashMatches, notes)
		}
	}
	for _, tc := range []struct {
		name   string
		script []byte
		note   string
	}{
		{"BOM added", append(bytes.Clone(utf8BOM), ascii...), "starts with a byte order mark, which sfbpatch never writes"},
		{"a non-ASCII character", bytes.Replace(ascii, []byte("Updates"), []byte("Upd\u00e4tes"), 1), "holds a byte beyond 7-bit ASCII"},
		{"cp1252 bytes", bytes.Replace(ascii, []byte("'Stop'"), []byte("'St\x91op'"), 1), "holds a byte beyond 7-bit ASCII"},
	} {
		v := verify(t, tc.script)
		if notes := strings.Join(v.Notes(), "\n"); v.Outcome != Changed || !strings.Contains(notes, tc.note) {
			t.Errorf("%s: outcome %d, notes %q", tc.name, v.Outcome, notes)
		}
	}
	v := verify(t, editAt(lf(ascii), len(ascii)/2))
	if notes := strings.Join(v.Notes(), "\n"); v.Outcome != Changed || !strings.Contains(notes, "the diff leaves out line endings") {
		t.Errorf("edited and LF: outcome %d, notes %q", v.Outcome, notes)
	}
}

// TestVerifyDiffShowsWhatATerminalWouldHide: an added line of terminal
// escape codes is shown escaped, so it cannot erase itself on screen.
func TestVerifyDiffShowsWhatATerminalWouldHide(t *testing.T) {
	good := script(t, Facts{Product: "sfb2015", Edition: EditionStandard})
	bad := bytes.Replace(good, []byte("Set-StrictMode -Version 2.0\r\n"), []byte("Set-StrictMode -Version 2.0\r\nInvoke-Evil \x1b[2K\r\n"), 1)
	v := verify(t, bad)
	if v.Outcome != Changed || strings.ContainsRune(v.Diff, 0x1b) || !strings.Contains(v.Diff, `+Invoke-Evil \x1B[2K`) {
		t.Errorf("outcome %d, diff:\n%s", v.Outcome, v.Diff)
	}
}

func TestVerifyOtherVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Generate(&out, Facts{Product: "lync2013", Edition: EditionStandard}, Options{Version: "0.0.9"}); err != nil {
		t.Fatal(err)
	}
	v := verify(t, out.Bytes())
	want := "made by sfbpatch 0.0.9, this is " + Version + "; compared with this version's output"
	if v.Outcome != Unchanged || len(v.Notes()) != 1 || v.Notes()[0] != want {
		t.Errorf("outcome %d, notes %q", v.Outcome, v.Notes())
	}
}

func TestVerifyRejects(t *testing.T) {
	good := string(script(t, Facts{Product: "sfb2015", Edition: EditionStandard}))
	runbook := string(generate(t, Facts{Product: "sfb2015", Edition: EditionStandard}, FormatRunbook))
	factsLine := `# sfbpatch-facts: {"product":"sfb2015","edition":"standard"}`
	for _, tc := range []struct{ name, script, want string }{
		{"empty", "", "not generated by sfbpatch"},
		{"UTF-16", "\xff\xfe#\x00 \x00", "the file is UTF-16"},
		{"another script", "#Requires -Version 3.0\r\nWrite-Host 'hello'\r\n", "not generated by sfbpatch"},
		{"a runbook", runbook, "not the runbooks or JSON plans"},
		{"bad version", strings.Replace(good, "sfbpatch "+Version+".", "sfbpatch 0.1 0.", 1), "unreadable sfbpatch header: first line"},
		{"no facts line", strings.Replace(good, factsLine+"\r\n", "", 1), "no sfbpatch-facts line"},
		{"facts not JSON", strings.Replace(good, factsLine, `# sfbpatch-facts: {"product":`, 1), "its sfbpatch-facts line"},
		{"unknown fact", strings.Replace(good, factsLine, `# sfbpatch-facts: {"product":"sfb2015","edition":"standard","pool":"x"}`, 1), `pool: unknown field`},
		{"two JSON values", strings.Replace(good, factsLine, factsLine+" {}", 1), "more than one JSON value"},
		{"invalid facts", strings.Replace(good, factsLine, `# sfbpatch-facts: {"product":"sfb2016","edition":"standard"}`, 1), "do not validate with sfbpatch " + Version + ": product: "},
		{"bad body hash", strings.Replace(good, "# sfbpatch-body-sha256: ", "# sfbpatch-body-sha256: X", 1), "is not 64 lowercase hexadecimal digits"},
		{"header cut short", strings.SplitAfter(good, factsLine+"\r\n")[0] + "Write-Host 'hello'\r\n", "ends before its sfbpatch-body-sha256 line"},
		{"header only", strings.SplitAfter(good, factsLine+"\r\n")[0], "has no sfbpatch-body-sha256 line"},
	} {
		_, err := Verify([]byte(tc.script), "patch.ps1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestVerifyVersionOption(t *testing.T) {
	plan, _ := BuildPlan(Facts{Product: "sfb2015", Edition: EditionStandard})
	for _, bad := range []string{"1.0 beta", "1.0\n", ".1", "1.0/x"} {
		if _, err := RenderScript(plan, Options{Version: bad}); err == nil {
			t.Errorf("version %q accepted", bad)
		}
	}
	if !versionPattern.MatchString(Version) {
		t.Errorf("Version %q cannot be written in a header", Version)
	}
}

func TestVerifyHeaderCommentText(t *testing.T) {
	for in, want := range map[string]string{
		`D:\Mises à jour\x.exe`: `D:\Mises \u00e0 jour\x.exe`,
		"a\r\nb":                `a\u000d\u000ab`,
		"a\u0085b\u2028c\u2029": `a\u0085b\u2028c\u2029`,
		"tab\there\x7f":         `tab\u0009here\u007f`,
		"\U0001F600":            `\ud83d\ude00`,
	} {
		if got := CommentText(in); got != want {
			t.Errorf("CommentText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCommentValueTellsValuesApart: two values never show the same on a
// header line, however they use backslashes and \u.
func TestCommentValueTellsValuesApart(t *testing.T) {
	values := []string{`D:\Updates\u05d1\x.exe`, "D:\\Updates\u05d1\\x.exe", `"D:\x.exe"`, `D:\x.exe`, "D:\\\u00e9.exe", `D:\\u00e9.exe`}
	seen := map[string]string{}
	for _, v := range values {
		shown := CommentValue(v)
		if other, ok := seen[shown]; ok {
			t.Errorf("%+q and %+q both show as %s", v, other, shown)
		}
		seen[shown] = v
		if i := nonASCII([]byte(shown)); i >= 0 {
			t.Errorf("%+q shows as %s, not 7-bit ASCII", v, shown)
		}
	}
}
