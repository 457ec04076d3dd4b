package generator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestInventoryIsBounded: an inventory of bad rows stops at MaxProblems
// problems, saying so at the line it stopped; one of more than
// MaxInventoryRows servers is refused, whatever its rows hold.
func TestInventoryIsBounded(t *testing.T) {
	var bad strings.Builder
	bad.WriteString("server_fqdn,edition\n")
	for i := range 1000 {
		fmt.Fprintf(&bad, "bad host %d,nope\n", i)
	}
	var ps InventoryProblems
	err := ReadInventory([]byte(bad.String()), Facts{}, func(Row) error { return nil })
	if !errors.As(err, &ps) || len(ps) != MaxProblems+1 || !strings.Contains(ps[len(ps)-1].Message, "the reading stopped here") {
		t.Fatalf("%d problems, the last %+v", len(ps), ps[len(ps)-1])
	}
	var many strings.Builder
	many.WriteString("server_fqdn,edition\n")
	for i := range MaxInventoryRows + 1 {
		fmt.Fprintf(&many, "se%06d.contoso.com,standard\n", i)
	}
	err = ReadInventory([]byte(many.String()), Facts{}, func(Row) error { return nil })
	if !errors.As(err, &ps) || !strings.Contains(ps[len(ps)-1].Message, "more than 100000 servers") {
		t.Errorf("%d servers: %v", MaxInventoryRows+1, err)
	}
}

// TestTopologyIsBounded: XML nested deeper than a topology is, or longer,
// is not a topology, said before it is read whole.
func TestTopologyIsBounded(t *testing.T) {
	for name, xml := range map[string]string{
		"nested more than 64 levels": strings.Repeat("<a>", 1000) + strings.Repeat("</a>", 1000),
		"more than 200000 elements":  "<Topology>" + strings.Repeat("<x/>", maxXMLElements+1) + "</Topology>",
	} {
		if _, err := ReadTopology([]byte(xml)); err == nil || !strings.Contains(err.Error(), "not a topology: ") || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
