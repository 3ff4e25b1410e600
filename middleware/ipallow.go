package middleware

import (
	"net"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/protocol"
)

// IPAllowConfig configures IPAllowWithConfig.
type IPAllowConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// Allow lists the accepted source networks; empty accepts every source.
	Allow []netip.Prefix
	// Sources, when set, decide instead of Allow, per app: the request's
	// SdkAppid and its source address.
	Sources SourceChecker
}

// SourceChecker decides whether a callback of an app may come from an
// address (package allowlist implements it: global and per-app networks,
// and Tencent's published callback addresses).
type SourceChecker interface {
	Allowed(appID string, addr netip.Addr) bool
}

// DefaultIPAllowConfig accepts every source.
var DefaultIPAllowConfig = IPAllowConfig{Skipper: middleware.DefaultSkipper}

// IPAllowWithConfig rejects, with 403, a request whose source is outside
// cfg.Allow. The source is echo's RealIP, which believes forwarding headers
// only from trusted proxies (see NewIPExtractor); the ClientIP query
// parameter is the end user's address and is never used.
func IPAllowWithConfig(cfg IPAllowConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultIPAllowConfig.Skipper
	}
	allow := make([]netip.Prefix, len(cfg.Allow))
	for i, p := range cfg.Allow {
		allow[i] = config.NormalizePrefix(p) // sources are compared unmapped
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if len(allow) == 0 && cfg.Sources == nil {
			return next
		}
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			addr, err := netip.ParseAddr(c.RealIP())
			if err != nil {
				return protocol.ErrIPNotAllowed
			}
			addr = addr.Unmap()
			if cfg.Sources != nil {
				if cfg.Sources.Allowed(ParamsOf(c).SdkAppid, addr) {
					return next(c)
				}
				return protocol.ErrIPNotAllowed
			}
			for _, p := range allow {
				if p.Contains(addr) {
					return next(c)
				}
			}
			return protocol.ErrIPNotAllowed
		}
	}
}

// NewIPExtractor returns how echo finds a request's source address: the TCP
// peer, unless the peer is inside trusted, and only then the one forwarding
// header named (X-Forwarded-For, the default when empty, or X-Real-IP). The
// other header is never read: a proxy that sets X-Real-IP often passes the
// client's own X-Forwarded-For through, and one that appends to
// X-Forwarded-For leaves the client's X-Real-IP alone. Echo's own defaults
// trust loopback and private ranges; here nothing is trusted unless
// configured. Another header name panics.
func NewIPExtractor(trusted []netip.Prefix, header string) echo.IPExtractor {
	realIP := strings.EqualFold(header, echo.HeaderXRealIP)
	if header != "" && !realIP && !strings.EqualFold(header, echo.HeaderXForwardedFor) {
		panic("middleware: NewIPExtractor: header " + header + " is neither X-Forwarded-For nor X-Real-IP")
	}
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}))
	}
	if realIP {
		return echo.ExtractIPFromRealIPHeader(opts...)
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
