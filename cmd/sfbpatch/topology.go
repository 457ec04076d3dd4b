package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sfbpatch/sfbpatch/generator"
)

// topologyCmd lists the servers of a topology with their facts.
type topologyCmd struct {
	File   string `arg:"" help:"The topology: what Get-CsTopology -AsXml prints, or a Topology Builder .tbxml file; UTF-8, or UTF-16 with a byte order mark; - reads standard input." placeholder:"FILE"`
	Format string `enum:"table,csv,json" default:"table" help:"table (for people), csv (the inventory batch reads, with informational columns it ignores) or json. Default: table." placeholder:"FORMAT"`
}

// Help is the detail that sfbpatch topology --help prints.
func (topologyCmd) Help() string {
	return "Lists every server the procedure applies to: each Standard Edition server, and each Back End SQL Server of Enterprise Edition pools, with its pools and their Front End Servers, from which its -DatabaseOnly run goes. " +
		"sfbpatch topology t.xml --format csv > servers.csv && sfbpatch batch --inventory servers.csv --out-dir out. " +
		"Exit codes: 0 listed; 1 not a topology, or one sfbpatch cannot read (the line and the element are named); 2 the file cannot be read."
}

func (t *topologyCmd) Run(e env) error {
	servers, err := readTopology("", t.File, e)
	if err != nil {
		return err
	}
	return generator.WriteTopology(e.stdout, servers, t.Format)
}

// readTopology reads and derives a topology file ("-": standard input),
// given by flag ("" for the argument), and notes on stderr the user stores
// it leaves out.
func readTopology(flag, path string, e env) ([]generator.TopologyServer, error) {
	name := path
	if flag != "" {
		name = flag + " " + path
	}
	data, err := readLimited(path, e.stdin, generator.MaxInventorySize, "a topology")
	if err != nil {
		return nil, exitError{code: readCode(err), lines: []string{name + ": " + err.Error()}}
	}
	t, err := generator.ReadTopology(data)
	if ps := problemsOf(err); ps != nil {
		return nil, inputError(describeAt(name, ps)...)
	}
	if err != nil {
		return nil, err
	}
	for _, unused := range t.Unused {
		fmt.Fprintln(e.stderr, visible("sfbpatch: note: "+unused.String(name)))
	}
	return t.Servers, nil
}

// topologyServer finds a server of a topology by its FQDN, in any case: a
// Back End, a Standard Edition server, or a Front End Server of an
// Enterprise Edition pool (its facts as batch --topology gives them); a
// pool, or a Standard Edition server's own pool, is named as such, with the
// server to generate for.
func topologyServer(path string, servers []generator.TopologyServer, fqdn string) (generator.Facts, error) {
	var names []string
	for _, s := range servers {
		if strings.EqualFold(s.Facts.ServerFQDN, fqdn) {
			return s.Facts, nil
		}
		names = append(names, s.Facts.ServerFQDN)
	}
	for _, s := range servers {
		for _, f := range generator.FrontEndFacts(generator.Row{Facts: s.Facts, FrontEnds: s.FrontEnds}) {
			if strings.EqualFold(f.ServerFQDN, fqdn) {
				return f, nil
			}
		}
	}
	for _, s := range servers {
		pool := ""
		for _, p := range s.Pools {
			if strings.EqualFold(p, fqdn) {
				pool = p
			}
		}
		for _, m := range s.FrontEnds {
			if strings.EqualFold(m.Fqdn, fqdn) {
				pool = m.Pool
			}
		}
		if pool == "" {
			continue
		}
		what := "a pool"
		if !strings.EqualFold(pool, fqdn) {
			what = "a server of pool " + pool
		}
		msg := fmt.Sprintf("--server: %s is %s, whose user store is on %s: generate for --server %s", fqdn, what, s.Facts.ServerFQDN, s.Facts.ServerFQDN)
		if s.Facts.Edition == generator.EditionEnterprise {
			msg += ", and run its script with -DatabaseOnly from an updated Front End of the pool"
		}
		return generator.Facts{}, inputError(msg)
	}
	return generator.Facts{}, inputError(fmt.Sprintf("--server: %s is not a server of %s the procedure applies to; it lists: %s", fqdn, path, strings.Join(names, ", ")))
}

// topologyInventory is a topology as the inventory batch reads.
func topologyInventory(path string, e env) ([]byte, error) {
	servers, err := readTopology("--topology", path, e)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = generator.WriteTopology(&buf, servers, "csv")
	return buf.Bytes(), err
}
