package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/encoding/unicode"
)

// Facts are what the administrator knows about the server to patch. They
// come from flags, a facts file or an inventory row; Validate checks them
// before anything is planned.
type Facts struct {
	// Product is a key of the product table: lync2013, sfb2015 or sfb2019.
	Product string `json:"product"`
	// Edition is standard or enterprise.
	Edition string `json:"edition"`
	// Role is backend (the default: a Standard Edition server or an
	// Enterprise Edition Back End) or frontend (a Front End Server of an
	// Enterprise Edition pool).
	Role string `json:"role,omitempty"`
	// PoolFQDN is the Front End pool of a Front End Server (role frontend
	// only).
	PoolFQDN string `json:"pool_fqdn,omitempty"`
	// SQLServerFQDN is the Back End SQL Server (Enterprise Edition only).
	SQLServerFQDN string `json:"sql_server_fqdn,omitempty"`
	// CollocatedStores is true when Archiving or Monitoring databases live
	// on the same SQL Server as the Back End (Enterprise Edition only).
	CollocatedStores bool `json:"collocated_stores,omitempty"`
	// UpdatePath is the Windows path of the update installer on the target
	// server. Empty means the product's installer beside the script.
	UpdatePath string `json:"update_path,omitempty"`
	// ServerFQDN, when set, is the only host the script agrees to run on.
	ServerFQDN string `json:"server_fqdn,omitempty"`
	// UpdateSHA256, when set, is the installer's expected SHA-256 (hex).
	UpdateSHA256 string `json:"update_sha256,omitempty"`
	// TargetVersion, when set, is the Core Components version (a.b.c.d)
	// the update brings: at or above it, the update counts as installed.
	TargetVersion string `json:"target_version,omitempty"`
}

// Edition values.
const (
	EditionStandard   = "standard"
	EditionEnterprise = "enterprise"
)

// Role values. An empty role is RoleBackEnd.
const (
	RoleBackEnd  = "backend"
	RoleFrontEnd = "frontend"
)

// IsFrontEnd tells whether the facts are a Front End Server's.
func (f Facts) IsFrontEnd() bool { return f.Role == RoleFrontEnd }

// roleKnown tells whether the role is one sfbpatch knows: the facts that
// depend on it are judged only then.
func (f Facts) roleKnown() bool {
	return f.Role == "" || f.Role == RoleBackEnd || f.Role == RoleFrontEnd
}

// DefaultProduct is used when neither a flag nor a facts file names one.
const DefaultProduct = "sfb2015"

// Field is one fact, whole: how the facts file spells it (Key), how the
// command line does (Flag) and what its help says (FlagHelp), how the
// script header and the runbook name it (Label), its Kind, the script
// variable that carries it (Variable, with VariableHelp; none for the
// facts that choose the script rather than reach it as text), how it is
// validated and what it means on the server. text reaches the fact's
// value in Facts (nil for the one bool fact). Adding a fact is one entry
// here, its Facts field, and its uses in the plan.
type Field struct {
	Key, Flag, FlagHelp string
	Label               string
	Kind                FieldKind
	Variable            string
	VariableHelp        string
	text                func(*Facts) *string
	// frontEndOnly is true for the facts of a Front End Server alone: a
	// Back End's script header and runbook show them only when given.
	frontEndOnly bool
	// backEndOnly is true for the facts of a Back End alone.
	backEndOnly bool
	// validate returns what is wrong with the fact, given the others, or
	// "" when nothing is.
	validate func(Facts) string
	// meaning says what the fact means on this server, as given.
	meaning func(Product, Edition, Facts) string
}

// FieldKind is what a fact's value is.
type FieldKind string

// Kinds of fact.
const (
	KindChoice  FieldKind = "choice"  // one key of a table (products, editions)
	KindFQDN    FieldKind = "fqdn"    // a DNS name
	KindBool    FieldKind = "bool"    // true or false
	KindPath    FieldKind = "path"    // an absolute Windows path
	KindSHA256  FieldKind = "sha256"  // 64 hexadecimal digits
	KindVersion FieldKind = "version" // a.b.c.d
)

