package generator

import (
	"io"
	"testing"
)

// BenchmarkGenerate measures one script from facts to bytes: validation,
// plan and render. A fleet of servers is generated one script at a time.
func BenchmarkGenerate(b *testing.B) {
	f := Facts{Product: "sfb2019", Edition: EditionEnterprise, SQLServerFQDN: "sql01.contoso.com",
		CollocatedStores: true, UpdatePath: `D:\Updates\SkypeServerUpdateInstaller.exe`,
		ServerFQDN: "be01.contoso.com", TargetVersion: "7.0.2046.523"}
	b.ReportAllocs()
	for b.Loop() {
		if err := Generate(io.Discard, f, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
