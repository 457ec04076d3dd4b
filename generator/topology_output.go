package generator

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// TopologyColumns are the informational columns of a topology's CSV, after
// the inventory's: batch reads and ignores them.
var TopologyColumns = []string{"pools", "front_ends", "sql_instance", "notes"}

// inventoryColumns are the facts a topology gives, as batch reads them.
var inventoryColumns = []string{"server_fqdn", "product", "edition", "sql_server_fqdn", "collocated_stores"}

// frontEnds shows the pools' servers, pool by pool, each with its upgrade
// domain and place: "pool: fe1 (UpgradeDomain1, 1), fe2 (...); pool2: ...".
func (s TopologyServer) frontEnds() string {
	var pools []string
	for _, pool := range s.Pools {
		var machines []string
		for _, m := range s.FrontEnds {
			if m.Pool != pool {
				continue
			}
			var detail []string
			if m.UpgradeDomain != "" {
				detail = append(detail, m.UpgradeDomain)
			}
			if m.Ordinal != 0 {
				detail = append(detail, fmt.Sprint(m.Ordinal))
			}
			if len(detail) > 0 {
				machines = append(machines, m.Fqdn+" ("+strings.Join(detail, ", ")+")")
			} else {
				machines = append(machines, m.Fqdn)
			}
		}
		pools = append(pools, pool+": "+strings.Join(machines, ", "))
	}
	return strings.Join(pools, "; ")
}

// frontEndPattern is one server of a front_ends cell: its FQDN, then its
// upgrade domain and place in parentheses.
var frontEndPattern = regexp.MustCompile(`([^\s,;()]+)(?: \(([^,()]*)(?:, ([0-9]+))?\))?`)

// parseFrontEnds reads a front_ends cell back, as frontEnds writes it.
func parseFrontEnds(cell string) []TopologyMachine {
	var machines []TopologyMachine
	for _, part := range strings.Split(cell, "; ") {
		pool, list, ok := strings.Cut(part, ": ")
		if !ok {
			continue
		}
		for _, m := range frontEndPattern.FindAllStringSubmatch(list, -1) {
			machine := TopologyMachine{Fqdn: m[1], Pool: pool, UpgradeDomain: m[2]}
			if m[3] != "" {
				machine.Ordinal, _ = strconv.Atoi(m[3])
			} else if n, err := strconv.Atoi(m[2]); err == nil {
				machine.UpgradeDomain, machine.Ordinal = "", n
			}
			machines = append(machines, machine)
		}
	}
	return machines
}

func (s TopologyServer) cells() []string {
	var cells []string
	for _, key := range inventoryColumns {
		cells = append(cells, factValue(s.Facts, key))
	}
	instances := make([]string, len(s.SQLInstances))
	for i, name := range s.SQLInstances {
		instances[i] = instanceName(name)
	}
	return append(cells, strings.Join(s.Pools, "; "), s.frontEnds(), strings.Join(instances, "; "), strings.Join(s.Notes, "; "))
}

// WriteTopology writes the servers of a topology: "table" for people,
// "csv" as batch reads it (the inventory's columns, then TopologyColumns),
// or "json".
func WriteTopology(w io.Writer, servers []TopologyServer, format string) error {
	switch format {
	case "csv":
		c := csv.NewWriter(w)
		if err := c.Write(append(append([]string{}, inventoryColumns...), TopologyColumns...)); err != nil {
			return err
		}
		for _, s := range servers {
			if err := c.Write(s.cells()); err != nil {
				return err
			}
		}
		c.Flush()
		return c.Error()
	case "json":
		type server struct {
			Facts     Facts             `json:"facts"`
			Pools     []string          `json:"pools"`
			FrontEnds []TopologyMachine `json:"front_ends"`
			// SQLInstance is the first of SQLInstances, as it always was.
			SQLInstance  string   `json:"sql_instance"`
			SQLInstances []string `json:"sql_instances"`
			AlwaysOn     string   `json:"always_on,omitempty"`
			Notes        []string `json:"notes,omitempty"`
		}
		out := make([]server, len(servers))
		for i, s := range servers {
			out[i] = server{s.Facts, s.Pools, s.FrontEnds, s.SQLInstances[0], s.SQLInstances, s.AlwaysOn, s.Notes}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "table", "":
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVER\tPRODUCT\tEDITION\tSQL SERVER\tCOLLOCATED\tPOOLS\tFRONT ENDS\tINSTANCE\tNOTES")
		for _, s := range servers {
			// A terminal shows what it holds as itself: control and bidi characters escaped.
			fmt.Fprintln(tw, visible(strings.Join(s.cells(), "\t")))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// An empty last cell leaves the padding of the one before it.
		for _, line := range strings.SplitAfter(buf.String(), "\n") {
			if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+strings.Repeat("\n", strings.Count(line, "\n"))); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("format %q: allowed: table, csv, json", format)
}
