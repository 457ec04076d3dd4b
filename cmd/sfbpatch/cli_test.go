package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfbpatch/sfbpatch/generator"
)

// result is what one in-process run of sfbpatch printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func sfbpatch(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// validFacts returns the facts files that must generate, by case name.
func validFacts(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../../testdata/facts/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no facts files: %v", err)
	}
	cases := map[string]string{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if !strings.HasPrefix(name, "invalid-") {
			cases[name] = p
		}
	}
	return cases
}

// generateFile runs generate with -o into a temporary folder and returns
// the file's path and bytes.
func generateFile(t *testing.T, factsPath, format string) (string, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "patch."+format)
	if r := sfbpatch("generate", "--facts", factsPath, "--format", format, "-o", out); r.code != 0 || r.stdout != "" {
		t.Fatalf("generate %s: %+v", factsPath, r)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, data
}

func write(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "patch.ps1")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLIGenerateVerifyRoundTrip(t *testing.T) {
	for name, facts := range validFacts(t) {
		path, _ := generateFile(t, facts, "ps1")
		r := sfbpatch("verify", path)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "facts: {\"product\":") || !strings.HasSuffix(r.stdout, "}\n"+path+": unchanged\n") || r.stderr != "" {
			t.Errorf("%s: verify: %+v", name, r)
		}
	}
}

// TestCLIVerifyApprovedFacts: verify --facts names every fact a script was
// generated from that differs from the approved ones (exit 1), and holds a
// script generated from exactly them, however they were spelled.
func TestCLIVerifyApprovedFacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patch.ps1")
	if r := sfbpatch("generate", "--edition", "enterprise", "--sql-server-fqdn", "sql01.contoso.com", "--update-sha256", strings.Repeat("A", 64), "-o", path); r.code != exitOK {
		t.Fatalf("generate: %+v", r)
	}
	approved := filepath.Join(t.TempDir(), "approved.json")
	for facts, want := range map[string][]string{
		`{"edition": "enterprise", "sql_server_fqdn": "sql01.contoso.com", "update_sha256": "` + strings.Repeat("a", 64) + `", "product": "sfb2015"}`: nil,
		`{"edition": "enterprise", "sql_server_fqdn": "sql02.contoso.com", "collocated_stores": true}`: {
			`sql_server_fqdn: approved "sql02.contoso.com", the script's "sql01.contoso.com"`,
			`collocated_stores: approved "true", the script's "false"`,
			`update_sha256: approved not given, the script's "` + strings.Repeat("a", 64) + `"`,
		},
	} {
		if err := os.WriteFile(approved, []byte(facts), 0o644); err != nil {
			t.Fatal(err)
		}
		r := sfbpatch("verify", "--facts", approved, path)
		if len(want) == 0 {
			if r.code != exitOK {
				t.Errorf("%s: %+v", facts, r)
			}
			continue
		}
		if r.code != exitChanged {
			t.Errorf("%s: exit code %d, want %d", facts, r.code, exitChanged)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, "not generated from the approved facts: "+w) {
				t.Errorf("%s: stderr does not name %q:\n%s", facts, w, r.stderr)
			}
		}
	}
}

// TestCLIVerifyCatchesOneCharacterEdits edits one character at several
// places of the body: exit 1, a unified diff, and the changed line.
func TestCLIVerifyCatchesOneCharacterEdits(t *testing.T) {
	for name, facts := range validFacts(t) {
		_, script := generateFile(t, facts, "ps1")
		body := bytes.Index(script, []byte("#Requires"))
		for _, at := range []int{body + 1, body + (len(script)-body)/3, body + 2*(len(script)-body)/3, len(script) - 3} {
			edited := bytes.Clone(script)
			for edited[at] == '\r' || edited[at] == '\n' || edited[at] >= 0x80 {
				at++
			}
			edited[at] ^= 0x01 // another ASCII letter, digit or sign
			path := write(t, edited)
			r := sfbpatch("verify", path)
			if r.code != exitChanged || !strings.Contains(r.stdout, "--- "+path+" (as generated)\n+++ "+path+"\n@@ ") ||
				!strings.Contains(r.stdout, "the body no longer matches the sfbpatch-body-sha256 in its header") || !strings.Contains(r.stderr, path+": changed") {
				t.Errorf("%s: edit at byte %d: %+v", name, at, r)
			}
		}
	}
}

func TestCLIVerifyLineEndingsAndBOM(t *testing.T) {
	cases := validFacts(t)
	_, ascii := generateFile(t, cases["sfb2015-standard"], "ps1")
	_, nonASCII := generateFile(t, cases["non-ascii-path"], "ps1")
	lf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
	for name, tc := range map[string][]byte{
		"LF":                 lf(ascii),
		"LF, non-ASCII fact": lf(nonASCII),
		"CR CR LF":           bytes.ReplaceAll(ascii, []byte("\r\n"), []byte("\r\r\n")),
	} {
		path := write(t, tc)
		r := sfbpatch("verify", path)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "note: only line endings differ (") ||
			!strings.HasSuffix(r.stdout, path+": unchanged apart from line endings\n") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	path := write(t, append([]byte("\xef\xbb\xbf"), ascii...))
	if r := sfbpatch("verify", path); r.code != exitChanged || !strings.Contains(r.stdout, "byte order mark, which sfbpatch never writes") {
		t.Errorf("BOM added: %+v", r)
	}
}

