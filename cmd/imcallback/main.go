// Command imcallback runs the Tencent IM callback service and its tools.
//
//	imcallback [serve]        run the service (the default)
//	imcallback config check   validate the configuration and print it, secrets redacted
//	imcallback version        print the version
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "imcallback:", err)
		os.Exit(1)
	}
}
