// Command moderated runs imcallback with the moderation example module,
// with the whole stock command line (serve, config check, version, send,
// events, topics, delivery, allowlist, health):
//
//	IMCALLBACK_SDKAPPID=1400000000 IMCALLBACK_MODERATION_WORDS=spam,scam go run ./examples/moderation/cmd/moderated
package main

import (
	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/examples/moderation"
)

func main() { cli.Main(moderation.Module) }
