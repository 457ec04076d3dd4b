package generator

import "strings"

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
// start of a line, where #, - or 1. would begin a block.
func MarkdownText(s string) string {
	s = lineBreaks.Replace(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
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
