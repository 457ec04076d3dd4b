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
	var ps Problems
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

// TestInventorySeparators: a semicolon-separated CSV (Excel where the
// comma is the decimal separator) and Excel's "Unicode Text" (UTF-16,
// tab-separated) read as the comma-separated one does.
func TestInventorySeparators(t *testing.T) {
	utf16 := []byte{0xFF, 0xFE}
	for _, r := range "server_fqdn\tedition\r\nse01.contoso.com\tstandard\r\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	for name, data := range map[string][]byte{
		"comma":        []byte("server_fqdn,edition\nse01.contoso.com,standard\n"),
		"semicolon":    []byte("server_fqdn;edition\r\nse01.contoso.com;standard\r\n"),
		"unicode text": utf16,
	} {
		var rows []Row
		if err := ReadInventory(data, Facts{}, func(r Row) error { rows = append(rows, r); return nil }); err != nil || len(rows) != 1 ||
			rows[0].Facts.ServerFQDN != "se01.contoso.com" || rows[0].Facts.Edition != EditionStandard {
			t.Errorf("%s: %v, %+v", name, err, rows)
		}
	}
}

// TestDeviceNamesAreNoServers: a server named like a Windows device would
// give batch a file Windows opens as that device.
func TestDeviceNamesAreNoServers(t *testing.T) {
	for _, host := range []string{"con", "NUL", "com1", "Lpt9", "aux", "prn"} {
		ps := Validate(Facts{Product: DefaultProduct, Edition: EditionStandard, ServerFQDN: host + ".contoso.com"})
		if len(ps) != 1 || ps[0].Field != "server_fqdn" || !strings.Contains(ps[0].Message, "is a Windows device name") {
			t.Errorf("%s: %v", host, ps)
		}
	}
	if ps := Validate(Facts{Product: DefaultProduct, Edition: EditionStandard, ServerFQDN: "console.contoso.com"}); len(ps) != 0 {
		t.Errorf("console: %v", ps)
	}
}
