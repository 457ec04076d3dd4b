package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
)

// The script depends on the facts in two ways: which of them are given,
// and the product, edition and collocated stores, shape its text; the
// values appear only in a few places, each through one escaping function:
// PSQuote in the body (the -UpdatePath default and the fact variables),
// CommentText in the header. Executing the templates is most of the cost
// of a script, so each shape is rendered once, with a placeholder in the
// place of each value, and a script is that text with each placeholder
// replaced by its value, escaped by the same function. There are at most
// 3 products x 3 edition variants x 16 sets of given facts.

// shape says what, beyond the values, a script depends on.
type shape struct {
	product, edition                          string
	collocated                                bool
	updatePath, serverFQDN, sha256, targetVer bool
}

func shapeOf(f Facts) shape {
	return shape{
		product: f.Product, edition: f.Edition, collocated: f.CollocatedStores,
		updatePath: f.UpdatePath != "", serverFQDN: f.ServerFQDN != "", sha256: f.UpdateSHA256 != "", targetVer: f.TargetVersion != "",
	}
}

// piece is a run of a shape's text, or the place of a value: slot names
// it and escape is how the templates wrote it.
type piece struct {
	text   []byte
	slot   string
	escape func(string) string
}

// shapeText is a shape's header and body.
type shapeText struct {
	header, body []piece
}

// Slots that are not a fact variable.
const (
	slotUpdatePath = "-UpdatePath"
	slotFactsJSON  = "facts-json"
	slotBodyHash   = "body-sha256"
	slotVersion    = "version"
)

// placeholder is what a slot's value is while the shape renders: NUL is
// never in a fact (validation rejects control characters) nor in a template.
func placeholder(slot string) string { return "\x00" + slot + "\x00" }

// slotPattern finds the placeholders in rendered text: as PSQuote writes
// them, as CommentValue writes them, as CommentText writes them, or as
// they are.
var slotPattern = regexp.MustCompile(`'\x00([^\x00']+)\x00'|"\\u0000([^\\]+)\\u0000"|\\u0000([^\\]+)\\u0000|\x00([^\x00]+)\x00`)

var shapes sync.Map // shape -> shapeText

// renderBuilt renders the script of a plan BuildPlan made, from its shape.
func renderBuilt(p Plan, version string) ([]byte, error) {
	parts, size, err := builtParts(p, version)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	for _, part := range parts {
		out = append(out, part...)
	}
	return out, nil
}

