package generator

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"

	"github.com/sfbpatch/sfbpatch/internal/signtest"
)

// TestVerifySigned signs scripts with osslsigncode and each digest it and
// Set-AuthenticodeSignature offer: the script above the block is the
// script as generated, the signature holds, and the digest is the one
// osslsigncode holds and calculates.
func TestVerifySigned(t *testing.T) {
	signer := signtest.New(t)
	for _, tc := range []struct {
		facts  Facts
		digest string
		hash   crypto.Hash
	}{
		{standard(), "sha256", crypto.SHA256},
		{Facts{Product: "sfb2019", Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com", CollocatedStores: true}, "sha256", crypto.SHA256},
		{standard(), "sha1", crypto.SHA1},
		{standard(), "sha384", crypto.SHA384},
		{standard(), "sha512", crypto.SHA512},
	} {
		unsigned := script(t, tc.facts)
		signed := signer.Sign(t, unsigned, tc.digest)
		above, block, line := splitSignature(signed)
		if !bytes.Equal(above, unsigned) || line != bytes.Count(unsigned, []byte("\n"))+2 {
			t.Fatalf("%s: the text above the block (line %d) is not the script that was signed", tc.digest, line)
		}
		if rebuilt := withDER(t, signed, func([]byte) {}); !bytes.Equal(rebuilt, signed) {
			t.Errorf("%s: the block is not \"# \" and 64 base64 characters a line between its two lines:\n%s", tc.digest, block)
		}
		current, calculated := signer.Digests(t, signed)
		if ours := hex.EncodeToString(sipDigest(tc.hash, unsigned)); ours != current || ours != calculated {
			t.Errorf("%s: digest %s, osslsigncode holds %s and calculates %s", tc.digest, ours, current, calculated)
		}
		v := verify(t, signed)
		s := v.Signature
		if v.Outcome != Unchanged || s == nil || s.Failure() != "" || s.Signer != signtest.Subject || s.DigestAlgorithm != tc.hash.String() {
			t.Fatalf("%s: %+v, signature %+v", tc.digest, v, s)
		}
		notes := strings.Join(v.Notes(), "\n")
		if !strings.HasPrefix(notes, "signed by "+signtest.Subject+" ("+tc.hash.String()+"): ") ||
			!strings.Contains(notes, "checked by Windows (Get-AuthenticodeSignature), not by verify") ||
			strings.Contains(notes, "SHA-1 is a weak digest") != (tc.hash == crypto.SHA1) {
			t.Errorf("%s: notes %q", tc.digest, notes)
		}
	}
}

// TestVerifySignedThenEdited: one byte of the body changed after signing,
// with the header's body hash left or made consistent, is a change, and
// the signature's digest no longer matches; so do line endings changed
// after signing, which leave the script's commands as they were.
func TestVerifySignedThenEdited(t *testing.T) {
	signed := signtest.New(t).Sign(t, script(t, standard()), "sha256")
	unsigned, block, _ := splitSignature(signed)
	_, body, _ := parseHeader(unsigned)
	edited := editAt(unsigned, len(unsigned)-len(body)/2)
	_, editedBody, _ := parseHeader(edited)
	sum := sha256.Sum256(editedBody)
	oldSum := sha256.Sum256(body)
	consistent := bytes.Replace(edited, []byte(hex.EncodeToString(oldSum[:])), []byte(hex.EncodeToString(sum[:])), 1)
	for name, tc := range map[string]struct {
		file            []byte
		outcome         Outcome
		bodyHashMatches bool
	}{
		"body edited":                          {append(bytes.Clone(edited), block...), Changed, false},
		"body edited, header hash made to fit": {append(consistent, block...), Changed, true},
		"LF":                                   {bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")), OnlyEncodingChanged, true},
	} {
		v := verify(t, tc.file)
		if v.Outcome != tc.outcome || v.BodyHashMatches != tc.bodyHashMatches || v.Signature == nil || v.Signature.DigestMatches || v.Signature.Invalid != "" || v.Signature.Failure() == "" {
			t.Errorf("%s: outcome %d, body hash matches %v, signature %+v", name, v.Outcome, v.BodyHashMatches, v.Signature)
		}
		if notes := strings.Join(v.Notes(), "\n"); !strings.Contains(notes, "the signature's digest does not match the script above the signature block: the script changed after it was signed") {
			t.Errorf("%s: notes %q", name, notes)
		}
	}
}

// TestVerifySignatureBytesEdited changes one base64 character of the block
// in each part of the signature that the signature covers: the script's
// digest, the signed attributes' digest of it, the signature value, the
// signer's public key. Each is a signature that does not hold; the script
// above it is unchanged.
func TestVerifySignatureBytesEdited(t *testing.T) {
	unsigned := script(t, standard())
	signed := signtest.New(t).Sign(t, unsigned, "sha256")
	_, block, line := splitSignature(signed)
	der, err := readSignatureBlock(block, line)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	contentDigest := sha256.Sum256(p7.Content)
	for name, part := range map[string][]byte{
		"the script's digest":               sipDigest(crypto.SHA256, unsigned),
		"the signed attributes' digest":     contentDigest[:],
		"the signature value":               p7.Signers[0].EncryptedDigest,
		"the signer's public key (modulus)": p7.GetOnlySigner().RawSubjectPublicKeyInfo[40:],
	} {
		at := bytes.Index(der, part)
		if at < 0 {
			t.Fatalf("%s: not in the signature", name)
		}
		file := withDER(t, signed, func(der []byte) { der[at+3] ^= 1 })
		if differing(file, signed) != 1 {
			t.Fatalf("%s: %d bytes differ, not one", name, differing(file, signed))
		}
		v := verify(t, file)
		if v.Outcome != Unchanged || v.Signature == nil || v.Signature.Problem != "" || v.Signature.Failure() == "" {
			t.Errorf("%s: outcome %d, signature %+v", name, v.Outcome, v.Signature)
		}
	}
}

// TestVerifyUnreadableSignatureBlock: a block that cannot be read is a
// signature that does not hold, with its reason; the script above it is
// still checked.
func TestVerifyUnreadableSignatureBlock(t *testing.T) {
	unsigned := script(t, standard())
	signed := signtest.New(t).Sign(t, unsigned, "sha256")
	md5Signed := signtest.New(t).Sign(t, unsigned, "md5")
	begin := "\r\n" + signatureBeginLine + "\r\n"
	end := signatureEndLine + "\r\n"
	blockOf := func(der []byte) string {
		return begin + "# " + base64.StdEncoding.EncodeToString(der) + "\r\n" + end
	}
	for _, tc := range []struct{ name, block, want string }{
		{"no end line", strings.TrimSuffix(string(signed[len(unsigned):]), end), `it has no "# SIG # End signature block" line`},
		{"text after the end line", string(signed[len(unsigned):]) + "Invoke-Evil\r\n", `text after "# SIG # End signature block", which ends the file`},
		{"a line that is not a comment", begin + "MIIB\r\n" + end, `is not "# " and base64`},
		{"a character that is not base64", strings.Replace(string(signed[len(unsigned):]), "\r\n# MII", "\r\n# M!I", 1), `is not "# " and base64`},
		{"base64 cut short", begin + "# MIIBx\r\n" + end, "its base64 does not decode"},
		{"empty", begin + end, "it is not PKCS#7 signed data"},
		{"not PKCS#7", blockOf([]byte("hello")), "it is not PKCS#7 signed data"},
		{"PKCS#7 of data, not Authenticode", blockOf(signedData(t)), "it is not an Authenticode signature"},
		{"MD5", string(md5Signed[len(unsigned):]), "its digest is MD5, which verify does not accept"},
	} {
		v := verify(t, append(bytes.Clone(unsigned), tc.block...))
		s := v.Signature
		if v.Outcome != Unchanged || s == nil || !strings.Contains(s.Problem, tc.want) || s.Signer != "" ||
			!strings.HasPrefix(s.Failure(), "its signature block cannot be checked: ") {
			t.Errorf("%s: outcome %d, signature %+v, want a problem containing %q", tc.name, v.Outcome, s, tc.want)
		}
	}
}

// TestVerifySignatureRemoved: without its block, a signed script is the
// script as generated again.
func TestVerifySignatureRemoved(t *testing.T) {
	unsigned := script(t, standard())
	signed := signtest.New(t).Sign(t, unsigned, "sha256")
	above, _, _ := splitSignature(signed)
	if v := verify(t, above); v.Outcome != Unchanged || v.Signature != nil || len(v.Notes()) != 0 {
		t.Errorf("%+v", v)
	}
}

// FuzzSignatureBlock: whatever follows the begin line, reading and
// checking the block returns, with a problem or a verdict.
func FuzzSignatureBlock(f *testing.F) {
	unsigned := script(f, standard())
	signed := signtest.New(f).Sign(f, unsigned, "sha256")
	f.Add(signed[len(unsigned):])
	f.Add([]byte("\r\n" + signatureBeginLine + "\r\n# MII=\r\n" + signatureEndLine))
	f.Fuzz(func(t *testing.T, block []byte) {
		s := checkSignature(block, 1, unsigned)
		if s.Problem == "" && s.Signer == "" {
			t.Errorf("neither a problem nor a signer: %+v", s)
		}
	})
}

// withDER returns a signed file with its signature's DER bytes changed by
// edit, written back as osslsigncode writes the block.
func withDER(t *testing.T, signed []byte, edit func(der []byte)) []byte {
	t.Helper()
	above, block, line := splitSignature(signed)
	der, err := readSignatureBlock(block, line)
	if err != nil {
		t.Fatal(err)
	}
	edit(der)
	text := base64.StdEncoding.EncodeToString(der)
	out := bytes.NewBuffer(bytes.Clone(above))
	out.WriteString("\r\n" + signatureBeginLine + "\r\n")
	for len(text) > 0 {
		n := min(64, len(text))
		out.WriteString("# " + text[:n] + "\r\n")
		text = text[n:]
	}
	out.WriteString(signatureEndLine + "\r\n")
	return out.Bytes()
}

func differing(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n + max(len(a), len(b)) - min(len(a), len(b))
}

// signedData is a PKCS#7 signature of plain data, as S/MIME makes, not
// Authenticode.
func signedData(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1)}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	out, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
