// Command imcallback runs the Tencent IM callback service and its tools:
// the stock command line of package cli with the topic sync plugin.
//
//	imcallback [serve]        run the service (the default)
//	imcallback config check   validate the configuration and print it, secrets redacted
//	imcallback version        print the version
package main

import (
	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

func main() { cli.Main(topicsync.Module) }
