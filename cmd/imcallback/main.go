// Command imcallback runs the Tencent IM callback service and its tools:
// the stock command line of package cli with the topic sync plugin.
//
//	imcallback [serve]                        run the service (the default)
//	imcallback config check                   validate the configuration and print it, secrets redacted
//	imcallback version                        print the version
//	imcallback topics list|get                read the topic store
//	imcallback events list|get|dead|replay    read and replay the JetStream event log
//	imcallback delivery status|pause|resume   the durable delivery workers
//	imcallback send                           send a signed callback as Tencent IM does
//	imcallback allowlist                      each app's effective source allowlist
//	imcallback health                         probe the running service (the image's HEALTHCHECK)
//
// The README's "Command line" section describes them.
package main

import (
	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

func main() { cli.Main(topicsync.Module) }