func TestCLIVerifyOtherVersion(t *testing.T) {
	_, script := generateFile(t, validFacts(t)["lync2013-standard"], "ps1")
	old := bytes.Replace(script, []byte("sfbpatch "+generator.Version+". DO NOT EDIT"), []byte("sfbpatch 0.0.9. DO NOT EDIT"), 1)
	path := write(t, old)
	r := sfbpatch("verify", path)
	want := "note: made by sfbpatch 0.0.9, this is " + generator.Version + "; compared with this version's output\n" +
		`facts: {"product":"lync2013","edition":"standard"}` + "\n" + path + ": unchanged\n"
	if r.code != exitOK || r.stdout != want {
		t.Errorf("%+v", r)
	}
}

func TestCLIVerifyCannotVerify(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.ps1")
	if err := os.WriteFile(other, []byte("Write-Host 'hello'\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.ps1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", other}, "sfbpatch: " + other + ": not generated by sfbpatch"},
		{[]string{"verify", missing}, "sfbpatch: " + missing + ": no such file"},
		{[]string{"verify", dir}, "sfbpatch: " + dir + ": SHA256SUMS: no such file"},
		{[]string{"verify"}, `sfbpatch: expected "<script>"`},
	} {
		r := sfbpatch(tc.args...)
		if r.code != exitUnverifiable || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
}

// TestCLIGenerateFormats: md and json of the same facts, written with -o,
// match the script: the runbook names its SHA-256, the JSON is the plan.
func TestCLIGenerateFormats(t *testing.T) {
	facts := validFacts(t)["sfb2019-enterprise-collocated"]
	_, script := generateFile(t, facts, "ps1")
	_, md := generateFile(t, facts, "md")
	_, js := generateFile(t, facts, "json")
	sum := sha256.Sum256(script)
	if !bytes.Contains(md, []byte("`"+hex.EncodeToString(sum[:])+"`")) || !bytes.Contains(md, []byte("sfbpatch "+generator.Version)) {
		t.Errorf("the runbook does not name the script's SHA-256 and version")
	}
	var plan generator.Plan
	if err := json.Unmarshal(js, &plan); err != nil || plan.Facts.SQLServerFQDN != "sql01.contoso.com" || len(plan.Steps) == 0 {
		t.Errorf("json: %v, %+v", err, plan.Facts)
	}
	if r := sfbpatch("generate", "--edition", "standard", "--format", "xml"); r.code != exitBadInput || r.stdout != "" {
		t.Errorf("--format xml: %+v", r)
	}
}

// TestCLIGenerateFailureWritesNothing: rejected facts leave no file, not
// even a temporary one, and keep an existing file as it was.
func TestCLIGenerateFailureWritesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "patch.ps1")
	if r := sfbpatch("generate", "--edition", "enterprise", "-o", out); r.code != exitBadInput || !strings.Contains(r.stderr, "--sql-server-fqdn: required") {
		t.Errorf("%+v", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed generate left %v", entries)
	}
	if err := os.WriteFile(out, []byte("reviewed"), 0o644); err != nil {
		t.Fatal(err)
	}
	sfbpatch("generate", "--edition", "enterprise", "--format", "md", "-o", out)
	if data, _ := os.ReadFile(out); string(data) != "reviewed" {
		t.Errorf("a failed generate changed the existing file: %q", data)
	}
}

func TestCLIHelpNamesExitCodes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"verify", "--help"}} {
		r := sfbpatch(args...)
		text := strings.Join(strings.Fields(r.stdout), " ") // kong wraps help text
		if r.code != exitOK || !strings.Contains(text, "1 the script differs") || !strings.Contains(text, "2 it cannot be verified") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if r := sfbpatch("generate", "--help"); !strings.Contains(r.stdout, "--format=FORMAT") {
		t.Errorf("generate --help lacks --format: %s", r.stdout)
	}
}

func TestCLIGenerateFactsFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	facts := filepath.Join(dir, "be01.json")
	if err := os.WriteFile(facts, []byte("\ufeff"+`{"product":"lync2013","edition":"enterprise","sql_server_fqdn":"sql01.contoso.com","update_path":""}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr, or in stdout when code is 0
	}{
		{"defaults", []string{"generate", "--edition", "standard"}, exitOK, "Skype for Business Server 2015 Standard Edition server"},
		{"facts file field given empty", []string{"generate", "--facts", facts}, exitBadInput, facts + ": update_path: given but empty"},
		{"flag overrides the file", []string{"generate", "--facts", facts, "--update-path", `D:\CU\LyncServerUpdateInstaller.exe`}, exitOK, `$UpdatePath = 'D:\CU\LyncServerUpdateInstaller.exe'`},
		{"flag problem named as a flag", []string{"generate", "--facts", facts, "--update-path", `CU\x.exe`, "--edition", "standard"},
			exitBadInput, "--update-path: got \"CU\\x.exe\": not an absolute Windows path"},
		{"file problem named by file and field", []string{"generate", "--facts", facts, "--update-path", `D:\x.exe`, "--collocated-stores", "--edition", "standard"},
			exitBadInput, facts + ": sql_server_fqdn: not allowed with edition standard"},
		{"missing output folder", []string{"generate", "--edition", "standard", "-o", filepath.Join(dir, "no", "x.ps1")},
			exitIO, "the folder " + filepath.Join(dir, "no") + " does not exist; nothing was written"},
	}
	for _, c := range cases {
		r := sfbpatch(c.args...)
		got := r.stderr
		if c.code == exitOK {
			got = r.stdout
		}
		if r.code != c.code || !strings.Contains(got, c.want) {
			t.Errorf("%s: exit %d, want %d with %q in:\n%s", c.name, r.code, c.code, c.want, got)
		}
	}
}

// TestCLIHelpCoversTheTables: generate --help names every fact's flag and
// every product and edition.
func TestCLIHelpCoversTheTables(t *testing.T) {
	help := strings.Join(strings.Fields(sfbpatch("generate", "--help").stdout), " ")
	for _, f := range generator.Fields {
		if !strings.Contains(help, f.Flag) {
			t.Errorf("generate --help lacks %s", f.Flag)
		}
	}
	for _, key := range append(generator.ProductKeys(), generator.EditionKeys()...) {
		if !strings.Contains(help, key) {
			t.Errorf("generate --help lacks %s", key)
		}
	}
}

// TestCLIShowsNamesEscaped: a file name or an argument that holds escape
// codes is shown escaped, on standard error and standard output alike.
func TestCLIShowsNamesEscaped(t *testing.T) {
	for _, args := range [][]string{
		{"generate", "--edition", "standard", "-o", "\x1b]0;title\a\x1b[2Jnowhere/x.ps1"},
		{"generate", "--facts", "\x1b[2Jmissing.json"},
		{"verify", "\x1b[31mmissing.ps1"},
		{"\x1b[2J"},
		{"generate", "--\x1b[2J"},
	} {
		r := sfbpatch(args...)
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\a") || !strings.Contains(r.stderr, `\x1B`) {
			t.Errorf("%q: %+v", args, r)
		}
	}
}

// TestTextFlags: every text fact of the facts table has its flag, and
// no flag names a fact the table lacks.
func TestTextFlags(t *testing.T) {
	flags := (&generateCmd{}).textFlags()
	for _, field := range generator.Fields {
		if _, ok := flags[field.Key]; ok == (field.Kind == generator.KindBool) {
			t.Errorf("%s: in textFlags: %v, a text fact: %v", field.Key, ok, field.Kind != generator.KindBool)
		}
		delete(flags, field.Key)
	}
	for key := range flags {
		t.Errorf("textFlags names %s, which generator.Fields lacks", key)
	}
}

// TestCLIInputsOverTheirSize: an input over its size is bad input (exit
// 1), as any other; a Zip archive or UTF-32 text is named as such.
func TestCLIInputsOverTheirSize(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), generator.MaxFactsSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sfbpatch("generate", "--facts", big); r.code != exitBadInput || !strings.Contains(r.stderr, "over the 1048576 bytes a facts file may have") {
		t.Errorf("a big facts file: %+v", r)
	}
	for name, data := range map[string][]byte{
		"is a Zip archive": append([]byte("PK\x03\x04"), make([]byte, 20)...),
		"is UTF-32":        {0xFF, 0xFE, 0, 0, '{', 0, 0, 0, '}', 0, 0, 0},
	} {
		path := filepath.Join(dir, "facts.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := sfbpatch("generate", "--facts", path); r.code != exitBadInput || !strings.Contains(r.stderr, name) {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// TestCLIVerifyRunbookAndPlan: a runbook (by its facts line) and a JSON
// plan (by its facts) verify on their own; one edited does not (exit 1).
func TestCLIVerifyRunbookAndPlan(t *testing.T) {
	for name, facts := range validFacts(t) {
		for _, format := range []string{"md", "json"} {
			path, data := generateFile(t, facts, format)
			if r := sfbpatch("verify", path); r.code != exitOK || !strings.HasSuffix(r.stdout, path+": unchanged\n") {
				t.Errorf("%s %s: %+v", name, format, r)
			}
			changed := bytes.Replace(data, []byte("Get-CsWindowsService"), []byte("Get-CsNothing"), 1)
			if bytes.Equal(changed, data) {
				t.Fatalf("%s %s: no Get-CsWindowsService to edit", name, format)
			}
			edited := write(t, changed)
			edited = strings.TrimSuffix(edited, ".ps1") + "." + format
			if err := os.Rename(strings.TrimSuffix(edited, "."+format)+".ps1", edited); err != nil {
				t.Fatal(err)
			}
			if r := sfbpatch("verify", edited); r.code != exitChanged || !strings.Contains(r.stderr, "changed: it is not the ") {
				t.Errorf("%s %s edited: %+v", name, format, r)
			}
		}
	}
}
