package generator

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Problem is one thing wrong with the facts. Field is the fact's key (see
// Fields); the command line decides how to spell it for the user.
type Problem struct {
	// Line is where it is in its file, from 1; 0 for none (a flag, a
	// facts file's field, the whole file).
	Line    int
	Field   string
	Message string
}

// Error makes one problem an error: "line N: field: message".
func (p Problem) Error() string { return p.String("") }

// String says the problem as FILE:LINE: field: message, leaving out what it
// lacks; without a file, a line is "line N".
func (p Problem) String(file string) string {
	at := file
	switch {
	case p.Line > 0 && file == "":
		at = fmt.Sprintf("line %d", p.Line)
	case p.Line > 0:
		at = fmt.Sprintf("%s:%d", file, p.Line)
	}
	var parts []string
	for _, part := range []string{at, p.Field, p.Message} {
		if part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, ": ")
}

// Problems is every problem Validate found; it is the error Plan returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String("")
	}
	return strings.Join(lines, "\n")
}

// Validate returns every problem with the facts at once, in the order of
// Fields. Facts that could not be used safely are rejected here: quoting
// in the script is the second wall, not the first.
func Validate(f Facts) Problems {
	var ps Problems
	for _, field := range Fields {
		msg := field.validate(f)
		if msg == "" && field.Key == "target_version" {
			msg = targetForProduct(f)
		}
		if msg != "" {
			ps = append(ps, Problem{Field: field.Key, Message: msg})
		}
	}
	return ps
}

// targetForProduct checks a target version against the product: its
// Core Components versions are the product's major.minor.build (Lync
// Server 2013 5.0.8308.x, Skype for Business Server 2015 6.0.9319.x, 2019
// 7.0.2046.x; DOMAIN.md section 2), and the release version itself is no
// update: every server is at it.
func targetForProduct(f Facts) string {
	p, ok := LookupProduct(f.Product)
	if !ok || f.TargetVersion == "" || p.ReleaseVersion == "" {
		return ""
	}
	base := strings.TrimSuffix(p.ReleaseVersion, ".0")
	switch {
	case !strings.HasPrefix(f.TargetVersion, base+"."):
		return fmt.Sprintf("got %q, which is no %s version; allowed: %s.N, the Core Components version of the update", f.TargetVersion, p.Name, base)
	case f.TargetVersion == p.ReleaseVersion:
		return fmt.Sprintf("got %q, the release version of %s, which every server has; allowed: %s.N with N above 0, the Core Components version of the update", f.TargetVersion, p.Name, base)
	}
	return ""
}

// checkSHA256 accepts 64 hexadecimal digits.
func checkSHA256(v string) string {
	if !sha256Pattern.MatchString(v) {
		return describe(v) + "; allowed: exactly 64 hexadecimal digits (the installer's SHA-256)"
	}
	return ""
}

// describe quotes a bad value for an error message, escaping anything a
// terminal would not show as itself; a long value is cut to 80
// characters and its length given.
func describe(v string) string {
	if v == "" {
		return "missing"
	}
	suffix := ""
	if n := utf8.RuneCountInString(v); n > 80 {
		v = string([]rune(v)[:80]) + "..."
		suffix = fmt.Sprintf(" (%d characters)", n)
	}
	for _, r := range v {
		if !unicode.IsGraphic(r) || r == '"' || r >= utf8.RuneSelf {
			return "got " + strconv.QuoteToASCII(v) + suffix
		}
	}
	return `got "` + v + `"` + suffix
}

var (
	dnsLabel      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
	sha256Pattern = regexp.MustCompile(`^[0-9A-Fa-f]{64}$`)
	versionPart   = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	allNumeric    = regexp.MustCompile(`^[0-9.]*[0-9][0-9.]*$`)
)

// checkFQDN accepts a DNS name of two or more labels, letters, digits and
// hyphens only (RFC 1123), as Install-CsDatabase -SqlServerFqdn expects.
// deviceNames are the names Windows opens as devices, with any extension:
// a file named con.contoso.com.ps1 is the console.
var deviceNames = []string{"con", "prn", "aux", "nul",
	"com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9",
	"lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9"}

