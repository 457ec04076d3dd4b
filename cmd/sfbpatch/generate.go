package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sfbpatch/sfbpatch/generator"
)

// generateCmd holds the facts as flags. Pointers tell a flag the user gave
// from one left out, so that flags override the facts file field by field.
type generateCmd struct {
	// notes say which flags overrode the topology's facts.
	notes []string `kong:"-"`

	// factsInfo is the facts file as read (standard input included, when
	// it is a file), which -o must not replace.
	factsInfo os.FileInfo `kong:"-"`

	Product          *string `help:"${help_product}" placeholder:"PRODUCT"`
	Edition          *string `help:"${help_edition}" placeholder:"EDITION"`
	Role             *string `help:"${help_role}" placeholder:"ROLE"`
	PoolFQDN         *string `name:"pool-fqdn" help:"${help_pool_fqdn}" placeholder:"FQDN"`
	SQLServerFQDN    *string `name:"sql-server-fqdn" help:"${help_sql_server_fqdn}" placeholder:"FQDN"`
	CollocatedStores *bool   `help:"${help_collocated_stores}"`
	UpdatePath       *string `help:"${help_update_path}" placeholder:"PATH"`
	ServerFQDN       *string `name:"server-fqdn" help:"${help_server_fqdn}" placeholder:"FQDN"`
	UpdateSHA256     *string `name:"update-sha256" help:"${help_update_sha256}" placeholder:"HEX"`
	TargetVersion    *string `help:"${help_target_version}" placeholder:"VERSION"`
	Format           string  `enum:"ps1,md,json,manifest" default:"ps1" help:"What to write: ps1 (the patch script), md (the reviewer's runbook in Markdown), json (the plan, for CMDBs and automation) or manifest (every state-changing operation of the script, by run mode, for the change ticket). Default: ps1." placeholder:"FORMAT"`
	Output           string  `short:"o" default:"-" help:"File to write the output to; - writes to standard output. A file is replaced atomically and keeps its permissions (a new one: 0644 less the umask); a symbolic link is followed; a device is written to as it is." placeholder:"FILE"`
	Topology         string  `help:"A topology (Get-CsTopology -AsXml or .tbxml): the facts of the server --server names; flags override them, with a note." placeholder:"FILE"`
	Server           string  `help:"The server of --topology to generate for: a Standard Edition server or a Back End SQL Server, as sfbpatch topology lists them, or a Front End Server of their pools." placeholder:"FQDN"`
	Facts            *string `help:"JSON file holding the same facts (see the README for field names), UTF-8 or UTF-16 with a byte order mark, at most 1 MiB; - reads standard input. Flags override it." placeholder:"FILE"`
}

func (g *generateCmd) Run(e env) error {
	facts, source, empty, err := g.collect(e)
	if err != nil {
		return err
	}
	for _, note := range g.notes {
		fmt.Fprintln(e.stderr, visible(note))
	}
	opts := generator.Options{Format: generator.Format(g.Format), Version: generator.Version}
	plan, err := generator.BuildPlan(facts)
	var out []byte
	if err == nil {
		out, err = generator.Render(plan, opts)
	}
	var ps generator.Problems
	if errors.As(err, &ps) || len(empty) > 0 {
		// A fact given empty is reported as such, not as the problem its
		// empty value makes.
		all := empty
		for _, p := range ps {
			if !hasField(empty, p.Field) {
				all = append(all, p)
			}
		}
		return inputError(describeProblems(all, source)...)
	}
	if err != nil {
		return err
	}
	if g.Output == "" {
		return inputError("--output: given but empty: give a file, or - for standard output")
	}
	topology := statInput(g.Topology, e.stdin)
	if g.Topology == "" {
		topology = nil
	}
	if err := writeOutput(g.Output, out, e.stdout, g.factsInfo, topology); errors.Is(err, errInputAsOutput) {
		return inputError(fmt.Sprintf("--output %s: %v; nothing was written", g.Output, err))
	} else if err != nil {
		return fmt.Errorf("--output %s: %w; nothing was written", g.Output, describeOpenError(err))
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(e.stderr, "warning: "+w)
	}
	return nil
}

// collect merges the facts file (if any) and the flags the user gave.
// source tells, per fact key, how the user spelled it. A fact given but
// empty is a problem: it is a mistake (an unset shell variable, say), not
// a request for the default, which is to leave the fact out.
func (g *generateCmd) collect(e env) (generator.Facts, map[string]string, generator.Problems, error) {
	f := generator.Facts{}
	source := map[string]string{}
	givenEmpty := map[string]bool{}
	if g.Topology != "" || g.Server != "" {
		return g.fromTopology(e)
	}
	if g.Facts != nil && *g.Facts == "" {
		return f, nil, nil, inputError("--facts: given but empty: give a file, - for standard input, or leave it out")
	}
	if g.Facts != nil {
		var err error
		if f, givenEmpty, err = readFacts(*g.Facts, e.stdin); err != nil {
			return f, nil, nil, err
		}
		g.factsInfo = statInput(*g.Facts, e.stdin)
		for _, field := range generator.Fields {
			source[field.Key] = *g.Facts + ": " + field.Key
		}
	}
	g.applyFlags(&f, source, givenEmpty, false)
	if f.Product == "" && !givenEmpty["product"] {
		f.Product = generator.DefaultProduct
	}
	return f, source, emptyProblems(givenEmpty), nil
}