// Fields lists every fact, in the order problems are reported.
var Fields = []Field{
	{Key: "product", Flag: "--product", Label: "Product", Kind: KindChoice,
		FlagHelp: "Server product: %s. Default: " + DefaultProduct + ".",
		text:     func(f *Facts) *string { return &f.Product },
		validate: func(f Facts) string {
			if _, ok := LookupProduct(f.Product); !ok {
				return fmt.Sprintf("%s; allowed: %s", describe(f.Product), strings.Join(ProductKeys(), ", "))
			}
			return ""
		},
		meaning: func(p Product, _ Edition, _ Facts) string { return p.Name + "." }},
	{Key: "edition", Flag: "--edition", Label: "Edition", Kind: KindChoice,
		FlagHelp: "Server edition: %s. Required, here or in the facts file.",
		text:     func(f *Facts) *string { return &f.Edition },
		validate: func(f Facts) string {
			if _, ok := LookupEdition(f.Edition); !ok {
				return fmt.Sprintf("%s; allowed: %s", describe(f.Edition), strings.Join(EditionKeys(), ", "))
			}
			return ""
		},
		meaning: func(_ Product, ed Edition, f Facts) string {
			if f.IsFrontEnd() {
				return "An Enterprise Edition pool."
			}
			return ed.RoleSentence
		}},
	{Key: "role", Flag: "--role", Label: "Role", Kind: KindChoice, frontEndOnly: true,
		FlagHelp: "Server role: backend (a Standard Edition server or an Enterprise Edition Back End) or frontend (a Front End Server of an Enterprise Edition pool, with --pool-fqdn). Default: backend.",
		text:     func(f *Facts) *string { return &f.Role },
		validate: func(f Facts) string {
			switch {
			case f.Role != "" && f.Role != RoleBackEnd && f.Role != RoleFrontEnd:
				return fmt.Sprintf("%s; allowed: %s, %s", describe(f.Role), RoleBackEnd, RoleFrontEnd)
			case f.IsFrontEnd() && f.Edition == EditionStandard:
				return "frontend is not allowed with edition standard (a Standard Edition server is patched whole, with role backend); a Front End pool is Enterprise Edition"
			}
			return ""
		},
		meaning: func(_ Product, _ Edition, f Facts) string {
			if f.IsFrontEnd() {
				return "A Front End Server of the pool: it is failed over or stopped by its pool's procedure, updated, and put back in service; it updates no database."
			}
			return "Not given: a Standard Edition server or an Enterprise Edition Back End."
		}},
	{Key: "pool_fqdn", Flag: "--pool-fqdn", Label: "Pool FQDN", Kind: KindFQDN, frontEndOnly: true,
		FlagHelp:     "FQDN of the Front End pool of the server (role frontend only).",
		Variable:     "PoolFqdn",
		VariableHelp: "The Front End pool of this server (--pool-fqdn), whose gates the script reads.",
		text:         func(f *Facts) *string { return &f.PoolFQDN },
		validate: func(f Facts) string {
			switch {
			case !f.roleKnown():
				return ""
			case f.IsFrontEnd() && f.PoolFQDN == "":
				return "required with role frontend (the Front End pool, e.g. pool01.contoso.com)"
			case !f.IsFrontEnd() && f.PoolFQDN != "":
				return "allowed with role frontend only (a Back End's script finds its pools itself)"
			case f.PoolFQDN != "":
				return strings.ReplaceAll(checkFQDN(f.PoolFQDN), "sql01.contoso.com", "pool01.contoso.com")
			}
			return ""
		},
		meaning: func(_ Product, _ Edition, _ Facts) string {
			return "The pool whose gates the script reads before it changes anything, and again before it ends."
		}},
	{Key: "sql_server_fqdn", Flag: "--sql-server-fqdn", Label: "SQL Server FQDN", Kind: KindFQDN, backEndOnly: true,
		FlagHelp:     "FQDN of the Back End SQL Server. Required with enterprise (role backend); an error with standard or role frontend.",
		Variable:     "SqlServerFqdn",
		VariableHelp: "The Back End SQL Server (--sql-server-fqdn); $null on a Standard Edition server.",
		text:         func(f *Facts) *string { return &f.SQLServerFQDN },
		validate: func(f Facts) string {
			ed, ok := LookupEdition(f.Edition)
			switch {
			case !ok || !f.roleKnown():
				return ""
			case f.IsFrontEnd() && f.SQLServerFQDN != "":
				return "not allowed with role frontend (a Front End Server updates no database: its Back End's script does, with -DatabaseOnly)"
			case f.IsFrontEnd():
				return ""
			case !ed.Enterprise && f.SQLServerFQDN != "":
				return fmt.Sprintf("not allowed with edition %s (a %s updates its local databases)", ed.Key, ed.Role)
			case ed.Enterprise && f.SQLServerFQDN == "":
				return fmt.Sprintf("required with edition %s (the Back End SQL Server, e.g. sql01.contoso.com)", ed.Key)
			case ed.Enterprise:
				return checkFQDN(f.SQLServerFQDN)
			}
			return ""
		},
		meaning: func(_ Product, ed Edition, _ Facts) string {
			if ed.Enterprise {
				return "The Back End SQL Server whose databases doc step 11 updates."
			}
			return "Not used: a Standard Edition server updates its local databases."
		}},
	{Key: "collocated_stores", Flag: "--collocated-stores", Label: "Collocated stores", Kind: KindBool, backEndOnly: true,
		FlagHelp: "The Archiving or Monitoring databases are on the same SQL Server as the Back End (enterprise only).",
		validate: func(f Facts) string {
			if ed, ok := LookupEdition(f.Edition); ok && !ed.Enterprise && f.CollocatedStores {
				return fmt.Sprintf("not allowed with edition %s (it applies to an Enterprise Edition Back End only)", ed.Key)
			}
			if f.IsFrontEnd() && f.CollocatedStores {
				return "not allowed with role frontend (it applies to an Enterprise Edition Back End only)"
			}
			return ""
		},
		meaning: func(_ Product, ed Edition, f Facts) string {
			switch {
			case !ed.Enterprise:
				return "Not used: it applies to an Enterprise Edition Back End only."
			case f.CollocatedStores:
				return "Archiving or Monitoring databases are on the same SQL Server: doc step 11 adds -ExcludeCollocatedStores."
			}
			return "No Archiving or Monitoring databases on the same SQL Server."
		}},
	{Key: "update_path", Flag: "--update-path", Label: "Update path", Kind: KindPath,
		FlagHelp: "Windows path of the update installer (.exe) on the target server. Default: the product's installer file name in the script's own folder.",
		text:     func(f *Facts) *string { return &f.UpdatePath },
		validate: ifGiven(func(f Facts) string { return f.UpdatePath }, checkWindowsPath),
		meaning: func(p Product, _ Edition, f Facts) string {
			return given(f.UpdatePath, "The update installer on the server; -UpdatePath overrides it.",
				fmt.Sprintf("Not given: the script runs %s from its own folder; -UpdatePath overrides it.", p.Installer))
		}},
	{Key: "server_fqdn", Flag: "--server-fqdn", Label: "Server FQDN", Kind: KindFQDN,
		FlagHelp:     "FQDN of the server to patch: the script refuses to run on any other host.",
		Variable:     "ExpectedServerFqdn",
		VariableHelp: "The only host this script runs on (--server-fqdn); $null: any host.",
		text:         func(f *Facts) *string { return &f.ServerFQDN },
		validate:     ifGiven(func(f Facts) string { return f.ServerFQDN }, checkServerFQDN),
		meaning: func(_ Product, _ Edition, f Facts) string {
			return given(f.ServerFQDN, "The script refuses to run on any other host.", "Not given: the script runs on any host.")
		}},
	{Key: "update_sha256", Flag: "--update-sha256", Label: "Update SHA-256", Kind: KindSHA256,
		FlagHelp:     "SHA-256 of the update installer (64 hexadecimal digits): the script refuses any other file.",
		Variable:     "ExpectedSha256",
		VariableHelp: "The installer's expected SHA-256 (--update-sha256); $null: not checked.",
		text:         func(f *Facts) *string { return &f.UpdateSHA256 },
		validate:     ifGiven(func(f Facts) string { return f.UpdateSHA256 }, checkSHA256),
		meaning: func(_ Product, _ Edition, f Facts) string {
			return given(f.UpdateSHA256, "The script refuses an installer with another SHA-256.", "Not given: the installer's SHA-256 is not checked.")
		}},
	{Key: "target_version", Flag: "--target-version", Label: "Target version", Kind: KindVersion,
		FlagHelp:     "Core Components version the update brings (a.b.c.d): after the installer it must be reached; with -DatabaseOnly, a machine at it counts as updated.",
		Variable:     "TargetVersion",
		VariableHelp: "The Core Components version the update brings (--target-version); $null: unknown, a record of this installer's success decides.",
		text:         func(f *Facts) *string { return &f.TargetVersion },
		validate:     ifGiven(func(f Facts) string { return f.TargetVersion }, checkVersion),
		// Then against the product: validateTargetForProduct, in Validate.
		meaning: func(_ Product, _ Edition, f Facts) string {
			if f.IsFrontEnd() {
				return given(f.TargetVersion, "After the installer, the Core Components version must reach it, else the installer's step fails and the next run installs again.",
					"Not given: the installed version is not checked; this installer's success record (by SHA-256) is what a later run takes as the installer's step done.")
			}
			return given(f.TargetVersion,
				"After the installer, the Core Components version must reach it, else doc step 7 fails; with -DatabaseOnly, this machine at it counts as updated.",
				"Not given: the installed version is not checked; this installer's success record (by SHA-256) is what a later run takes as doc step 7 done.")
		}},
}

