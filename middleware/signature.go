package middleware

import (
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imcallback/imcallback/protocol"
)

// SignatureConfig configures SignatureWithConfig.
type SignatureConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// Tokens are the accepted callback tokens; more than one during rotation.
	// With none, the check is off (the service warns at start). An empty
	// token here or in AppTokens panics: anyone could sign with it.
	Tokens []string
	// AppTokens, when set, hold each app's own tokens by SdkAppid: a
	// request is verified with its app's tokens only, so one app's token
	// never opens another app. An app without an entry (a request without
	// SdkAppid too) uses Tokens, and is refused when they are empty while
	// some app has tokens: nothing can sign for it. Only an entry with no
	// tokens turns the check off, for its app alone.
	AppTokens map[string][]string
	// Window is the largest accepted |now - RequestTime|.
	Window time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// DefaultSignatureConfig has IM's one-minute freshness window.
var DefaultSignatureConfig = SignatureConfig{
	Skipper: middleware.DefaultSkipper,
	Window:  time.Minute,
	Now:     time.Now,
}

// SignatureWithConfig checks Sign = hex(sha256(token + RequestTime)) against
// every configured token in constant time and rejects, with 401, a missing,
// wrong or stale signature (docs/protocol.md §2.1, §2.2). A RequestTime
// that is not plain decimal digits (a sign, a leading zero) counts as stale.
func SignatureWithConfig(cfg SignatureConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultSignatureConfig.Skipper
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultSignatureConfig.Window
	}
	if cfg.Now == nil {
		cfg.Now = DefaultSignatureConfig.Now
	}
	tokens := slices.Clone(cfg.Tokens)
	appTokens := make(map[string][]string, len(cfg.AppTokens))
	anyToken := len(tokens) > 0
	for id, t := range cfg.AppTokens {
		appTokens[id] = slices.Clone(t)
		anyToken = anyToken || len(t) > 0
		if slices.Contains(t, "") {
			panic("middleware: Signature: an empty token for app " + id + " would accept a signature anyone can compute")
		}
	}
	if slices.Contains(tokens, "") {
		panic("middleware: Signature: an empty token would accept a signature anyone can compute")
	}
	window := int64(cfg.Window / time.Second)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if !anyToken {
			return next
		}
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			p := ParamsOf(c)
			tokens := tokens
			if own, ok := appTokens[p.SdkAppid]; ok {
				if len(own) == 0 {
					return next(c) // the app's entry turns the check off
				}
				tokens = own
			}
			// An app without an entry and no global tokens falls through
			// with none: refused below, never let through unsigned.
			if p.Sign == "" || p.RequestTime == "" {
				return protocol.ErrMissingSign
			}
			if !protocol.VerifySign(tokens, p.RequestTime, p.Sign) {
				return protocol.ErrBadSign
			}
			sent, ok := requestTime(p.RequestTime)
			if !ok {
				return protocol.ErrStaleRequest
			}
			if skew := cfg.Now().Unix() - sent; skew > window || skew < -window {
				return protocol.ErrStaleRequest
			}
			return next(c)
		}
	}
}

// requestTime reads RequestTime as IM writes it, the Unix second in plain
// decimal: digits only, without a sign or a leading zero. Sign covers the
// string, run together with the token, so a lenient reading would let a
// signature made with a token ending in "0" or "+" pass, written with that
// character moved to the time ("01700000000", "+1700000000"), as one made
// with the token without it: one app's, or a retired token's, signature
// taken for another's.
func requestTime(s string) (int64, bool) {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
