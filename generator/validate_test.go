package generator

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func standard() Facts { return Facts{Product: "sfb2015", Edition: EditionStandard} }

func enterprise(fqdn string) Facts {
	return Facts{Product: "sfb2019", Edition: EditionEnterprise, SQLServerFQDN: fqdn}
}

// fields returns the fields the problems name, in order.
func fields(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Field)
	}
	return out
}

func TestValidateAcceptsGoodFacts(t *testing.T) {
	good := []Facts{
		standard(),
		enterprise("sql01.contoso.com"),
		{Product: "lync2013", Edition: EditionEnterprise, SQLServerFQDN: "SQL-BE01.Corp.Contoso.COM", CollocatedStores: true},
		{Product: "sfb2019", Edition: EditionStandard, UpdatePath: `D:\Updates\O'Brien's $CU; #1 & [x]\SkypeServerUpdateInstaller.exe`},
		{Product: "sfb2019", Edition: EditionStandard, UpdatePath: `\\files01\patches$\SkypeServerUpdateInstaller.EXE`},
		{Product: "sfb2019", Edition: EditionStandard, UpdatePath: "D:\\Mises à jour\\Skype Entreprise\\SkypeServerUpdateInstaller.exe"},
		{Product: "sfb2015", Edition: EditionStandard, ServerFQDN: "se01.contoso.com",
			UpdateSHA256: strings.Repeat("aB", 32), TargetVersion: "6.0.9319.619"},
		{Product: "sfb2015", Edition: EditionStandard, TargetVersion: "6.0.9319.102"},
	}
	for _, f := range good {
		if ps := Validate(f); len(ps) != 0 {
			t.Errorf("%+v: unexpected problems:\n%v", f, ps)
		}
	}
}

func TestValidateRejectsBadFQDNs(t *testing.T) {
	bad := map[string]string{
		"empty label":          "sql01..contoso.com",
		"leading dot":          ".sql01.contoso.com",
		"trailing dot":         "sql01.contoso.com.",
		"leading hyphen":       "-sql01.contoso.com",
		"trailing hyphen":      "sql01-.contoso.com",
		"label over 63":        strings.Repeat("a", 64) + ".contoso.com",
		"name over 253":        strings.Repeat(strings.Repeat("a", 60)+".", 4) + "contoso.com",
		"single label":         "sql01",
		"space":                "sql 01.contoso.com",
		"leading space":        " sql01.contoso.com",
		"apostrophe":           "sql01'.contoso.com",
		"left single quote":    "sql01\u2018.contoso.com",
		"right single quote":   "sql01\u2019.contoso.com",
		"low single quote":     "sql01\u201a.contoso.com",
		"reversed quote":       "sql01\u201b.contoso.com",
		"double quote":         `sql01".contoso.com`,
		"left double quote":    "sql01\u201c.contoso.com",
		"right double quote":   "sql01\u201d.contoso.com",
		"low double quote":     "sql01\u201e.contoso.com",
		"dollar":               "sql$01.contoso.com",
		"subexpression":        "$(calc).contoso.com",
		"backtick":             "sql`01.contoso.com",
		"semicolon":            "sql01;calc.contoso.com",
		"pipe":                 "sql01|calc.contoso.com",
		"newline":              "sql01.contoso.com\nStop-Computer",
		"named instance":       `sql01.contoso.com\RTC`,
		"underscore":           "sql_01.contoso.com",
		"non-ASCII":            "sqlé.contoso.com",
		"zero-width space":     "sql01\u200b.contoso.com",
		"cyrillic confusable":  "sq\u04cf01.contoso.com",
		"comment close":        "sql01#>.contoso.com",
		"fullwidth semicolon":  "sql01\uff1b.contoso.com",
		"trailing newline":     "sql01.contoso.com\n",
		"only dots":            "...",
		"label of only hyphen": "sql01.-.com",
		"IPv4 address":         "10.0.0.12",
		"all numeric":          "10.0.12",
		"IPv6 address":         "fe80::1",
	}
	for name, fqdn := range bad {
		for _, field := range []string{"sql_server_fqdn", "server_fqdn"} {
			f := enterprise("sql01.contoso.com")
			if field == "sql_server_fqdn" {
				f.SQLServerFQDN = fqdn
			} else {
				f.ServerFQDN = fqdn
			}
			ps := Validate(f)
			if diff := cmp.Diff([]string{field}, fields(ps)); diff != "" {
				t.Errorf("%s (%s = %q): problems (-want +got):\n%s", name, field, fqdn, diff)
				continue
			}
			if !strings.Contains(ps[0].Message, "allowed") && !strings.Contains(ps[0].Message, "over the") {
				t.Errorf("%s: message does not say what is allowed: %s", name, ps[0].Message)
			}
		}
	}
}