// ifGiven validates an optional fact with check when it is given.
func ifGiven(value func(Facts) string, check func(string) string) func(Facts) string {
	return func(f Facts) string {
		if v := value(f); v != "" {
			return check(v)
		}
		return ""
	}
}

// shownFor tells whether a fact belongs in the header, the runbook and the
// variables of the script of f: a Back End's shows no Front End fact it
// was not given, a Front End Server's no Back End fact.
func (field Field) shownFor(f Facts) bool {
	if f.IsFrontEnd() {
		return !field.backEndOnly
	}
	return !field.frontEndOnly || *field.text(&f) != ""
}

// utf8BOM starts a UTF-8 file that Notepad saved.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Text is the fact in f this field names; nil for the one Bool fact.
func (f Field) Text(facts *Facts) *string {
	if f.text == nil {
		return nil
	}
	return f.text(facts)
}

// Help is the field's flag help, with the allowed values where it lists
// them.
func (f Field) Help() string {
	switch f.Key {
	case "product":
		return fmt.Sprintf(f.FlagHelp, strings.Join(ProductKeys(), ", "))
	case "edition":
		return fmt.Sprintf(f.FlagHelp, strings.Join(EditionKeys(), " or "))
	}
	return f.FlagHelp
}

// fieldByKey finds a field by its exact key.
func fieldByKey(key string) (Field, bool) {
	for _, field := range Fields {
		if field.Key == key {
			return field, true
		}
	}
	return Field{}, false
}

