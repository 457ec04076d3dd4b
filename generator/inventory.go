package generator

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// MaxInventorySize is the largest inventory sfbpatch reads: 10,000 servers
// take about 2 MB.
const MaxInventorySize = 64 << 20

// MaxInventoryRows is the most servers an inventory may list, far above a
// real estate; MaxProblems the most problems reported before the reading
// stops.
const MaxInventoryRows, MaxProblems = 100_000, 100

// enough tells whether the reading stops before row number rows, at line:
// too many rows, or enough problems to fix first; it adds the problem that
// says so.
func enough(rows, line int, ps *Problems) bool {
	switch {
	case rows > MaxInventoryRows:
		*ps = append(*ps, Problem{Line: line, Message: fmt.Sprintf("more than %d servers; split the inventory", MaxInventoryRows)})
	case len(*ps) >= MaxProblems:
		*ps = append(*ps, Problem{Line: line, Message: fmt.Sprintf("the reading stopped here, after %d problems; fix them and run again", MaxProblems)})
	default:
		return false
	}
	return true
}

// Row is one server of an inventory: the line it starts on and its facts.
// Overrides are the keys of the fleet-wide defaults the row gives another
// value for: the row's value is used.
type Row struct {
	Line      int
	Facts     Facts
	Overrides []string
	// FrontEnds are the pools' servers a topology's CSV lists in its
	// front_ends column (none without it): where -DatabaseOnly runs from.
	FrontEnds []TopologyMachine
}

// InventoryDefaults are the facts batch takes once for every row, by
// key: a row's own value wins.
var InventoryDefaults = []string{"product", "update_path", "update_sha256", "target_version"}

// ValidateDefaults checks the fleet-wide facts as facts of any row.
func ValidateDefaults(d Facts) Problems {
	f := Facts{Edition: EditionStandard}
	applyDefaults(&f, d)
	// Without --product the rows name theirs: a target version is checked against each row's.
	if f.Product == "" {
		f.Product = DefaultProduct
		if problem := checkVersion(f.TargetVersion); f.TargetVersion != "" && problem != "" {
			return Problems{{Field: "target_version", Message: problem}}
		}
		f.TargetVersion = ""
	}
	var ps Problems
	for _, p := range Validate(f) {
		if slices.Contains(InventoryDefaults, p.Field) {
			ps = append(ps, p)
		}
	}
	return ps
}

// applyDefaults gives f each default it lacks, and returns the keys for
// which f holds another value.
func applyDefaults(f *Facts, defaults Facts) []string {
	var overrides []string
	for _, key := range InventoryDefaults {
		field, _ := fieldByKey(key)
		value, given := field.text(f), *field.text(&defaults)
		switch {
		case given == "":
		case *value == "":
			*value = given
		case !strings.EqualFold(*value, given):
			overrides = append(overrides, key)
		}
	}
	return overrides
}

// ReadInventory reads the servers of an inventory, CSV or JSON (an array of
// facts objects, as strict as a facts file), in UTF-8 with or without a
// byte order mark or in UTF-16 with one, and calls each for every row in
// order. CSV columns are the facts file's field names; server_fqdn and
// edition are required, a boolean is true/false/yes/no/1/0 in any case,
// an empty cell leaves the fact out. It checks every row (its facts, a
// server given twice, an empty row) and returns every problem at once, as
// Problems, after calling each for the rows that hold; each may
// stop the reading with an error of its own. The facts of defaults
// (InventoryDefaults) fill each row that lacks them.
func ReadInventory(data []byte, defaults Facts, each func(Row) error) error {
	text, err := utf8Text(data)
	if err != nil {
		return Problems{{Message: err.Error()}}
	}
	trimmed := bytes.TrimLeft(text, " \t\r\n")
	if len(trimmed) == 0 {
		return Problems{{Message: "is empty; it must hold a CSV header row and one row per server, or a JSON array of facts objects"}}
	}
	seen := map[string]int{}
	var ps Problems
	check := func(r Row, empty []string) error {
		r.Overrides = applyDefaults(&r.Facts, defaults)
		if r.Facts.Product == "" {
			r.Facts.Product = DefaultProduct
		}
		problems := rowProblems(r, empty, seen)
		if len(problems) > 0 {
			ps = append(ps, problems...)
			return nil
		}
		if len(ps) > 0 {
			return nil // nothing is done once a row is wrong
		}
		return each(r)
	}
	rows := 0
	counted := func(r Row, empty []string) error {
		rows++
		return check(r, empty)
	}
	switch trimmed[0] {
	case '[':
		err = readJSONInventory(text, counted, &ps)
	case '{':
		return Problems{{Message: "holds one JSON object; an inventory in JSON is an array of facts objects: [ {...}, {...} ]"}}
	default:
		err = readCSVInventory(text, counted, &ps)
	}
	if err != nil {
		return err
	}
	if rows == 0 && len(ps) == 0 {
		ps = append(ps, Problem{Message: "holds no server; give one row per server"})
	}
	if len(ps) > 0 {
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		return ps
	}
	return nil
}

