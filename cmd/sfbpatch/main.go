// Command sfbpatch compiles the facts of a Skype for Business Server or
// Lync Server 2013 Back End or Standard Edition server into one standalone
// PowerShell script that carries out Microsoft's patch procedure.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
