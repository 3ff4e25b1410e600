// Command service is the binary of the wrk load step (bench/wrkload): the
// stock imcallback (cli.Main with topic sync) plus one before-command with
// a trivial allow handler, so the chain row of a known before-command has
// a handler to reach. Everything else is the stock binary's.
package main

import (
	"context"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

func allow(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
	return c2c.BeforeSendMsgCommand.Allow(), nil
}

func main() {
	cli.Main(topicsync.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return c2c.BeforeSendMsgCommand.Handle(allow)
	})))
}
