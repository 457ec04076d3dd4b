package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sfbpatch/sfbpatch/generator"
)

// generateCmd holds the facts as flags. Pointers tell a flag the user gave
// from one left out, so that flags override the facts file field by field.
type generateCmd struct {
	Product          *string `help:"Server product: lync2013, sfb2015 or sfb2019. Default: sfb2015." placeholder:"PRODUCT"`
	Edition          *string `help:"Server edition: standard or enterprise. Required, here or in the facts file." placeholder:"EDITION"`
	SQLServerFQDN    *string `name:"sql-server-fqdn" help:"FQDN of the Back End SQL Server. Required with enterprise; an error with standard." placeholder:"FQDN"`
	CollocatedStores *bool   `help:"The Archiving or Monitoring databases are on the same SQL Server as the Back End (enterprise only)."`
	UpdatePath       *string `help:"Windows path of the update installer on the target server. Default: the product's installer file name in the script's own folder." placeholder:"PATH"`
	ServerFQDN       *string `name:"server-fqdn" help:"FQDN of the server to patch: the script refuses to run on any other host." placeholder:"FQDN"`
	UpdateSHA256     *string `name:"update-sha256" help:"SHA-256 of the update installer (64 hexadecimal digits): the script refuses any other file." placeholder:"HEX"`
	TargetVersion    *string `help:"Core Components version the update brings (a.b.c.d): at or above it, the update counts as installed." placeholder:"VERSION"`
	Format           string  `enum:"ps1,md,json" default:"ps1" help:"What to write: ps1 (the patch script), md (the reviewer's runbook in Markdown) or json (the plan, for CMDBs and automation). Default: ps1." placeholder:"FORMAT"`
	Output           string  `short:"o" default:"-" help:"File to write the output to; - writes to standard output." placeholder:"FILE"`
	Facts            string  `type:"existingfile" help:"JSON file holding the same facts (see the README for field names); flags override it." placeholder:"FILE"`
}

func (g *generateCmd) Run(e env) error {
	facts, source, empty, err := g.collect()
	if err != nil {
		return err
	}
	ps := empty
	for _, p := range generator.Validate(facts) {
		if !hasField(empty, p.Field) {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		return inputError(describeProblems(ps, source)...)
	}
	var buf bytes.Buffer
	opts := generator.Options{Format: generator.Format(g.Format), Version: generator.Version}
	if err := generator.Generate(&buf, facts, opts); err != nil {
		return err
	}
	if err := writeOutput(g.Output, buf.Bytes(), e.stdout); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--output %s: the folder %s does not exist; nothing was written", g.Output, filepath.Dir(g.Output))
		}
		return fmt.Errorf("--output %s: %w; nothing was written", g.Output, err)
	}
	return nil
}

// collect merges the facts file (if any) and the flags the user gave.
// source tells, per fact key, how the user spelled it. A fact given but
// empty is a problem: it is a mistake (an unset shell variable, say), not
// a request for the default, which is to leave the fact out.
func (g *generateCmd) collect() (generator.Facts, map[string]string, generator.Problems, error) {
	f := generator.Facts{}
	source := map[string]string{}
	givenEmpty := map[string]bool{}
	if g.Facts != "" {
		var err error
		if f, givenEmpty, err = readFacts(g.Facts); err != nil {
			return f, nil, nil, err
		}
		for _, field := range generator.Fields {
			source[field.Key] = g.Facts + ": " + field.Key
		}
	}
	set := func(key string, dst *string, v *string) {
		if v != nil {
			*dst = *v
			givenEmpty[key] = *v == ""
			delete(source, key)
		}
	}
	set("product", &f.Product, g.Product)
	set("edition", &f.Edition, g.Edition)
	set("sql_server_fqdn", &f.SQLServerFQDN, g.SQLServerFQDN)
	set("update_path", &f.UpdatePath, g.UpdatePath)
	set("server_fqdn", &f.ServerFQDN, g.ServerFQDN)
	set("update_sha256", &f.UpdateSHA256, g.UpdateSHA256)
	set("target_version", &f.TargetVersion, g.TargetVersion)
	if g.CollocatedStores != nil {
		f.CollocatedStores = *g.CollocatedStores
		delete(source, "collocated_stores")
	}
	if f.Product == "" && !givenEmpty["product"] {
		f.Product = generator.DefaultProduct
	}
	var empty generator.Problems
	for _, field := range generator.Fields {
		if givenEmpty[field.Key] {
			empty = append(empty, generator.Problem{Field: field.Key, Message: "given but empty: give a value, or leave it out"})
		}
	}
	return f, source, empty, nil
}

func hasField(ps generator.Problems, key string) bool {
	for _, p := range ps {
		if p.Field == key {
			return true
		}
	}
	return false
}

// describeProblems names each problem's field as the user wrote it: the
// flag, or the facts file and its field.
func describeProblems(ps generator.Problems, source map[string]string) []string {
	flags := map[string]string{}
	for _, field := range generator.Fields {
		flags[field.Key] = field.Flag
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		name, ok := source[p.Field]
		if !ok {
			name = flags[p.Field]
		}
		lines[i] = name + ": " + p.Message
	}
	return lines
}

// readFacts reads a facts file strictly: unknown fields and wrong types
// are errors that name the field. It also returns the fields given as "".
func readFacts(path string) (generator.Facts, map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return generator.Facts{}, nil, err
	}
	f, err := generator.DecodeFacts(data)
	if err != nil {
		return f, nil, inputError(path + ": " + describeJSONError(err))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\uFEFF")), &raw); err != nil {
		return f, nil, inputError(path + ": " + describeJSONError(err))
	}
	empty := map[string]bool{}
	for key, v := range raw {
		empty[key] = string(v) == `""`
	}
	return f, empty, nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "must hold one JSON object of facts, got a JSON " + typeErr.Value
	case errors.As(err, &typeErr):
		want := "a string"
		if typeErr.Type.Kind().String() == "bool" {
			want = "true or false"
		}
		return fmt.Sprintf("%s: got a JSON %s, allowed: %s", typeErr.Field, typeErr.Value, want)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		keys := make([]string, len(generator.Fields))
		for i, field := range generator.Fields {
			keys[i] = field.Key
		}
		return fmt.Sprintf("unknown field %s; allowed: %s", strings.TrimPrefix(err.Error(), "json: unknown field "), strings.Join(keys, ", "))
	default:
		return err.Error()
	}
}

// writeOutput writes the finished script to stdout or, atomically, to a
// file: a temporary file in the same folder, renamed over the target, so
// a reader never sees a partial script.
func writeOutput(path string, data []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
