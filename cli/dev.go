package main

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
