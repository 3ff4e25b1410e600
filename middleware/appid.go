package middleware

import (
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imcallback/imcallback/protocol"
)

// AppIDConfig configures AppIDWithConfig.
type AppIDConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// Allowed are the accepted SdkAppid values.
	Allowed []string
}

// DefaultAppIDConfig allows no app id: every request is rejected until
// Allowed is set.
var DefaultAppIDConfig = AppIDConfig{Skipper: middleware.DefaultSkipper}

// AppIDWithConfig rejects, with 403, a request whose SdkAppid is missing or
// not one of cfg.Allowed (docs/protocol.md §2.3).
func AppIDWithConfig(cfg AppIDConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultAppIDConfig.Skipper
	}
	allowed := slices.Clone(cfg.Allowed)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			id := ParamsOf(c).SdkAppid
			if id == "" || !slices.Contains(allowed, id) {
				return protocol.ErrAppIDNotAllowed
			}
			return next(c)
		}
	}
}
