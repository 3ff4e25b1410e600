package catalogue

import (
	"embed"
	"strings"
)

// samples holds one sample request body per command, named
// "<CallbackCommand>.json". Values are invented; the structure follows
// docs/protocol.md and the Tencent pages cited in the catalogue.
//
//go:embed testdata/samples/*.json
var samples embed.FS

// Sample returns the sample request body of command, a fresh copy.
func Sample(command string) ([]byte, bool) {
	if command == "" || strings.ContainsAny(command, "/\\") {
		return nil, false
	}
	b, err := samples.ReadFile("testdata/samples/" + command + ".json")
	if err != nil {
		return nil, false
	}
	return b, true
}
