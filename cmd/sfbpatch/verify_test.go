package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/signtest"
)

const beginLine = "\r\n# SIG # Begin signature block\r\n"

// signedNote is the note of a signature that holds, as verify prints it
// and the README shows it for another signer.
const signedNote = "note: signed by " + signtest.Subject + " (SHA-256): the signature's digest matches the script above the signature block, " +
	"and the signature verifies with the certificate it carries; whether that certificate is trusted is checked by Windows (Get-AuthenticodeSignature), not by verify\n"

// TestCLIVerifySigned signs a generated script with osslsigncode: it
// verifies with the signer named; edited after signing, in its body or in
// its signature, it does not; without its block it is unsigned again.
func TestCLIVerifySigned(t *testing.T) {
	_, unsigned := generateFile(t, validFacts(t)["sfb2019-enterprise-collocated"], "ps1")
	signed := signtest.New(t).Sign(t, unsigned, "sha256")
	path := write(t, signed)
	if r := sfbpatch("verify", path); r.code != exitOK || withoutFacts(r.stdout) != signedNote+path+": unchanged, and its signature holds\n" || r.stderr != "" {
		t.Errorf("signed: %+v", r)
	}

	block := bytes.Index(signed, []byte(beginLine))
	body := bytes.Index(signed, []byte("#Requires"))
	edited := bytes.Clone(signed)
	edited[body+(block-body)/2] ^= 0x01
	consistent := withBodyHash(t, edited[:block], signed[block:])
	for name, file := range map[string][]byte{"body edited": edited, "body edited, header hash made to fit": consistent} {
		path := write(t, file)
		r := sfbpatch("verify", path)
		if r.code != exitChanged || !strings.Contains(r.stdout, "+++ "+path+"\n@@ ") ||
			!strings.Contains(r.stdout, "the signature's digest does not match the script above the signature block: the script changed after it was signed") ||
			r.stderr != "sfbpatch: "+path+": changed: it is not what sfbpatch "+generator.Version+" generates from the facts in its header\n"+
				"sfbpatch: "+path+": changed: its signature's digest does not match it: it changed after it was signed\n" {
			t.Errorf("%s: %+v", name, r)
		}
	}

	// A character of the signature value: the last 256 bytes of the
	// signature (no timestamp, so no unsigned attributes after them) are
	// in its last 342 base64 characters.
	end := bytes.LastIndex(signed, []byte("\r\n# SIG # End"))
	value := end - 100
	for bytes.IndexByte([]byte("\r\n# "), signed[value]) >= 0 {
		value--
	}
	for _, tc := range []struct {
		name, with, want string
	}{
		{"a base64 character changed", "A", "its signature does not verify with the certificate it carries: "},
		{"a character that is not base64", "!", "its signature block cannot be checked: line "},
	} {
		file := bytes.Clone(signed)
		file[value] = tc.with[0]
		if signed[value] == tc.with[0] {
			file[value] = 'B'
		}
		path := write(t, file)
		r := sfbpatch("verify", path)
		if r.code != exitChanged || !strings.HasSuffix(r.stdout, "\n") || strings.Contains(r.stdout, "@@") || !strings.HasPrefix(r.stderr, "sfbpatch: "+path+": changed: "+tc.want) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}

	path = write(t, signed[:block])
	if r := sfbpatch("verify", path); r.code != exitOK || withoutFacts(r.stdout) != path+": unchanged\n" || r.stderr != "" {
		t.Errorf("block removed: %+v", r)
	}
	for name, file := range map[string][]byte{
		"no end line":             signed[:end],
		"text after the end line": append(bytes.Clone(signed), "Invoke-Evil\r\n"...),
	} {
		path := write(t, file)
		if r := sfbpatch("verify", path); r.code != exitChanged || !strings.Contains(r.stdout, "note: the signature block that begins on line ") ||
			!strings.HasPrefix(r.stderr, "sfbpatch: "+path+": changed: its signature block cannot be checked: ") {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// TestCLIVerifySignedFolder: a script signed in a batch's folder has
// another SHA-256 than SHA256SUMS lists, and verify says why; once
// SHA256SUMS lists it, the folder holds, signer named.
func TestCLIVerifySignedFolder(t *testing.T) {
	dir := t.TempDir()
	inventory := filepath.Join(dir, "servers.csv")
	if err := os.WriteFile(inventory, []byte("server_fqdn,edition\nse01.contoso.com,standard\nse02.contoso.com,standard\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if r := sfbpatch("batch", "--inventory", inventory, "--out-dir", out); r.code != exitOK {
		t.Fatalf("batch: %+v", r)
	}
	script := filepath.Join(out, "se01.contoso.com.ps1")
	unsigned, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	signed := signtest.New(t).Sign(t, unsigned, "sha256")
	if err := os.WriteFile(script, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	r := sfbpatch("verify", out)
	if r.code != exitChanged || !strings.Contains(r.stdout, "se01.contoso.com.ps1: FAILED: its SHA-256 is not the one in SHA256SUMS: it is signed, and signing changes a file's SHA-256 (not the sfbpatch-body-sha256 in its header)") ||
		!strings.Contains(r.stdout, "se02.contoso.com.ps1: OK, and what its facts generate\n") {
		t.Errorf("signed, SHA256SUMS as batch wrote it: %+v", r)
	}

	sums := filepath.Join(out, sumsName)
	list, err := os.ReadFile(sums)
	if err != nil {
		t.Fatal(err)
	}
	old, updated := sha256.Sum256(unsigned), sha256.Sum256(signed)
	list = bytes.Replace(list, []byte(hex.EncodeToString(old[:])), []byte(hex.EncodeToString(updated[:])), 1)
	if err := os.WriteFile(sums, list, 0o644); err != nil {
		t.Fatal(err)
	}
	r = sfbpatch("verify", out)
	if r.code != exitOK || !strings.Contains(r.stdout, "se01.contoso.com.ps1: OK, and what its facts generate; signed by "+signtest.Subject+", and the signature holds (the certificate's trust is checked by Windows, not by verify)\n") {
		t.Errorf("signed, SHA256SUMS updated: %+v", r)
	}

	signed[len(signed)-100] ^= 0x01
	updated = sha256.Sum256(signed)
	list = regexp.MustCompile(`(?m)^[0-9a-f]{64}(  se01\.contoso\.com\.ps1)$`).ReplaceAll(list, []byte(hex.EncodeToString(updated[:])+"$1"))
	if err := os.WriteFile(sums, list, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if r = sfbpatch("verify", out); r.code != exitChanged || !strings.Contains(r.stdout, "se01.contoso.com.ps1: FAILED: its signature") {
		t.Errorf("signature edited, SHA256SUMS updated: %+v", r)
	}
}

// TestREADMESigning keeps the README's output of verify for a signed
// script what verify prints, but for the signer and the file's name.
func TestREADMESigning(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shown := regexp.MustCompile("(?s)```\n(note: signed by .*?)```").FindSubmatch(readme)
	if shown == nil {
		t.Fatal("README.md: no output of verify for a signed script")
	}
	_, unsigned := generateFile(t, validFacts(t)["sfb2015-standard"], "ps1")
	path := write(t, signtest.New(t).Sign(t, unsigned, "sha256"))
	want := strings.NewReplacer("CN=Contoso Code Signing,O=Contoso", signtest.Subject, "patch-be01.ps1", path).Replace(string(shown[1]))
	if r := sfbpatch("verify", path); withoutFacts(r.stdout) != withoutFacts(want) {
		t.Errorf("README.md shows:\n%s\nverify prints:\n%s", want, r.stdout)
	}
}

// withBodyHash joins a script's text and a signature block, the header's
// sfbpatch-body-sha256 made the SHA-256 of the script's body.
func withBodyHash(t *testing.T, script, block []byte) []byte {
	t.Helper()
	const line = "# sfbpatch-body-sha256: "
	at := bytes.Index(script, []byte(line)) + len(line)
	bodyStart := at + 64 + len("\r\n")
	sum := sha256.Sum256(script[bodyStart:])
	out := bytes.Clone(script)
	copy(out[at:], hex.EncodeToString(sum[:]))
	return append(out, block...)
}

// withoutFacts is verify's output without its line of facts, which every
// verification of a script prints.
func withoutFacts(stdout string) string {
	return regexp.MustCompile(`(?m)^facts: \{.*\}\n`).ReplaceAllString(stdout, "")
}

// TestCLIVerifyFolderTampering: the folder's own SHA256SUMS is not trusted
// alone. A script regenerated from other facts with its SHA256SUMS line
// fixed fails on window.md (and on the approved inventory), a runbook
// edited with its line fixed fails against its script's facts, and a file
// the batch did not write fails, each named.
func TestCLIVerifyFolderTampering(t *testing.T) {
	dir := t.TempDir()
	inventory := filepath.Join(dir, "servers.csv")
	if err := os.WriteFile(inventory, []byte("server_fqdn,edition,sql_server_fqdn\nse01.contoso.com,standard,\nbe01.contoso.com,enterprise,sql01.contoso.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := func(t *testing.T) string {
		out := filepath.Join(t.TempDir(), "out")
		if r := sfbpatch("batch", "--inventory", inventory, "--out-dir", out, "--format", "ps1,md"); r.code != exitOK {
			t.Fatalf("batch: %+v", r)
		}
		return out
	}
	// relist rewrites a file and its SHA256SUMS line, as an attacker would.
	relist := func(t *testing.T, out, name string, data []byte) {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sums, err := os.ReadFile(filepath.Join(out, sumsName))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		line := regexp.MustCompile(`(?m)^[0-9a-f]{64}  ` + regexp.QuoteMeta(name) + `$`)
		if err := os.WriteFile(filepath.Join(out, sumsName), line.ReplaceAll(sums, []byte(hex.EncodeToString(sum[:])+"  "+name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("script regenerated from other facts", func(t *testing.T) {
		out := fresh(t)
		other := filepath.Join(t.TempDir(), "be01.ps1")
		if r := sfbpatch("generate", "--edition", "enterprise", "--sql-server-fqdn", "sql01.contoso.com", "--server-fqdn", "be01.contoso.com",
			"--update-path", `\\evil\share\SkypeServerUpdateInstaller.exe`, "-o", other); r.code != exitOK {
			t.Fatalf("generate: %+v", r)
		}
		data, _ := os.ReadFile(other)
		relist(t, out, "be01.contoso.com.ps1", data)
		r := sfbpatch("verify", out)
		if r.code != exitChanged || !strings.Contains(r.stdout, "window.md: FAILED: it gives be01.contoso.com.ps1 another SHA-256") {
			t.Errorf("%+v", r)
		}
		r = sfbpatch("verify", "--inventory", inventory, out)
		if r.code != exitChanged || !strings.Contains(r.stdout, `be01.contoso.com.ps1: FAILED: not generated from the approved facts: update_path: approved not given, the script's "\\\\evil\\share\\SkypeServerUpdateInstaller.exe"`) {
			t.Errorf("--inventory: %+v", r)
		}
	})
	t.Run("runbook edited", func(t *testing.T) {
		out := fresh(t)
		data, _ := os.ReadFile(filepath.Join(out, "se01.contoso.com.md"))
		relist(t, out, "se01.contoso.com.md", bytes.Replace(data, []byte("Stop-CsWindowsService"), []byte("Stop-Nothing"), 1))
		if r := sfbpatch("verify", out); r.code != exitChanged || !strings.Contains(r.stdout, "se01.contoso.com.md: FAILED: it is not what its script's facts generate") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("a file the batch did not write", func(t *testing.T) {
		out := fresh(t)
		if err := os.WriteFile(filepath.Join(out, "evil.ps1"), []byte("Remove-Item C:\\ -Recurse"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := sfbpatch("verify", out); r.code != exitChanged || !strings.Contains(r.stdout, "evil.ps1: FAILED: not listed in SHA256SUMS") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("untouched folders hold", func(t *testing.T) {
		runbooks := filepath.Join(t.TempDir(), "runbooks")
		if r := sfbpatch("batch", "--inventory", inventory, "--out-dir", runbooks, "--format", "md,json"); r.code != exitOK {
			t.Fatalf("batch: %+v", r)
		}
		if r := sfbpatch("verify", runbooks); r.code != exitOK {
			t.Errorf("a folder without scripts: %+v", r)
		}
		fleet := filepath.Join(t.TempDir(), "fleet")
		flags := []string{"--update-path", `D:\Updates\SkypeServerUpdateInstaller.exe`, "--product", "sfb2019"}
		if r := sfbpatch(append([]string{"batch", "--inventory", inventory, "--out-dir", fleet}, flags...)...); r.code != exitOK {
			t.Fatalf("batch: %+v", r)
		}
		if r := sfbpatch(append([]string{"verify", "--inventory", inventory, fleet}, flags...)...); r.code != exitOK {
			t.Errorf("the fleet-wide facts batch was given: %+v", r)
		}
		if r := sfbpatch("verify", "--inventory", inventory, fleet); r.code != exitChanged || !strings.Contains(r.stdout, "update_path: approved not given") {
			t.Errorf("without them: %+v", r)
		}
	})
	t.Run("window.md removed with its line", func(t *testing.T) {
		out := fresh(t)
		sums, _ := os.ReadFile(filepath.Join(out, sumsName))
		kept := regexp.MustCompile(`(?m)^[0-9a-f]{64}  window\.md\n`).ReplaceAll(sums, nil)
		if err := os.WriteFile(filepath.Join(out, sumsName), kept, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(out, windowName)); err != nil {
			t.Fatal(err)
		}
		if r := sfbpatch("verify", out); r.code != exitChanged || !strings.Contains(r.stdout, "window.md: FAILED: missing from SHA256SUMS") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("a server of the approved inventory without its script", func(t *testing.T) {
		out := fresh(t)
		longer := filepath.Join(t.TempDir(), "servers.csv")
		if err := os.WriteFile(longer, []byte("server_fqdn,edition\nse01.contoso.com,standard\nse02.contoso.com,standard\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := sfbpatch("verify", "--inventory", longer, out); r.code != exitChanged || !strings.Contains(r.stdout, "se02.contoso.com: FAILED: a server of the approved inventory without its script") ||
			!strings.Contains(r.stdout, "be01.contoso.com.ps1: FAILED: not generated from the approved facts: its server is not in the approved inventory") {
			t.Errorf("%+v", r)
		}
	})
}