// checkServerFQDN is checkFQDN, and a host name that is no Windows device
// name: batch names the server's files after it.
func checkServerFQDN(v string) string {
	if problem := checkFQDN(v); problem != "" {
		return problem
	}
	host, _, _ := strings.Cut(strings.ToLower(v), ".")
	if slices.Contains(deviceNames, host) {
		return describe(v) + ": " + host + " is a Windows device name, which no computer can have, and a file named after it (batch writes " + strings.ToLower(v) + ".ps1) opens the device; allowed: the server's real FQDN"
	}
	return ""
}

func checkFQDN(v string) string {
	const allowed = "; allowed: a fully qualified DNS name such as sql01.contoso.com (letters, digits, hyphens and dots)"
	if strings.Contains(v, `\`) {
		return describe(v) + ": give the server's FQDN only; a named SQL instance is read from the topology" + allowed
	}
	for _, r := range v {
		if !(r == '.' || r == '-' || isAlphanumeric(r)) {
			return fmt.Sprintf("%s: holds %s, which a DNS name cannot hold%s", describe(v), describeRune(r), allowed)
		}
	}
	if len(v) > 253 {
		return fmt.Sprintf("is %d characters long, over the 253 a DNS name may have%s", len(v), allowed)
	}
	if net.ParseIP(v) != nil {
		return describe(v) + ": an IP address, not a name: give the FQDN from the topology" + allowed
	}
	if allNumeric.MatchString(v) {
		return describe(v) + ": only digits and dots: a host name has a letter; give the FQDN from the topology" + allowed
	}
	if strings.HasSuffix(v, ".") && !strings.HasSuffix(v, "..") && len(v) > 1 {
		return describe(v) + ": drop the trailing dot" + allowed
	}
	labels := strings.Split(v, ".")
	if len(labels) < 2 {
		return describe(v) + ": not fully qualified" + allowed
	}
	for _, l := range labels {
		switch {
		case l == "":
			return describe(v) + ": empty label" + allowed
		case len(l) > 63:
			return fmt.Sprintf("%s: label %q is %d characters long, over the 63 a DNS label may have%s", describe(v), l, len(l), allowed)
		case !dnsLabel.MatchString(l):
			return describe(v) + ": label " + strconv.QuoteToASCII(l) + " is not a DNS label (no leading or trailing hyphen, no other characters)" + allowed
		}
	}
	return ""
}

// checkVersion accepts a four-part version a.b.c.d, as [version] parses it
// and as the products number their cumulative updates (e.g. 6.0.9319.619).
func checkVersion(v string) string {
	const allowed = "; allowed: four numbers separated by dots, such as 6.0.9319.619"
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return describe(v) + allowed
	}
	for _, p := range parts {
		if !versionPart.MatchString(p) {
			return describe(v) + allowed
		}
		if n, err := strconv.ParseInt(p, 10, 32); err != nil || n > 2147483647 {
			return describe(v) + ": part " + p + " is too large" + allowed
		}
	}
	return ""
}

// maxPath is MAX_PATH less the terminating NUL: Windows Server 2012 and
// the installer do not take longer paths.
const maxPath = 259

var reservedNames = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// checkWindowsPath accepts an absolute Windows path to an .exe file: a
// drive path (D:\Updates\x.exe) or a UNC path (\\server\share\x.exe),
// without the characters Windows forbids in names, control characters or
// invisible formatting characters a reviewer could not see.
func checkWindowsPath(v string) string {
	const allowed = `; allowed: an absolute Windows path to the installer, such as D:\Updates\SkypeServerUpdateInstaller.exe or \\fileserver\share\SkypeServerUpdateInstaller.exe`
	if !utf8.ValidString(v) {
		return "is not valid UTF-8 text" + allowed
	}
	// Windows counts MAX_PATH in UTF-16 code units, not in characters.
	if n := len(utf16.Encode([]rune(v))); n > maxPath {
		return fmt.Sprintf("is %d UTF-16 code units long, over the %d Windows allows in a path%s", n, maxPath, allowed)
	}
	for _, r := range v {
		if msg := checkPathRune(r); msg != "" {
			return describe(v) + ": " + msg + allowed
		}
	}
	var rest string
	switch {
	case len(v) >= 3 && isDriveLetter(v[0]) && v[1] == ':' && v[2] == '\\':
		rest = v[3:]
	case strings.HasPrefix(v, `\\`):
		rest = v[2:]
		parts := strings.SplitN(rest, `\`, 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
			return describe(v) + `: a UNC path needs \\server\share\file` + allowed
		}
	default:
		return describe(v) + ": not an absolute Windows path" + allowed
	}
	if strings.Contains(rest, ":") {
		return describe(v) + `: holds ":" outside the drive letter (Windows forbids it in names)` + allowed
	}
	names := strings.Split(rest, `\`)
	for _, name := range names {
		switch {
		case name == "":
			return describe(v) + `: empty folder or file name (doubled or trailing \)` + allowed
		case name == "." || name == "..":
			return describe(v) + `: holds a "." or ".." segment; give the path without them` + allowed
		case len(utf16.Encode([]rune(name))) > 255:
			return describe(v) + ": a folder or file name is over the 255 characters Windows allows" + allowed
		case strings.HasSuffix(name, " ") || strings.HasSuffix(name, "."):
			return describe(v) + ": the name " + strconv.QuoteToASCII(name) + " ends in a space or a dot, which Windows drops" + allowed
		case reservedNames[strings.ToUpper(strings.SplitN(name, ".", 2)[0])]:
			return describe(v) + ": " + strconv.QuoteToASCII(name) + " is a reserved device name in Windows" + allowed
		}
	}
	if !strings.HasSuffix(strings.ToLower(names[len(names)-1]), ".exe") {
		return describe(v) + ": must name the update installer's .exe file" + allowed
	}
	return ""
}

// lookalikeSeparators look like \ or / but are ordinary characters to
// Windows: a reviewer would read a different folder than the one used.
const lookalikeSeparators = "\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c"

// lookalikePunctuation look like the . of an extension or the : of a
// drive but are ordinary characters to Windows: D\uff1a\\x\u2024exe is
// no drive and no .exe.
const lookalikePunctuation = "\u2024\ufe52\uff0e\u0701\u0702\ua4f8\u2236\ufe13\ufe55\uff1a\u02d0\ua789\u0589\u0703\u0704"

// checkPathRune returns why r may not be in an update path, or "".
func checkPathRune(r rune) string {
	switch {
	case unicode.IsControl(r):
		return fmt.Sprintf("holds control character U+%04X", r)
	case unicode.IsSpace(r) && r != ' ':
		return fmt.Sprintf("holds whitespace character U+%04X other than a plain space", r)
	case !unicode.IsGraphic(r) && r != ' ', r == unicode.ReplacementChar, r == '\u2800',
		unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		// Format characters, unassigned code points, noncharacters, private
		// use and fillers: nothing a reviewer could see or type.
		return fmt.Sprintf("holds invisible or unassigned character U+%04X, which a reviewer could not see", r)
	case strings.ContainsRune(lookalikeSeparators, r):
		return fmt.Sprintf("holds %s, which looks like a path separator but is not one", describeRune(r))
	case strings.ContainsRune(lookalikePunctuation, r):
		return fmt.Sprintf("holds %s, which looks like a dot or a colon but is not one", describeRune(r))
	case r == '/':
		return "use backslashes (\\) as separators"
	case strings.ContainsRune(`<>"|?*`, r):
		return fmt.Sprintf("holds %q, which Windows forbids in paths", r)
	}
	return ""
}

// isAlphanumeric is true for an ASCII letter or digit.
func isAlphanumeric(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isDriveLetter(b byte) bool {
	return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')
}

// describeRune names a character for an error message: visible ones as
// themselves, the others by code point.
func describeRune(r rune) string {
	if unicode.IsGraphic(r) && r != ' ' {
		return fmt.Sprintf("%q (U+%04X)", r, r)
	}
	return fmt.Sprintf("U+%04X", r)
}
