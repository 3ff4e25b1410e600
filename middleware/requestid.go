package middleware

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// RequestIDConfig configures RequestIDWithConfig.
type RequestIDConfig struct {
	// Skipper skips the middleware for some requests.
	Skipper middleware.Skipper
	// Generator makes a new id.
	Generator func() string
}

// DefaultRequestIDConfig generates 64 random bits as 16 hex digits.
var DefaultRequestIDConfig = RequestIDConfig{Skipper: middleware.DefaultSkipper, Generator: newRequestID}

// maxIncomingRequestID is the longest X-Request-Id taken from a client.
const maxIncomingRequestID = 64

// RequestIDWithConfig sets X-Request-Id on the response, where the access
// log and the dispatcher read it. An
// id the client sent is kept only when it is short and plain (at most 64
// letters, digits, '-', '_' or '.'): it runs before any verification, and
// the id is logged and stored with the event.
func RequestIDWithConfig(cfg RequestIDConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultRequestIDConfig.Skipper
	}
	if cfg.Generator == nil {
		cfg.Generator = DefaultRequestIDConfig.Generator
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !plainID(id) {
				id = cfg.Generator()
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

func plainID(id string) bool {
	if id == "" || len(id) > maxIncomingRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 64 bits from the runtime's per-thread random source as 16 hex digits.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
