package generator

import (
	"bytes"
	"crypto"
	_ "crypto/sha1"   // SHA-1 signatures, which Set-AuthenticodeSignature and osslsigncode still make
	_ "crypto/sha512" // SHA-384 and SHA-512 signatures
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/smallstep/pkcs7"
)

// An Authenticode signature block, as Set-AuthenticodeSignature and
// osslsigncode append it to a .ps1 file: after a line break, these two lines
// around the PKCS#7 SignedData in base64, 64 characters a line, each line
// starting with "# ", every line ending with CRLF (osslsigncode 2.9,
// script.c, script_append_pkcs7 and write_commented).
const (
	signatureBeginLine = "# SIG # Begin signature block"
	signatureEndLine   = "# SIG # End signature block"
)

// Signature is what Verify found out about the Authenticode signature block
// at the end of a signed script. It checks the signature against the script
// above the block and the certificate the block carries, not whether Windows
// trusts that certificate: that takes the machine's certificate stores, and
// Get-AuthenticodeSignature checks it on the server.
type Signature struct {
	// Line is the file's line that begins the block.
	Line int
	// Problem says why the block is not a signature verify can check: it
	// cannot be read (no end line, text after it, bad base64, not PKCS#7,
	// not Authenticode) or its digest is one verify does not accept. The
	// fields below are then empty.
	Problem string
	// Signer is the subject of the signer's certificate.
	Signer string
	// DigestAlgorithm names the digest the signature holds, e.g. SHA-256.
	DigestAlgorithm string
	// DigestMatches is true when that digest is the PowerShell SIP's digest
	// of the script above the block (sipDigest).
	DigestMatches bool
	// Invalid says why the PKCS#7 signature does not verify over its signed
	// attributes with the signer's certificate the block carries; empty when
	// it does.
	Invalid string
}

// Failure says, as a clause after the script's name, why the signature does
// not hold; it is empty when the signature holds.
func (s Signature) Failure() string {
	switch {
	case s.Problem != "":
		return "its signature block cannot be checked: " + s.Problem
	case !s.DigestMatches:
		return "its signature's digest does not match it: it changed after it was signed"
	case s.Invalid != "":
		return "its signature does not verify with the certificate it carries: " + s.Invalid
	}
	return ""
}

// Note describes the signature in a sentence for verify's notes.
func (s Signature) Note() string {
	if s.Problem != "" {
		return fmt.Sprintf("the signature block that begins on line %d cannot be checked: %s", s.Line, s.Problem)
	}
	digest := "the signature's digest matches the script above the signature block"
	if !s.DigestMatches {
		digest = "the signature's digest does not match the script above the signature block: the script changed after it was signed"
	}
	signature := "the signature verifies with the certificate it carries"
	if s.Invalid != "" {
		signature = "the signature does not verify with the certificate it carries (" + s.Invalid + ")"
	}
	note := fmt.Sprintf("signed by %s (%s): %s, and %s", s.Signer, s.DigestAlgorithm, digest, signature)
	if s.Failure() == "" {
		note += "; whether that certificate is trusted is checked by Windows (Get-AuthenticodeSignature), not by verify"
	}
	return note
}

// splitSignature splits a file at the first line that is exactly
// signatureBeginLine: the script above the block, the block from the line
// break before that line to the end of the file, and the line's number.
// A file without such a line is all script: block is nil.
func splitSignature(file []byte) (script, block []byte, line int) {
	start := 0
	for n := 1; start < len(file); n++ {
		text, rest := nextLine(file[start:])
		if string(text) == signatureBeginLine {
			cut := start
			if cut > 0 { // the LF before it, and the CR (or CRs) before that
				cut = len(bytes.TrimRight(file[:cut-1], "\r"))
			}
			return file[:cut], file[cut:], n
		}
		start = len(file) - len(rest)
	}
	return file, nil, 0
}

// WithoutSignature is a file without its Authenticode signature block, if
// any: the script as it was generated.
func WithoutSignature(file []byte) []byte {
	script, _, _ := splitSignature(file)
	return script
}

// Signed is true when a file has an Authenticode signature block.
func Signed(file []byte) bool {
	_, block, _ := splitSignature(file)
	return block != nil
}

var base64Line = regexp.MustCompile(`^[A-Za-z0-9+/=]+$`)

// readSignatureBlock returns the DER bytes a signature block holds: its
// begin line, lines of "# " and base64, its end line, and nothing after the
// end line's line break.
func readSignatureBlock(block []byte, line int) ([]byte, error) {
	_, rest := nextLine(bytes.TrimLeft(block, "\r\n")) // the begin line
	var text strings.Builder
	for n := line + 1; ; n++ {
		if len(rest) == 0 {
			return nil, fmt.Errorf("it has no %q line", signatureEndLine)
		}
		var l []byte
		l, rest = nextLine(rest)
		if string(l) == signatureEndLine {
			if len(rest) > 0 {
				return nil, fmt.Errorf("line %d: text after %q, which ends the file", n+1, signatureEndLine)
			}
			break
		}
		payload, ok := bytes.CutPrefix(l, []byte("# "))
		if !ok || !base64Line.Match(payload) {
			return nil, fmt.Errorf("line %d is not \"# \" and base64", n)
		}
		text.Write(payload)
	}
	der, err := base64.StdEncoding.DecodeString(text.String())
	if err != nil {
		return nil, fmt.Errorf("its base64 does not decode: %w", err)
	}
	return der, nil
}

