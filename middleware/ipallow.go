package middleware

import (
	"net"
	"net/http"
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
			if inAny(allow, addr) {
				return next(c)
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
	if realIP {
		return extractFromRealIP(trusted)
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// extractFromRealIP reads X-Real-IP from a trusted peer the way
// X-Forwarded-For is read: from the nearest line back, the first address
// outside trusted (the furthest when all are inside). A proxy that adds its
// line (HAProxy's add-header) instead of replacing the header leaves the
// client's own line first, which echo's extractor believed (it reads the
// first). A line that is no address ends the walk at the peer.
func extractFromRealIP(trusted []netip.Prefix) echo.IPExtractor {
	nets := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		nets[i] = config.NormalizePrefix(p)
	}
	isTrusted := func(a netip.Addr) bool { return inAny(nets, a.Unmap()) }
	peerOf := echo.ExtractIPDirect()
	return func(req *http.Request) string {
		direct := peerOf(req)
		lines := req.Header[echo.HeaderXRealIP]
		if len(lines) == 0 {
			return direct
		}
		if peer, err := netip.ParseAddr(direct); err != nil || !isTrusted(peer) {
			return direct
		}
		for i := len(lines) - 1; i >= 0; i-- {
			v := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[i]), "["), "]")
			a, err := netip.ParseAddr(v)
			if err != nil {
				return direct
			}
			if i == 0 || !isTrusted(a) {
				return v
			}
		}
		return direct
	}
}

// inAny reports whether addr is inside one of nets.
func inAny(nets []netip.Prefix, addr netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
