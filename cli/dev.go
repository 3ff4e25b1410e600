package cli

import (
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

// logConfigNotes logs, as warnings, the configuration's SettingWarnings (a
// forward timeout the handler deadline cuts short, a wide sign window;
// the missing token is the middleware's own warning), and each
// IMCALLBACK_* variable the configuration ignored: as a warning one that is no setting (a typo such as IMCALLBACK_TOKEN,
// with the closest real name; the modules' sections count as settings) or
// one of an app not accepted, the apps of the file's entries accepted
// though IMCALLBACK_SDKAPPID does not list them, and at info level a setting's variable set
// empty, which counts as unset.
func logConfigNotes(cfg *config.Config, log *zap.Logger) {
	for _, w := range cfg.SettingWarnings() {
		log.Warn(w)
	}
	for _, w := range cfg.EnvWarnings() {
		log.Warn(w)
	}
	for _, n := range cfg.EmptyEnv() {
		log.Info(n)
	}
}
