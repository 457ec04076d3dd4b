package generator

import (
	"fmt"
	"strings"
	"unicode"
)

// singleQuotes are the five characters PowerShell's tokenizer treats as a
// single quote: ' and U+2018 to U+201B. Any one of them ends a verbatim
// string, so every one must be doubled inside it.
const singleQuotes = "'\u2018\u2019\u201a\u201b"

// PSQuote returns s as a PowerShell verbatim (single-quoted) string
// literal. It doubles each single-quote character, the rule of PowerShell's
// CodeGeneration.EscapeSingleQuotedStringContent. Nothing else is special
// inside a verbatim string: no $ expansion, no backtick escapes.
// Every value that comes from the user reaches the script through here.
func PSQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if strings.ContainsRune(singleQuotes, r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// CommentText makes s safe on one line of a PowerShell # comment, where a
// line break would end the comment and turn the rest into code. Control
// characters (C0, DEL, C1 including U+0085) and U+2028/U+2029 become
// \uXXXX, which is also how JSON writes them, so the facts line of the
// script header still parses as the same JSON.
func CommentText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
