// Command bao is the OpenBao CLI and server, built from the published module so
// the gateway's tests can run a real Vault-API server (`bao server -dev`).
package main

import (
	"os"

	"github.com/openbao/openbao/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
