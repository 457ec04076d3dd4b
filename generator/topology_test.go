package generator

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/unicode"
)

const topologyDir = "../testdata/topology"

// TestTopologyGoldens: each topology of testdata/topology (written for
// this project) lists its servers as the golden table, CSV and JSON say;
// the invalid-* ones give the golden error; the *-unused-* ones leave out
// the user stores the golden .unused names, and no other leaves any out.
func TestTopologyGoldens(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(topologyDir, "*.xml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no topologies in %s: %v", topologyDir, err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".xml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			topology, err := ReadTopology(data)
			g := goldieIn(t, "topology")
			if strings.HasPrefix(name, "invalid-") {
				var p Problem
				var ps Problems
				if !errors.As(err, &p) && !errors.As(err, &ps) {
					t.Fatalf("want problems, got %v", err)
				}
				g.Assert(t, name+".err", []byte(err.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g.Assert(t, name+".window.md", nightOf(t, topology))
			for _, format := range []string{"table", "csv", "json"} {
				var buf bytes.Buffer
				if err := WriteTopology(&buf, topology.Servers, format); err != nil {
					t.Fatal(err)
				}
				g.Assert(t, name+"."+format, buf.Bytes())
			}
			var unused strings.Builder
			for _, u := range topology.Unused {
				unused.WriteString(u.Error() + "\n")
			}
			switch {
			case strings.Contains(name, "-unused-"):
				g.Assert(t, name+".unused", []byte(unused.String()))
			case len(topology.Unused) > 0:
				t.Errorf("user stores left out:\n%s", unused.String())
			}
		})
	}
}

// TestTopologyEncodings: UTF-16 LE and BE with a byte order mark, as
// Windows PowerShell's > writes, and UTF-8 with one, read the same.
func TestTopologyEncodings(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(topologyDir, "asxml-two-back-ends.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	utf16 := func(order unicode.Endianness) []byte {
		// Windows PowerShell declares the encoding it wrote.
		text := bytes.Replace(data, []byte(`encoding="utf-8"`), []byte(`encoding="utf-16"`), 1)
		b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes(text)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, input := range map[string][]byte{
		"UTF-8 with BOM": append(append([]byte{}, utf8BOM...), data...),
		"UTF-16 LE":      utf16(unicode.LittleEndian),
		"UTF-16 BE":      utf16(unicode.BigEndian),
	} {
		got, err := ReadTopology(input)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-UTF-8 +%s):\n%s", name, name, diff)
		}
	}
}