// rowProblems checks one row: its facts, and its server against the ones
// before it.
func rowProblems(r Row, empty []string, seen map[string]int) Problems {
	var ps Problems
	for _, key := range empty {
		ps = append(ps, Problem{Line: r.Line, Field: key, Message: "given but empty: give a value, or leave it out"})
	}
	if r.Facts.ServerFQDN == "" && !slices.Contains(empty, "server_fqdn") {
		ps = append(ps, Problem{Line: r.Line, Field: "server_fqdn", Message: "missing: every server of an inventory is named"})
	}
	for _, p := range Validate(r.Facts) {
		if !slices.Contains(empty, p.Field) {
			ps = append(ps, Problem{Line: r.Line, Field: p.Field, Message: p.Message})
		}
	}
	if fqdn := strings.ToLower(r.Facts.ServerFQDN); fqdn != "" {
		if first, ok := seen[fqdn]; ok {
			ps = append(ps, Problem{Line: r.Line, Field: "server_fqdn", Message: fmt.Sprintf("%s is also on line %d: one row per server", r.Facts.ServerFQDN, first)})
		} else {
			seen[fqdn] = r.Line
		}
	}
	return ps
}

// readCSVInventory reads a CSV inventory: a header row of field names,
// then one row per server.
func readCSVInventory(text []byte, check func(Row, []string) error, ps *Problems) error {
	// Export-Csv of Windows PowerShell 5.1 starts with a #TYPE line unless
	// -NoTypeInformation: it names no column.
	skipped := 0
	if bytes.HasPrefix(text, []byte("#TYPE ")) {
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			text, skipped = text[i+1:], 1
		}
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = separator(text)
	r.ReuseRecord = true
	r.FieldsPerRecord = -1 // a row of another length is a problem of that row
	header, err := r.Read()
	if err != nil {
		*ps = append(*ps, csvProblem(err))
		return nil
	}
	header = slices.Clone(header)
	columns := make([]Field, len(header))
	frontEnds := slices.Index(header, "front_ends")
	for i, name := range header {
		field, ok := fieldByKey(name)
		if !ok && slices.Contains(TopologyColumns, name) {
			continue // sfbpatch topology's informational columns: front_ends feeds window.md
		}
		if !ok {
			*ps = append(*ps, Problem{Line: 1 + skipped, Field: displayKey(name), Message: unknownField(name)})
			continue
		}
		if slices.ContainsFunc(columns[:i], func(f Field) bool { return f.Key == name }) {
			*ps = append(*ps, Problem{Line: 1 + skipped, Field: name, Message: "a column given twice; give each column once"})
		}
		columns[i] = field
	}
	for _, required := range []string{"server_fqdn", "edition"} {
		if !slices.Contains(header, required) {
			*ps = append(*ps, Problem{Line: 1 + skipped, Field: required, Message: "no such column in the header row; server_fqdn and edition are required"})
		}
	}
	if len(*ps) > 0 && !slices.ContainsFunc(columns, func(f Field) bool { return f.Key != "" }) {
		return nil // no column to read the rows by
	}
	// The rows are read on, so that every problem shows at once; a column
	// the header got wrong is left out of them.
	lastLine, counted := 1, int(r.InputOffset())
	for rows := 1; ; rows++ {
		if enough(rows, lastLine+1+skipped, ps) {
			return nil
		}
		record, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			*ps = append(*ps, csvProblem(err))
			return nil
		}
		line, _ := r.FieldPos(0)
		for blank := lastLine + 1; blank < line; blank++ {
			*ps = append(*ps, Problem{Line: blank + skipped, Message: "an empty row; remove it"})
		}
		// The row ends on the line of its last byte (a quoted cell may hold line breaks).
		end := int(r.InputOffset())
		lastLine += 1 + bytes.Count(text[counted:end], []byte("\n"))
		counted = end
		if bytes.HasSuffix(text[:end], []byte("\n")) {
			lastLine--
		}
		line += skipped
		if len(record) != len(header) {
			*ps = append(*ps, Problem{Line: line, Message: fmt.Sprintf("%d cells, the header row has %d columns", len(record), len(header))})
			continue
		}
		row := Row{Line: line}
		allEmpty := true
		for i, cell := range record {
			if cell == "" || columns[i].Key == "" {
				continue
			}
			allEmpty = false
			if err := setCell(&row.Facts, columns[i], cell); err != nil {
				*ps = append(*ps, Problem{Line: line, Field: columns[i].Key, Message: err.Error()})
			}
		}
		if allEmpty {
			*ps = append(*ps, Problem{Line: line, Message: "an empty row; remove it"})
			continue
		}
		if frontEnds >= 0 {
			row.FrontEnds = parseFrontEnds(record[frontEnds])
		}
		if err := check(row, nil); err != nil {
			return err
		}
	}
}

