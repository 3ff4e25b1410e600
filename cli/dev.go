package cli

import (
	"os"
	"slices"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// announceDev logs that development defaults are in use, so nobody mistakes
// a `make run` for a configured service.
func announceDev(dev bool) func(*config.Config, *zap.Logger) {
	return func(cfg *config.Config, log *zap.Logger) {
		if dev && slices.Contains(cfg.SdkAppIDs, config.DevSdkAppID) {
			log.Warn("development mode: accepting the development SdkAppid; set IMCALLBACK_SDKAPPID to your app's SDKAppID for real use",
				zap.String("sdkappid", config.DevSdkAppID))
		}
	}
}

// warnUnknownEnv logs each IMCALLBACK_* variable that is no setting (a
// typo such as IMCALLBACK_TOKEN), with the closest real name.
func warnUnknownEnv(log *zap.Logger) {
	for _, w := range config.UnknownEnv(os.Environ()) {
		log.Warn(w)
	}
}
