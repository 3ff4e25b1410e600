// Command moderated runs imcallback with the moderation example module:
//
//	IMCALLBACK_SDKAPPID=1400000000 MODERATION_WORDS=spam,scam go run ./examples/moderation/cmd/moderated
package main

import (
	"os"
	"strings"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/logging"
)

func main() {
	fx.New(
		logging.FxLogger,
		imcallback.Module,
		delivery.Module,
		moderation.Module,
		fx.Supply(moderation.Config{Words: strings.Split(os.Getenv("MODERATION_WORDS"), ",")}),
	).Run()
}
