package generator

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJSONIsThePlan: the JSON output decodes, strictly, into the very plan
// it was rendered from.
func TestJSONIsThePlan(t *testing.T) {
	for name, f := range validCases(t) {
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(generate(t, f, FormatJSON)))
		dec.DisallowUnknownFields()
		var got Plan
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(plan, got); diff != "" {
			t.Errorf("%s: JSON does not decode to the plan (-plan +json):\n%s", name, diff)
		}
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonFields returns the JSON names of a struct type's fields, checking
// on the way that every field of it and of the structs it holds has a
// snake_case json tag.
func jsonFields(t *testing.T, typ reflect.Type) []string {
	t.Helper()
	var names []string
	for i := range typ.NumField() {
		field := typ.Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if !snakeCase.MatchString(name) {
			t.Errorf("%s.%s: json name %q is not snake_case", typ.Name(), field.Name, name)
		}
		names = append(names, name)
		inner := field.Type
		if inner.Kind() == reflect.Slice {
			inner = inner.Elem()
		}
		if inner.Kind() == reflect.Struct {
			jsonFields(t, inner)
		}
	}
	return names
}

// TestJSONFieldNamesAreDocumented: every field has a snake_case name, and
// the README's tables name every top-level and every step field.
func TestJSONFieldNamesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Plan](), reflect.TypeFor[Step]()} {
		for _, name := range jsonFields(t, typ) {
			if !bytes.Contains(readme, []byte("| `"+name+"` |")) {
				t.Errorf("README.md: no table row for the %s field `%s`", typ.Name(), name)
			}
		}
	}
}