// MaxFactsSize is the largest facts file sfbpatch reads: real facts take a
// few hundred bytes, and a bigger file is refused before it is read whole.
const MaxFactsSize = 1 << 20

// DecodeFacts reads one JSON object of facts strictly, as encoding/json/v2
// does: field names exactly as Fields spells them (no case folding), a
// field given twice, an unknown field, a wrong type, invalid UTF-8 or
// anything after the object is an error. The text may be UTF-8, with or
// without a byte order mark, or UTF-16 with one, as Windows PowerShell 5.1
// writes with ConvertTo-Json > facts.json. It also returns the keys given
// as "", which callers report as a mistake (an empty value is never the
// default). Field-level errors are Problems whose Field is the key.
func DecodeFacts(data []byte) (Facts, []string, error) {
	var f Facts
	text, err := utf8Text(data)
	if err != nil {
		return f, nil, err
	}
	trimmed := bytes.TrimLeft(text, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return f, nil, errors.New(`is empty; it must hold one JSON object of facts, such as {"edition": "standard"}`)
	case trimmed[0] != '{':
		return f, nil, fmt.Errorf("must hold one JSON object of facts, got %s", jsonKindName(jsontext.Value(trimmed).Kind()))
	}
	members, err := readObject(text)
	if err != nil {
		return f, nil, err
	}
	var ps Problems
	var empty []string
	for _, m := range members {
		key, v := m.name, m.value
		field, ok := fieldByKey(key)
		if !ok {
			ps = append(ps, Problem{Field: displayKey(key), Message: unknownField(key)})
			continue
		}
		want := jsontext.Kind('"')
		if field.Kind == KindBool {
			want = 't'
		}
		if kind := v.Kind(); kind != want && !(field.Kind == KindBool && kind == 'f') {
			ps = append(ps, Problem{Field: key, Message: fmt.Sprintf("got %s, allowed: %s", jsonKindName(kind), jsonKindName(want))})
			continue
		}
		if field.Kind == KindBool {
			f.CollocatedStores = v.Kind() == 't'
			continue
		}
		var value string
		if err := jsonv2.Unmarshal(v, &value); err != nil {
			ps = append(ps, Problem{Field: key, Message: err.Error()})
			continue
		}
		if value == "" {
			empty = append(empty, key)
		}
		*field.text(&f) = value
	}
	if len(ps) > 0 {
		return f, nil, ps
	}
	return f, empty, nil
}

// member is one name and value of a JSON object, in the order written.
type member struct {
	name  string
	value jsontext.Value
}

