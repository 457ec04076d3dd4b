package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Facts are what the administrator knows about the server to patch. They
// come from flags, a facts file or an inventory row; Validate checks them
// before anything is planned.
type Facts struct {
	// Product is a key of the product table: lync2013, sfb2015 or sfb2019.
	Product string `json:"product"`
	// Edition is standard or enterprise.
	Edition string `json:"edition"`
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

// DefaultProduct is used when neither a flag nor a facts file names one.
const DefaultProduct = "sfb2015"

// Field names one fact as the facts file spells it (Key) and as the
// command line spells it (Flag), so that problems can be reported in the
// words the user typed.
type Field struct {
	Key  string
	Flag string
}

// Fields lists every fact, in the order problems are reported.
var Fields = []Field{
	{Key: "product", Flag: "--product"},
	{Key: "edition", Flag: "--edition"},
	{Key: "sql_server_fqdn", Flag: "--sql-server-fqdn"},
	{Key: "collocated_stores", Flag: "--collocated-stores"},
	{Key: "update_path", Flag: "--update-path"},
	{Key: "server_fqdn", Flag: "--server-fqdn"},
	{Key: "update_sha256", Flag: "--update-sha256"},
	{Key: "target_version", Flag: "--target-version"},
}

// Version is the version of sfbpatch.
const Version = "0.1.0"

// DecodeFacts reads facts from JSON strictly: a field sfbpatch does not
// know is an error, not a fact silently dropped, and so is anything after
// the one JSON value. A UTF-8 byte order mark (as Notepad writes) is skipped.
func DecodeFacts(data []byte) (Facts, error) {
	var f Facts
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return f, errors.New("holds more than one JSON value")
	}
	return f, nil
}
