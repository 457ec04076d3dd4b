package generator

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// PSQuote returns s as a PowerShell expression of 7-bit ASCII whose value
// is s: a verbatim (single-quoted) string literal, with each single-quote
// character doubled (the rule of PowerShell's
// CodeGeneration.EscapeSingleQuotedStringContent); nothing else is special
// inside a verbatim string, no $ expansion, no backtick escapes. A string
// that is not all ASCII becomes a parenthesized chain of literals and
// [char] casts, one per UTF-16 code unit, that starts with a literal so
// that + joins strings: ('D:\' + [char]0x05D1 + '\x.exe'). A script then
// reads the same in any code page, with or without a byte order mark.
// Every value that comes from the user reaches the script through here.
func PSQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	chain := false
	open := false // inside a literal of the chain
	for _, r := range s {
		if r < utf8.RuneSelf {
			if !open {
				if b.Len() > 0 {
					b.WriteString(" + ")
				}
				b.WriteByte('\'')
				open = true
			}
			if r == '\'' {
				// PowerShell also ends a verbatim string at U+2018 to U+201B,
				// which are never inside a literal here: they are not ASCII.
				b.WriteRune(r)
			}
			b.WriteRune(r)
			continue
		}
		if b.Len() == 0 {
			b.WriteString("''")
		}
		if open {
			b.WriteByte('\'')
			open = false
		}
		chain = true
		for _, unit := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, " + [char]0x%04X", unit)
		}
	}
	if b.Len() == 0 {
		return "''"
	}
	if open {
		b.WriteByte('\'')
	}
	if chain {
		return "(" + b.String() + ")"
	}
	return b.String()
}

// CommentText makes s safe on one line of a PowerShell # comment, where a
// line break would end the comment and turn the rest into code, and keeps
// the line 7-bit ASCII. Control characters (C0, DEL) and every character
// beyond ASCII become \uXXXX (UTF-16 code units), which is also how JSON
// writes them, so the facts line of the script header still parses as the
// same JSON.
func CommentText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && !unicode.IsControl(r) {
			b.WriteRune(r)
			continue
		}
		for _, unit := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, unit)
		}
	}
	return b.String()
}

// CommentValue shows a fact's value on a line of the script header: as it
// is when it is printable ASCII that cannot be read another way, else as a
// JSON string in CommentText's escapes, so that no two values show the
// same (the folder u05d1 and the letter U+05D1 differ: D:\u05d1 and
// "D:\\u05d1" against "D:\u05d1").
func CommentValue(s string) string {
	plain := !strings.Contains(s, `\u`) && !strings.HasPrefix(s, `"`)
	for _, r := range s {
		if r < ' ' || r >= 0x7f {
			plain = false
		}
	}
	if plain {
		return s
	}
	quoted, _ := json.Marshal(s) // a string always marshals
	return CommentText(string(quoted))
}