// oidSpcIndirectDataContent is the content type of an Authenticode
// signature (Microsoft's Authenticode PE format: SPC_INDIRECT_DATA_OBJID).
var oidSpcIndirectDataContent = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}

// spcIndirectDataContent is what an Authenticode signature signs: which SIP
// digested the file (for a .ps1, SpcSipInfo with the PowerShell SIP's GUID)
// and the digest.
type spcIndirectDataContent struct {
	Data struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"optional"`
	}
	MessageDigest struct {
		DigestAlgorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		Digest []byte
	}
}

// sipHashes are the digests verify accepts: those Set-AuthenticodeSignature
// -HashAlgorithm offers, which osslsigncode -h offers too.
var sipHashes = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{pkcs7.OIDDigestAlgorithmSHA1, crypto.SHA1},
	{pkcs7.OIDDigestAlgorithmSHA256, crypto.SHA256},
	{pkcs7.OIDDigestAlgorithmSHA384, crypto.SHA384},
	{pkcs7.OIDDigestAlgorithmSHA512, crypto.SHA512},
}

var oidMD5 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}

// checkSignature checks the signature block of a file against the script
// above it.
func checkSignature(block []byte, line int, script []byte) Signature {
	der, err := readSignatureBlock(block, line)
	if err != nil {
		return Signature{Line: line, Problem: err.Error()}
	}
	s, err := checkPKCS7(der, script)
	if err != nil {
		return Signature{Line: line, Problem: err.Error()}
	}
	s.Line = line
	return s
}

// checkPKCS7 reads an Authenticode signature and checks it against the
// script; the error says why it cannot be checked.
func checkPKCS7(der, script []byte) (Signature, error) {
	var s Signature
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return s, fmt.Errorf("it is not PKCS#7 signed data (%v)", err)
	}
	if len(p7.Signers) != 1 {
		return s, fmt.Errorf("it has %d signers, where Authenticode has one", len(p7.Signers))
	}
	var contentType asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &contentType); err != nil || !contentType.Equal(oidSpcIndirectDataContent) {
		return s, errors.New("it is not an Authenticode signature: it does not sign an SpcIndirectDataContent")
	}
	// The library gives the content without its SEQUENCE tag and length,
	// which is what the signed messageDigest attribute covers.
	seq, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: p7.Content})
	if err != nil {
		return s, fmt.Errorf("its SpcIndirectDataContent: %w", err)
	}
	var content spcIndirectDataContent
	if rest, err := asn1.Unmarshal(seq, &content); err != nil || len(rest) > 0 {
		return s, fmt.Errorf("its SpcIndirectDataContent cannot be read (%v)", err)
	}
	alg := content.MessageDigest.DigestAlgorithm.Algorithm
	hash := crypto.Hash(0)
	for _, h := range sipHashes {
		if alg.Equal(h.oid) {
			hash = h.hash
		}
	}
	switch {
	case alg.Equal(oidMD5):
		return s, errors.New("its digest is MD5, which verify does not accept: sign with SHA-256")
	case hash == 0:
		return s, fmt.Errorf("its digest algorithm %s is none of SHA-1, SHA-256, SHA-384 and SHA-512", alg)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return s, errors.New("it does not carry the signer's certificate")
	}
	s.Signer = signer.Subject.String()
	s.DigestAlgorithm = hash.String()
	s.DigestMatches = bytes.Equal(content.MessageDigest.Digest, sipDigest(hash, script))
	if err := p7.Verify(); err != nil {
		s.Invalid = strings.TrimPrefix(err.Error(), "pkcs7: ")
	}
	return s, nil
}

// sipDigest is the digest the PowerShell SIP gives a signed .ps1 whose text
// above the signature block is script: the digest of that text in UTF-16 LE,
// without the line break before the block. Source: osslsigncode 2.9,
// script.c: script_ctx_get sets sigpos to the line break (CR LF, or LF)
// before the first line that starts with "# SIG # Begin signature block";
// script_digest_calc_bio digests the file's bytes before sigpos (the whole
// file when unsigned, which is what sign digests before it appends the
// block); script_digest_convert converts them from UTF-8 to UTF-16 LE
// (utf8_to_utf16) unless the file starts with the UTF-16 LE byte order mark.
// Windows reads a file without a byte order mark in the machine's ANSI code
// page (Microsoft's "Hash of the file does not match when running signed
// PowerShell script"), osslsigncode as UTF-8: for the 7-bit ASCII that
// sfbpatch writes both give the same UTF-16. Bytes that are not UTF-8 (a
// change anyway) become U+FFFD here.
func sipDigest(hash crypto.Hash, script []byte) []byte {
	units := utf16.Encode([]rune(string(script)))
	text := make([]byte, 0, 2*len(units))
	for _, u := range units {
		text = binary.LittleEndian.AppendUint16(text, u)
	}
	h := hash.New()
	h.Write(text)
	return h.Sum(nil)
}
