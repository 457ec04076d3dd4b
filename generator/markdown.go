package generator

import (
	"strings"
	"unicode/utf8"
)

// markdownSpecial are the characters that mean something inside a line of
// GitHub Flavored Markdown: emphasis (* _), code (`), links ([ ]), raw
// HTML and entities (< > &), table cells (|), strikethrough (~), math ($)
// and the escape itself (\). CommonMark lets a backslash escape any ASCII
// punctuation, so \X always shows X.
const markdownSpecial = "\\`*_[]<>&|~$"

// lineBreaks turn into spaces: a table row or a sentence must stay on one line.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// MarkdownText escapes s for use inside a line of Markdown: a table cell,
// a heading after its #, or a sentence after other text. It is not for the
// start of a line, where #, - or 1. would begin a block. It escapes only
// where an escape is needed, so that the text also reads well raw: a
// backslash before a letter, a digit or a space shows as itself (CommonMark
// escapes only ASCII punctuation), an underscore inside a word is never
// emphasis, and a PowerShell variable ($Name, $env:Name) becomes a code
// span, which no math or emphasis reaches.
func MarkdownText(s string) string {
	s = lineBreaks.Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '$' && i+1 < len(s) && isWordByte(s[i+1]):
			j := i + 1
			for j < len(s) && (isWordByte(s[j]) || s[j] == ':' && j+1 < len(s) && isWordByte(s[j+1])) {
				j++
			}
			b.WriteString("`" + s[i:j] + "`")
			i = j
			continue
		case r == '\\' && i+1 < len(s) && !isASCIIPunct(s[i+1]):
		case r == '_' && i > 0 && i+1 < len(s) && isWordByte(s[i-1]) && isWordByte(s[i+1]):
		case strings.ContainsRune(markdownSpecial, r):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// isWordByte is an ASCII letter, digit or underscore.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isASCIIPunct is what a CommonMark backslash escapes.
func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// MarkdownCode shows s verbatim as a code span in a table cell, so that a
// Windows path reads the same raw and rendered. The fence is one backtick
// longer than the longest run of backticks in s, with a space inside when
// s starts or ends with one. GitHub splits a table row on | before it
// reads code spans, so | is escaped even here (it shows as |).
func MarkdownCode(s string) string {
	s = lineBreaks.Replace(s)
	longest, run := 0, 0
	for _, r := range s {
		if r != '`' {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	fence := strings.Repeat("`", longest+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}