// applyFlags sets over f the facts the flags give, each then named by its
// flag rather than by source, and marks in givenEmpty those given empty.
// With noteOverrides, a flag that changes a fact of the topology says so.
func (g *generateCmd) applyFlags(f *generator.Facts, source map[string]string, givenEmpty map[string]bool, noteOverrides bool) {
	flags := g.textFlags()
	for _, field := range generator.Fields {
		v, dst := flags[field.Key], field.Text(f)
		if v == nil {
			continue
		}
		if noteOverrides && *dst != "" && *dst != *v {
			g.notes = append(g.notes, fmt.Sprintf("note: %s %s overrides the topology's %s", field.Flag, *v, *dst))
		}
		*dst = *v
		givenEmpty[field.Key] = *v == ""
		delete(source, field.Key)
	}
	if g.CollocatedStores != nil {
		if noteOverrides && *g.CollocatedStores != f.CollocatedStores {
			g.notes = append(g.notes, fmt.Sprintf("note: --collocated-stores=%v overrides the topology's %v", *g.CollocatedStores, f.CollocatedStores))
		}
		f.CollocatedStores = *g.CollocatedStores
		delete(source, "collocated_stores")
	}
}

// emptyProblems are the facts given empty, in the facts table's order.
func emptyProblems(givenEmpty map[string]bool) generator.Problems {
	var empty generator.Problems
	for _, field := range generator.Fields {
		if givenEmpty[field.Key] {
			empty = append(empty, generator.Problem{Field: field.Key, Message: "given but empty: give a value, or leave it out"})
		}
	}
	return empty
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

// readFacts reads a facts file ("-": standard input) strictly, through
// generator.DecodeFacts. It also returns the fields given as "".
func readFacts(path string, stdin io.Reader) (generator.Facts, map[string]bool, error) {
	data, err := readLimited(path, stdin, generator.MaxFactsSize, "a facts file")
	if path == "-" {
		path = "standard input"
	}
	if err != nil {
		return generator.Facts{}, nil, exitError{code: readCode(err), lines: []string{"--facts " + path + ": " + err.Error()}}
	}
	f, emptyKeys, err := generator.DecodeFacts(data)
	var ps generator.Problems
	switch {
	case errors.As(err, &ps):
		lines := make([]string, len(ps))
		for i, p := range ps {
			lines[i] = path + ": " + p.Field + ": " + p.Message
		}
		return f, nil, inputError(lines...)
	case err != nil:
		return f, nil, inputError(path + ": " + err.Error())
	}
	empty := map[string]bool{}
	for _, key := range emptyKeys {
		empty[key] = true
	}
	return f, empty, nil
}

// statInput returns what the facts were read from, when it is a file.
func statInput(path string, stdin io.Reader) os.FileInfo {
	if path == "-" {
		if f, ok := stdin.(*os.File); ok {
			info, _ := f.Stat()
			return info
		}
		return nil
	}
	info, _ := os.Stat(path)
	return info
}

// tooBig is an input over its size limit: bad input, as any other.
type tooBig string

func (e tooBig) Error() string { return string(e) }

// readCode is the exit code of an input that could not be read: bad
// input when it is too big, else a file that could not be read.
func readCode(err error) int {
	if errors.As(err, new(tooBig)) {
		return exitBadInput
	}
	return exitIO
}

// readLimited reads a file ("-": standard input) of at most limit bytes,
// refusing a bigger one before reading it whole.
func readLimited(path string, stdin io.Reader, limit int64, what string) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, describeOpenError(err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if info.IsDir() {
			return nil, errors.New("is a folder, not a file")
		}
		if info.Mode().IsRegular() && info.Size() > limit {
			return nil, tooBig(fmt.Sprintf("is %d bytes, over the %d bytes %s may have", info.Size(), limit, what))
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooBig(fmt.Sprintf("holds over the %d bytes %s may have", limit, what))
	}
	return data, nil
}

// describeOpenError words why a file cannot be opened, without Go's
// "open PATH:" prefix (the caller names the file).
func describeOpenError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// textFlags is the flag of each text fact, by key: nil when not given.
func (g *generateCmd) textFlags() map[string]*string {
	return map[string]*string{
		"product":         g.Product,
		"edition":         g.Edition,
		"role":            g.Role,
		"pool_fqdn":       g.PoolFQDN,
		"sql_server_fqdn": g.SQLServerFQDN,
		"update_path":     g.UpdatePath,
		"server_fqdn":     g.ServerFQDN,
		"update_sha256":   g.UpdateSHA256,
		"target_version":  g.TargetVersion,
	}
}

// fromTopology takes the facts of --server from --topology; a flag given
// overrides its fact, and says so when the two differ; one given empty is
// a problem, as without a topology.
func (g *generateCmd) fromTopology(e env) (generator.Facts, map[string]string, generator.Problems, error) {
	switch {
	case g.Topology == "" || g.Server == "":
		return generator.Facts{}, nil, nil, inputError("--topology and --server go together: the topology, and which of its servers")
	case g.Facts != nil:
		return generator.Facts{}, nil, nil, inputError("--facts and --topology: give one source of facts")
	}
	servers, err := readTopology("--topology", g.Topology, e)
	if err != nil {
		return generator.Facts{}, nil, nil, err
	}
	f, err := topologyServer(g.Topology, servers, g.Server)
	if err != nil {
		return generator.Facts{}, nil, nil, err
	}
	source := map[string]string{}
	for _, field := range generator.Fields {
		source[field.Key] = g.Topology + " (topology): " + field.Key
	}
	givenEmpty := map[string]bool{}
	g.applyFlags(&f, source, givenEmpty, true)
	return f, source, emptyProblems(givenEmpty), nil
}