// TestPublicTopologySamples reads the public samples of ../shared/topology
// (their SOURCES.md says what each holds) when that folder is there.
func TestPublicTopologySamples(t *testing.T) {
	const dir = "../../shared/topology"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no public samples here (%v)", err)
	}
	type want struct {
		facts Facts
		pools []string
		err   string
	}
	samples := map[string]want{
		"sfbautomatedlab-contoso-tbxml.xml": {facts: Facts{Product: "sfb2015", Edition: EditionEnterprise,
			ServerFQDN: "xSQL1.contoso.com", SQLServerFQDN: "xSQL1.contoso.com", CollocatedStores: true}, pools: []string{"frontendpool.contoso.com"}},
		"rlevchenko-defaulttopology.xml": {facts: Facts{Product: "sfb2015", Edition: EditionEnterprise,
			ServerFQDN: "srv-sql-01.tenant.rlevchenko.com", SQLServerFQDN: "srv-sql-01.tenant.rlevchenko.com"}, pools: []string{"poolfe.tenant.rlevchenko.com"}},
		"alvinchen1-otc-tbxml.xml": {facts: Facts{Product: "sfb2019", Edition: EditionStandard, ServerFQDN: "OCT-EXH-002.otc.lab"},
			pools: []string{"OCT-EXH-002.otc.lab"}},
		"alvinchen1-uss-skype-config-3-inline-asxml.xml": {err: `"$SkypeFQDN" is a template placeholder`},
		"johanveldhuis-sfblab-defaulttopology-utf16.xml": {facts: Facts{Product: "sfb2015", Edition: EditionStandard, ServerFQDN: "S4BLab92-FE1.contoso.com"},
			pools: []string{"S4BLab92-FE1.contoso.com"}},
	}
	for file, w := range samples {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		topology, err := ReadTopology(data)
		servers := topology.Servers
		if w.err != "" {
			if err == nil || !strings.Contains(err.Error(), w.err) {
				t.Errorf("%s: got %v, want an error with %q", file, err, w.err)
			}
			continue
		}
		if err != nil || len(servers) != 1 {
			t.Errorf("%s: %d servers, %v", file, len(servers), err)
			continue
		}
		if diff := cmp.Diff(w.facts, servers[0].Facts); diff != "" {
			t.Errorf("%s: facts (-want +got):\n%s", file, diff)
		}
		if diff := cmp.Diff(w.pools, servers[0].Pools); diff != "" {
			t.Errorf("%s: pools (-want +got):\n%s", file, diff)
		}
		if ps := Validate(servers[0].Facts); len(ps) > 0 {
			t.Errorf("%s: the facts do not validate: %v", file, ps)
		}
		// batch --topology --target-version: an Enterprise Back End's -DatabaseOnly
		// checks its Front End's pool and version; its night names that Front End.
		f := servers[0].Facts
		product, _ := LookupProduct(f.Product)
		f.TargetVersion = strings.TrimSuffix(product.ReleaseVersion, ".0") + ".600"
		plan, err := BuildPlan(f)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if plan.Enterprise {
			ids := map[string]bool{}
			for _, c := range plan.Preflight {
				ids[c.ID] = c.OnlyDatabaseOnly || c.DatabaseOnly
			}
			if !ids["pool-member"] || !ids["updated-machine"] || !strings.Contains(plan.Run.Evidence, f.TargetVersion) || len(plan.Warnings) > 0 {
				t.Errorf("%s: the -DatabaseOnly checks %v, evidence %q, warnings %q", file, ids, plan.Run.Evidence, plan.Warnings)
			}
			if night := string(nightOf(t, topology)); !strings.Contains(night, "- Runs on: `"+servers[0].FrontEnds[0].Fqdn+"`") {
				t.Errorf("%s: window.md does not name the Front End Server %s to run the database step on", file, servers[0].FrontEnds[0].Fqdn)
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "rlevchenko-defaulttopology.xml")); err == nil {
		if topology, _ := ReadTopology(data); len(topology.Servers) == 1 && !strings.Contains(strings.Join(topology.Servers[0].Notes, " "), "AlwaysOn") {
			t.Errorf("rlevchenko-defaulttopology.xml: no AlwaysOn note: %q", topology.Servers[0].Notes)
		}
	}
}

// TestFrontEndsReadBack: the front_ends cell of a topology's CSV reads
// back as the machines it was written from, for window.md.
func TestFrontEndsReadBack(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(topologyDir, "asxml-two-back-ends.xml"))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ReadTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range topo.Servers {
		if diff := cmp.Diff(s.FrontEnds, parseFrontEnds(s.frontEnds())); diff != "" {
			t.Errorf("%s: front_ends read back (-want +got):\n%s", s.Facts.ServerFQDN, diff)
		}
	}
	if got := parseFrontEnds("pool: fe1, fe2 (3)"); len(got) != 2 || got[1].Ordinal != 3 || got[0].Fqdn != "fe1" {
		t.Errorf("a cell without upgrade domains reads as %+v", got)
	}
}

// nightOf is the window.md batch --topology writes for a topology: its
// CSV read back as an inventory, each row's plan and script, the night.
func nightOf(t *testing.T, topology Topology) []byte {
	t.Helper()
	var csv, night bytes.Buffer
	if err := WriteTopology(&csv, topology.Servers, "csv"); err != nil {
		t.Fatal(err)
	}
	doc, err := NewWindowDoc(&night, "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	number := 0
	seen := ServerLines{}
	err = ReadInventory(csv.Bytes(), Facts{}, func(r Row) error {
		servers, err := RowServers(r, seen)
		if err != nil {
			return err
		}
		for _, f := range servers {
			name := strings.ToLower(f.ServerFQDN)
			number++
			plan, err := BuildPlan(f)
			if err != nil {
				return err
			}
			script, err := RenderScript(plan, Options{Version: "0.0.0-test"})
			if err != nil {
				return err
			}
			frontEnds := r.FrontEnds
			if f.IsFrontEnd() {
				frontEnds = nil
			}
			if err := doc.Add(NewWindowRow(number, plan, frontEnds, name+".ps1", fmt.Sprintf("%x", sha256.Sum256(script)))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Close(); err != nil {
		t.Fatal(err)
	}
	return night.Bytes()
}