func TestValidateCrossFieldRules(t *testing.T) {
	cases := []struct {
		name  string
		facts Facts
		want  Problems
	}{
		{"standard with SQL Server FQDN", Facts{Product: "sfb2015", Edition: "standard", SQLServerFQDN: "sql01.contoso.com"},
			Problems{{Field: "sql_server_fqdn", Message: "not allowed with edition standard (a Standard Edition server updates its local databases)"}}},
		{"standard with collocated stores", Facts{Product: "sfb2015", Edition: "standard", CollocatedStores: true},
			Problems{{Field: "collocated_stores", Message: "not allowed with edition standard (it applies to an Enterprise Edition Back End only)"}}},
		{"enterprise without SQL Server FQDN", Facts{Product: "sfb2015", Edition: "enterprise", CollocatedStores: true},
			Problems{{Field: "sql_server_fqdn", Message: "required with edition enterprise (the Back End SQL Server, e.g. sql01.contoso.com)"}}},
		{"unknown product and edition", Facts{Product: "ocs2007", Edition: "Standard"},
			Problems{
				{Field: "product", Message: `got "ocs2007"; allowed: lync2013, sfb2015, sfb2019`},
				{Field: "edition", Message: `got "Standard"; allowed: standard, enterprise`},
			}},
		{"nothing at all", Facts{},
			Problems{
				{Field: "product", Message: "missing; allowed: lync2013, sfb2015, sfb2019"},
				{Field: "edition", Message: "missing; allowed: standard, enterprise"},
			}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, Validate(c.facts)); diff != "" {
			t.Errorf("%s: problems (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	f := Facts{Product: "x", Edition: "enterprise", SQLServerFQDN: "bad name", UpdatePath: "x.exe",
		ServerFQDN: "fe01", UpdateSHA256: "12", TargetVersion: "1.2"}
	want := []string{"product", "sql_server_fqdn", "update_path", "server_fqdn", "update_sha256", "target_version"}
	if diff := cmp.Diff(want, fields(Validate(f))); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// TestValidateNamesTheFix: some mistakes have one fix, which the message
// gives; a long value is cut, with its length.
func TestValidateNamesTheFix(t *testing.T) {
	for value, want := range map[string]string{
		"sql01.contoso.com.": "drop the trailing dot",
		"192.168.1.10":       "an IP address, not a name: give the FQDN from the topology",
	} {
		ps := Validate(enterprise(value))
		if len(ps) != 1 || !strings.Contains(ps[0].Message, want) {
			t.Errorf("%.40q: %v, want a message with %q", value, ps, want)
		}
	}
	long := Facts{Product: strings.Repeat("a", 500), Edition: EditionStandard}
	want := `got "` + strings.Repeat("a", 80) + `..." (500 characters)`
	if ps := Validate(long); len(ps) != 1 || !strings.Contains(ps[0].Message, want) {
		t.Errorf("a 500-character product: %v, want a message with %q", ps, want)
	}
}

func TestValidateRejectsBadUpdatePaths(t *testing.T) {
	bad := map[string]string{
		"relative":             `Updates\SkypeServerUpdateInstaller.exe`,
		"dot relative":         `.\SkypeServerUpdateInstaller.exe`,
		"drive relative":       `D:SkypeServerUpdateInstaller.exe`,
		"rooted without drive": `\Updates\SkypeServerUpdateInstaller.exe`,
		"whitespace only":      "   ",
		"newline":              "D:\\Updates\\x.exe\n& calc.exe",
		"carriage return":      "D:\\Updates\\x\r.exe",
		"tab":                  "D:\\Up\tdates\\x.exe",
		"NUL":                  "D:\\Updates\\x\x00.exe",
		"escape":               "D:\\Updates\\x\x1b[31m.exe",
		"DEL":                  "D:\\Updates\\x\x7f.exe",
		"C1 control":           "D:\\Updates\\x\u0085.exe",
		"less than":            `D:\Updates\<x>.exe`,
		"greater than":         `D:\Updates\x#>.exe`,
		"double quote":         `D:\Updates\"x".exe`,
		"pipe":                 `D:\Updates\x|calc.exe`,
		"question mark":        `D:\Updates\x?.exe`,
		"star":                 `D:\Updates\*.exe`,
		"colon in name":        `D:\Updates\x:stream.exe`,
		"forward slashes":      `D:/Updates/SkypeServerUpdateInstaller.exe`,
		"trailing backslash":   `D:\Updates\`,
		"doubled backslash":    `D:\Updates\\x.exe`,
		"dot dot":              `D:\Updates\..\x.exe`,
		"trailing space name":  `D:\Updates \x.exe`,
		"trailing dot name":    `D:\Updates.\x.exe`,
		"reserved name":        `D:\Updates\CON\x.exe`,
		"reserved file":        `D:\Updates\nul.exe`,
		"not an exe":           `D:\Updates\SkypeServerUpdateInstaller.msp`,
		"one dot leader":       "D:\\Updates\\SkypeServerUpdateInstaller\u2024exe",
		"fullwidth full stop":  "D:\\Updates\\SkypeServerUpdateInstaller\uff0eexe",
		"ratio colon":          "D\u2236\\Updates\\SkypeServerUpdateInstaller.exe",
		"fullwidth colon":      "D\uff1a\\Updates\\SkypeServerUpdateInstaller.exe",
		"UNC without share":    `\\server\x.exe`,
		"too long":             `D:\` + strings.Repeat("a", 300) + `.exe`,
		"zero-width space":     "D:\\Up\u200bdates\\x.exe",
		"bidi override":        "D:\\Updates\\\u202eexe.x",
		"BOM inside":           "D:\\Updates\\\ufeffx.exe",
		"line separator":       "D:\\Updates\\x\u2028.exe",
		"no-break space":       "D:\\Updates\\x\u00a0y.exe",
		"invalid UTF-8":        "D:\\Updates\\x\xff.exe",
		"private use":          "D:\\Updates\\x\ue000.exe",
	}
	for name, path := range bad {
		f := standard()
		f.UpdatePath = path
		ps := Validate(f)
		if diff := cmp.Diff([]string{"update_path"}, fields(ps)); diff != "" {
			t.Errorf("%s (%q): problems (-want +got):\n%s", name, path, diff)
		}
	}
}

func TestValidateRejectsBadDigestsAndVersions(t *testing.T) {
	for _, sha := range []string{"abc", strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("g", 64),
		strings.Repeat("a", 63) + " ", "sha256:" + strings.Repeat("a", 64), strings.Repeat("a", 63) + "\n"} {
		f := standard()
		f.UpdateSHA256 = sha
		if diff := cmp.Diff([]string{"update_sha256"}, fields(Validate(f))); diff != "" {
			t.Errorf("sha %q (-want +got):\n%s", sha, diff)
		}
	}
	for _, v := range []string{"6.0.9319", "6.0.9319.619.1", "6.0.9319.x", "6.0.9319.-1", "6.0.9319.+1", "06.0.9319.619",
		"6.0.9319.99999999999", " 6.0.9319.619", "6..9319.619", "v6.0.9319.619", "6.0.9319.619'"} {
		f := standard()
		f.TargetVersion = v
		if diff := cmp.Diff([]string{"target_version"}, fields(Validate(f))); diff != "" {
			t.Errorf("version %q (-want +got):\n%s", v, diff)
		}
	}
}

// step11Options follow the doc's step 11 command in every variant: its
// report goes to -LogDirectory, the scoped check decides rather than its
// first non-fatal error, and it never prompts in the child.
const step11Options = " -Report $DatabaseReport -ErrorAction Continue -Confirm:$false"

func TestBuildPlanStep11Variants(t *testing.T) {
	cases := []struct {
		facts Facts
		want  string
	}{
		{standard(), "Install-CsDatabase -Update -LocalDatabases" + step11Options},
		{enterprise("sql01.contoso.com"), "Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn" + step11Options},
		{Facts{Product: "lync2013", Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com", CollocatedStores: true},
			"Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn -ExcludeCollocatedStores" + step11Options},
	}
	for _, c := range cases {
		p, err := BuildPlan(c.facts)
		if err != nil {
			t.Fatal(err)
		}
		var docSteps []int
		var step11 []string
		for _, s := range p.Steps {
			docSteps = append(docSteps, s.DocStep)
			if s.DocStep == 11 {
				step11 = s.Commands
			}
		}
		if diff := cmp.Diff([]string{c.want}, step11); diff != "" {
			t.Errorf("%+v: step 11 (-want +got):\n%s", c.facts, diff)
		}
		if diff := cmp.Diff([]int{4, 5, 6, 7, 8, 9, 10, 11, 0}, docSteps); diff != "" {
			t.Errorf("doc steps (-want +got):\n%s", diff)
		}
	}
}