// writeBuilt writes the script of a plan BuildPlan made to w, every byte of
// it computed before the first is written.
func writeBuilt(w io.Writer, p Plan, version string) error {
	parts, _, err := builtParts(p, version)
	if err != nil {
		return err
	}
	for _, part := range parts {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}

// builtParts returns the script of a plan BuildPlan made as the parts of
// its shape's text, filled in, and their total size. Only the values are
// new bytes: the rest is the shape's, shared.
func builtParts(p Plan, version string) ([][]byte, int, error) {
	text, err := shapeTextOf(p)
	if err != nil {
		return nil, 0, err
	}
	factsJSON, err := json.Marshal(p.Facts)
	if err != nil {
		return nil, 0, fmt.Errorf("render header: %w", err)
	}
	values := map[string]string{slotUpdatePath: p.Installer.UpdatePath, slotFactsJSON: string(factsJSON), slotVersion: version}
	for _, v := range p.Variables {
		values[v.Name] = v.Value
	}
	for _, row := range p.FactTable {
		values["row:"+row.Key] = row.Value
	}
	fill := func(pc piece) []byte {
		if pc.slot == "" {
			return pc.text
		}
		return []byte(pc.escape(values[pc.slot]))
	}
	parts := make([][]byte, len(text.header), len(text.header)+len(text.body))
	size := 0
	hash := sha256.New()
	for _, pc := range text.body {
		part := fill(pc)
		hash.Write(part)
		parts = append(parts, part)
		size += len(part)
	}
	values[slotBodyHash] = hex.EncodeToString(hash.Sum(nil))
	for i, pc := range text.header {
		parts[i] = fill(pc)
		size += len(parts[i])
		if j := nonASCII(parts[i]); j >= 0 {
			return nil, 0, fmt.Errorf("render script: byte %d of a header line is not 7-bit ASCII", j)
		}
	}
	return parts, size, nil
}

// shapeTextOf returns the text of the plan's shape, rendering it the
// first time.
func shapeTextOf(p Plan) (shapeText, error) {
	key := shapeOf(p.Facts)
	if text, ok := shapes.Load(key); ok {
		return text.(shapeText), nil
	}
	q := p
	slots := 0
	q.Parameters = append([]Parameter(nil), p.Parameters...)
	for i, param := range q.Parameters {
		if param.Name == "UpdatePath" && param.Default != "" {
			q.Parameters[i].Default = PSQuote(placeholder(slotUpdatePath))
			slots++
		}
	}
	q.Variables = append([]Variable(nil), p.Variables...)
	for i, v := range q.Variables {
		if v.Set {
			q.Variables[i].Value = placeholder(v.Name)
			slots++
		}
	}
	q.FactTable = append([]FactRow(nil), p.FactTable...)
	for i, row := range q.FactTable {
		if row.Value != "" {
			q.FactTable[i].Value = placeholder("row:" + row.Key)
		}
	}
	body, err := executeBody(q)
	if err != nil {
		return shapeText{}, err
	}
	var header bytes.Buffer
	view := headerView{Version: placeholder(slotVersion), Facts: q.FactTable, FactsJSON: placeholder(slotFactsJSON), BodySHA256: placeholder(slotBodyHash)}
	if err := tmpl.ExecuteTemplate(&header, "header.ps1.tmpl", view); err != nil {
		return shapeText{}, fmt.Errorf("render header: %w", err)
	}
	text := shapeText{header: split(crlf(header.Bytes())), body: split(body)}
	if found := len(text.body) / 2; found != slots {
		return shapeText{}, fmt.Errorf("render script: %d fact values in the body, want %d, each once as a PSQuote expression", found, slots)
	}
	if i := nonASCII(body); i >= 0 {
		return shapeText{}, fmt.Errorf("render script: byte %d of the body is not 7-bit ASCII", i)
	}
	for _, pc := range append(append([]piece(nil), text.header...), text.body...) {
		if i := bytes.IndexByte(pc.text, 0); i >= 0 {
			return shapeText{}, fmt.Errorf("render script: a fact value written without its escaping function near %s", strconv.Quote(string(pc.text[max(0, i-40):i])))
		}
	}
	shapes.Store(key, text)
	return text, nil
}

// split cuts rendered text at its placeholders.
func split(text []byte) []piece {
	var pieces []piece
	last := 0
	for _, m := range slotPattern.FindAllSubmatchIndex(text, -1) {
		pc := piece{escape: func(v string) string { return v }}
		switch {
		case m[2] >= 0:
			pc.slot, pc.escape = string(text[m[2]:m[3]]), PSQuote
		case m[4] >= 0:
			pc.slot, pc.escape = string(text[m[4]:m[5]]), CommentValue
		case m[6] >= 0:
			pc.slot, pc.escape = string(text[m[6]:m[7]]), CommentText
		default:
			pc.slot = string(text[m[8]:m[9]])
		}
		pieces = append(pieces, piece{text: text[last:m[0]]}, pc)
		last = m[1]
	}
	return append(pieces, piece{text: text[last:]})
}

// executeBody renders the body of any plan's script, CRLF.
func executeBody(p Plan) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "script.ps1.tmpl", newScriptView(p)); err != nil {
		return nil, fmt.Errorf("render script: %w", err)
	}
	return crlf(buf.Bytes()), nil
}
