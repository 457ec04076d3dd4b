package templates

import (
	"io/fs"
	"strings"
	"testing"
)

// TestTemplateLinesAreShort: no template line is longer than 160
// characters. A long output line is cut in the template with a comment
// that holds the line break, {{/* and */}}, which writes nothing.
func TestTemplateLinesAreShort(t *testing.T) {
	names, err := fs.Glob(FS, "*.tmpl")
	if err != nil || len(names) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, name := range names {
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if len(line) > 160 {
				t.Errorf("%s:%d: %d characters, over 160", name, i+1, len(line))
			}
		}
	}
}
