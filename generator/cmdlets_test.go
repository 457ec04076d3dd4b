package generator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfbpatch/sfbpatch/generator"
	"github.com/sfbpatch/sfbpatch/internal/pscheck"
)

// cmdletSnippet is a small script for one product and the one finding it
// must produce ("" for none).
type cmdletSnippet struct {
	name, product, src, want string
}

// cmdletSnippets prove that the check can fail, each with one wrong call,
// and that it accepts what PowerShell accepts (the first snippet).
var cmdletSnippets = []cmdletSnippet{
	{"accepted", "sfb2019", "function Get-Row { param($Name) }\r\n" +
		"Get-Row -Bogus 1\r\n" +
		"net stop w3svc\r\n" +
		"& $action -Bogus\r\n" +
		"$folder = Split-Path -Parent $MyInvocation.MyCommand.Path\r\n" +
		"Get-Item -LiteralPath $folder 2>&1 > $null\r\n" +
		"$w3svc = Get-Service -Name:'W3SVC' -ea SilentlyContinue\r\n" +
		"@($w3svc) | Where-Object Status -eq 'Running' | Out-Null\r\n" +
		"Write-Warning ([string]$w3svc).Substring(1)\r\n" +
		"Get-Content -PSPath 'C:\\x.txt' -First 1 -Debug\r\n" +
		"New-Item -Path 'HKLM:\\SOFTWARE\\x' -Force -WhatIf:$false -cf:$false\r\n" +
		"Stop-CsWindowsService -ComputerName 'fe01.contoso.com' -Graceful -Confirm:$false\r\n" +
		"Join-Path $folder 'x.log'\r\n", ""},
	{"unknown-parameter", "sfb2019", "Stop-CsWindowsService -Bogus\r\n", "Stop-CsWindowsService -Bogus: no parameter set has it"},
	{"two-sets", "sfb2019", "Stop-CsWindowsService -ComputerName 'fe01.contoso.com' -InputObject $service\r\n",
		"-InputObject: no parameter set has it with -ComputerName"},
	{"whatif-without-shouldprocess", "sfb2015", "Get-CsWindowsService -WhatIf\r\n", "Get-CsWindowsService -WhatIf: Get-CsWindowsService does not support ShouldProcess"},
	{"product-cmdlet", "lync2013", "Get-CsServerPatchVersion\r\n", "Get-CsServerPatchVersion: not in Windows PowerShell 3.0, and not in lync2013's module"},
	{"product-parameter", "lync2013", "Get-CsService -VideoGateway\r\n", "Get-CsService -VideoGateway: not in lync2013's SkypeForBusiness module"},
	{"not-in-ps30", "sfb2019", "Get-ScheduledTask -TaskName 'sfbpatch'\r\n", "Get-ScheduledTask: not in Windows PowerShell 3.0: it is in the ScheduledTasks module"},
	{"in-neither-table", "sfb2019", "Get-FileHash -LiteralPath 'C:\\x.exe'\r\n", "Get-FileHash: in neither cmdlet table"},
	{"positional-argument", "sfb2019", "Write-Warning 'a' 'b'\r\n", "Write-Warning 'b': positional argument 2"},
	{"abbreviation", "sfb2019", "Get-Service -Na 'W3SVC'\r\n", "Get-Service -Na: an abbreviation of -Name"},
	{"ambiguous-abbreviation", "sfb2019", "Get-Service -D\r\n", "Get-Service -D: an ambiguous abbreviation"},
	{"newer-common-parameter", "sfb2019", "Get-Service -Name 'W3SVC' -InformationAction Ignore\r\n", "-InformationAction: a common parameter newer than"},
	{"splat", "sfb2019", "$p = @{ Name = 'W3SVC' }\r\nGet-Service @p\r\n", "Get-Service @p: a splat"},
}

// TestCmdletCalls checks every cmdlet call of every golden script against
// Microsoft's reference (cmdletcheck_test.go): Goldens reports all the
// findings at once, CanFail runs the check on cmdletSnippets. Both parse
// in one psparse run.
func TestCmdletCalls(t *testing.T) {
	t.Parallel()
	ref := loadCmdletReference(t)
	goldens, err := filepath.Glob(filepath.Join(generator.GoldenDir, "*.ps1.golden"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden scripts in %s: %v", generator.GoldenDir, err)
	}
	dir := t.TempDir()
	paths := goldens
	for _, sn := range cmdletSnippets {
		path := filepath.Join(dir, sn.name+".ps1")
		src := fmt.Sprintf("# sfbpatch-facts: {\"product\":%q}\r\n%s", sn.product, sn.src)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	scripts, err := pscheck.New(t).Parse(paths...)
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *pscheck.Script) []string {
		product, err := scriptProduct(s.Source)
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", filepath.Base(s.File), err)}
		}
		return cmdletProblems(ref, s, product)
	}

	t.Run("Goldens", func(t *testing.T) {
		var findings []string
		for i := range goldens {
			findings = append(findings, check(&scripts[i])...)
		}
		if len(findings) > 0 {
			t.Errorf("%d calls disagree with Microsoft's reference:\n%s", len(findings), strings.Join(findings, "\n"))
		}
	})
	t.Run("CanFail", func(t *testing.T) {
		for i, sn := range cmdletSnippets {
			s := &scripts[len(goldens)+i]
			if len(s.Errors) > 0 {
				t.Errorf("%s: the snippet must parse:\n%s", sn.name, s.ErrorText())
				continue
			}
			findings := check(s)
			switch {
			case sn.want == "" && len(findings) > 0:
				t.Errorf("%s: want no finding, got:\n%s", sn.name, strings.Join(findings, "\n"))
			case sn.want != "" && (len(findings) != 1 || !strings.Contains(findings[0], sn.want)):
				t.Errorf("%s: want one finding with %q, got:\n%s", sn.name, sn.want, strings.Join(findings, "\n"))
			}
		}
	})
}

// scriptProduct reads the product from the script header's facts line.
func scriptProduct(src []byte) (string, error) {
	const prefix = "# sfbpatch-facts: "
	for _, line := range strings.Split(string(src), "\n") {
		facts, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), prefix)
		if !ok {
			continue
		}
		var f struct {
			Product string `json:"product"`
		}
		if err := json.Unmarshal([]byte(facts), &f); err != nil {
			return "", fmt.Errorf("its %q line: %v", prefix, err)
		}
		if _, ok := generator.LookupProduct(f.Product); !ok {
			return "", fmt.Errorf("its %q line names no product sfbpatch knows: %q", prefix, f.Product)
		}
		return f.Product, nil
	}
	return "", errors.New("no " + prefix + "line in the header")
}