// separator is the CSV's separator, from its header row: a comma, or, in a
// header without one, a semicolon (Excel's default where the comma is the
// decimal separator) or a tab (Excel's "Unicode Text").
func separator(text []byte) rune {
	header, _, _ := bytes.Cut(text, []byte("\n"))
	switch {
	case bytes.ContainsRune(header, ','):
		return ','
	case bytes.ContainsRune(header, ';'):
		return ';'
	case bytes.ContainsRune(header, '\t'):
		return '\t'
	}
	return ','
}

// setCell sets one fact from a CSV cell.
func setCell(f *Facts, field Field, cell string) error {
	if field.Kind != KindBool {
		*field.text(f) = cell
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(cell)) {
	case "true", "yes", "1":
		f.CollocatedStores = true
	case "false", "no", "0":
		f.CollocatedStores = false
	default:
		return fmt.Errorf("%s; allowed: true, false, yes, no, 1, 0", describe(cell))
	}
	return nil
}

func csvProblem(err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{Line: pe.Line, Message: "not valid CSV: " + pe.Err.Error()}
	}
	return Problem{Message: "not valid CSV: " + err.Error()}
}

// readJSONInventory reads a JSON inventory: an array of facts objects, each
// decoded as a facts file is.
func readJSONInventory(text []byte, check func(Row, []string) error, ps *Problems) error {
	// Each object is then decoded as strictly as a facts file, which names a
	// field given twice: the array's reader lets it through to go on.
	dec := jsontext.NewDecoder(bytes.NewReader(text), jsontext.AllowDuplicateNames(true))
	if _, err := dec.ReadToken(); err != nil {
		*ps = append(*ps, Problem{Message: describeSyntax(err).Error()})
		return nil
	}
	counted, line := 0, 1 // lines are counted once, as the offset grows
	for rows := 1; dec.PeekKind() != ']'; rows++ {
		if enough(rows, line, ps) {
			return nil
		}
		// The object starts after the comma and blanks that follow the offset.
		start := int(dec.InputOffset())
		for start < len(text) && strings.IndexByte(" \t\r\n,", text[start]) >= 0 {
			start++
		}
		line += bytes.Count(text[counted:start], []byte("\n"))
		counted = start
		value, err := dec.ReadValue()
		if err != nil {
			*ps = append(*ps, Problem{Line: line, Message: describeSyntax(err).Error()})
			return nil
		}
		f, empty, err := DecodeFacts(value)
		var fps Problems
		switch {
		case errors.As(err, &fps):
			for _, p := range fps {
				*ps = append(*ps, Problem{Line: line, Field: p.Field, Message: p.Message})
			}
			continue
		case err != nil:
			*ps = append(*ps, Problem{Line: line, Message: err.Error()})
			continue
		}
		if err := check(Row{Line: line, Facts: f}, empty); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		*ps = append(*ps, Problem{Message: describeSyntax(err).Error()})
		return nil
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		*ps = append(*ps, Problem{Message: "holds more than one JSON value; it must hold one JSON array of facts objects"})
	}
	return nil
}