// readObject reads the one JSON object of text with jsontext, which
// rejects a name given twice and invalid UTF-8; anything after the object
// is an error too.
func readObject(text []byte) ([]member, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(text))
	if _, err := dec.ReadToken(); err != nil {
		return nil, describeSyntax(err)
	}
	var members []member
	for dec.PeekKind() != '}' {
		token, err := dec.ReadToken()
		if err != nil {
			return nil, describeSyntax(err)
		}
		name := token.String() // before the next read voids the token
		value, err := dec.ReadValue()
		if err != nil {
			return nil, describeSyntax(err)
		}
		members = append(members, member{name: name, value: slices.Clone(value)})
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, describeSyntax(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errors.New("holds more than one JSON value; it must hold one JSON object of facts")
	}
	return members, nil
}

// utf8Text returns the text of a file as UTF-8 without a byte order mark.
// UTF-16 needs its byte order mark: without it, the text is read as UTF-8.
func utf8Text(data []byte) ([]byte, error) {
	var order unicode.Endianness
	switch {
	case bytes.HasPrefix(data, utf8BOM) && (bytes.HasPrefix(data[3:], utf8BOM) || bytes.HasPrefix(data[3:], []byte{0xFF, 0xFE}) || bytes.HasPrefix(data[3:], []byte{0xFE, 0xFF})):
		return nil, errors.New("starts with two byte order marks: save it again as UTF-8")
	case bytes.HasPrefix(data, utf8BOM):
		return data[len(utf8BOM):], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0, 0}) || bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}):
		return nil, errors.New("is UTF-32: save it as UTF-8, or as UTF-16 with a byte order mark")
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return nil, errors.New("is a Zip archive: extract the file from it first")
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		order = unicode.LittleEndian
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		order = unicode.BigEndian
	case len(data) >= 2 && (data[0] == 0 || data[1] == 0):
		// JSON text starts with an ASCII character: a NUL beside it is UTF-16.
		return nil, errors.New("looks like UTF-16 without a byte order mark: save it as UTF-8, or as UTF-16 with a byte order mark")
	default:
		return data, nil
	}
	if len(data)%2 != 0 {
		return nil, errors.New("is UTF-16 (it starts with a UTF-16 byte order mark) but holds an odd number of bytes")
	}
	text, err := unicode.UTF16(order, unicode.ExpectBOM).NewDecoder().Bytes(data)
	if err != nil {
		return nil, fmt.Errorf("is not valid UTF-16 text: %w", err)
	}
	if bytes.ContainsRune(text, utf8.RuneError) {
		return nil, errors.New("is not valid UTF-16 text: it holds an unpaired surrogate")
	}
	return text, nil
}

// describeSyntax words a JSON syntax error for a user.
func describeSyntax(err error) error {
	var syntax *jsontext.SyntacticError
	if errors.As(err, &syntax) {
		if errors.Is(syntax.Err, jsontext.ErrDuplicateName) {
			return Problems{{Field: displayKey(syntax.JSONPointer.LastToken()), Message: "given twice; give each field once"}}
		}
		return fmt.Errorf("not valid JSON at byte %d: %v", syntax.ByteOffset, syntax.Err)
	}
	return fmt.Errorf("not valid JSON: %v", err)
}

// displayKey shows a key from a facts file in a message: as itself when
// it is a plain name, else quoted in ASCII and cut, so that a hostile key
// cannot write terminal escape codes.
func displayKey(key string) string {
	if plainKey.MatchString(key) {
		return key
	}
	if runes := []rune(key); len(runes) > 80 {
		key = string(runes[:80]) + "..."
	}
	return strconv.QuoteToASCII(key)
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,80}$`)

// unknownField says what is wrong with a key that is no fact, and which
// field it may have meant (field names are exact: EDITION is not edition).
func unknownField(key string) string {
	keys := make([]string, len(Fields))
	for i, field := range Fields {
		keys[i] = field.Key
		if strings.EqualFold(field.Key, key) || strings.EqualFold(field.Key, strings.ReplaceAll(key, "-", "_")) {
			return fmt.Sprintf("unknown field (field names are exact: %s)", field.Key)
		}
	}
	return "unknown field; allowed: " + strings.Join(keys, ", ")
}

// jsonKindName names a JSON value's kind in messages.
func jsonKindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a JSON string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	case '0':
		return "a JSON number"
	case '[':
		return "a JSON array"
	case '{':
		return "a JSON object"
	}
	return "no JSON value"
}
