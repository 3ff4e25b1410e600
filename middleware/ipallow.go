package middleware

import (
	"iter"
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
	// A network IMCALLBACK_ALLOW_CIDRS would refuse written out
	// (config.CheckPrefix: 10.0.0.0/0, a typo for /8, say) panics.
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

// AnySourceChecker is a SourceChecker that can also say whether any app
// accepts a source (package allowlist's Set is one). NewPeerCheck uses it
// to refuse, at accept, a connection whose every request ip_allow would
// refuse.
type AnySourceChecker interface {
	SourceChecker
	// AllowedByAny reports whether some configured app accepts addr.
	AllowedByAny(addr netip.Addr) bool
}

// NewPeerCheck returns whether a connection's TCP peer can send a request
// that ip_allow accepts, for the listener to refuse the others as they
// connect: a peer inside trusted (a proxy, whose clients are known only
// from each request's header) always can; otherwise the peer is the
// source, and it must be inside allow or, with sources, accepted by some
// app. Without the check a source outside the allowlist held a place
// under IMCALLBACK_MAX_CONNS for the whole header timeout before its
// request was refused, so a few of them locked the allowed sources out.
// It returns nil when every peer can (no allowlist, or sources that
// cannot tell for every app at once).
func NewPeerCheck(allow []netip.Prefix, sources SourceChecker, trusted []netip.Prefix) func(netip.Addr) bool {
	nets := normalized(trusted)
	var accepts func(netip.Addr) bool
	switch every, _ := sources.(AnySourceChecker); {
	case sources != nil && every == nil:
		return nil
	case sources != nil:
		accepts = every.AllowedByAny
	case len(allow) == 0:
		return nil
	default:
		allow := normalized(allow)
		accepts = func(a netip.Addr) bool { return inAny(allow, a) }
	}
	return func(peer netip.Addr) bool {
		peer = bareAddr(peer)
		return inAny(nets, peer) || accepts(peer)
	}
}

// DefaultIPAllowConfig accepts every source.
var DefaultIPAllowConfig = IPAllowConfig{Skipper: middleware.DefaultSkipper}

// IPAllowWithConfig rejects, with 403, a request whose source is outside
// cfg.Allow. The source is echo's RealIP: the echo instance's IPExtractor
// (the service sets NewIPExtractor, which believes forwarding headers only
// from trusted proxies), else the TCP peer, since echo v4.16.3 (go.mod
// requires a later one; before it, any client's X-Forwarded-For could name
// an allowed address); the ClientIP query parameter is the end user's
// address and is never used.
// It is compared unmapped and without its zone (a link-local address's
// interface), and so given to cfg.Sources.
func IPAllowWithConfig(cfg IPAllowConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultIPAllowConfig.Skipper
	}
	allow := make([]netip.Prefix, len(cfg.Allow))
	for i, p := range cfg.Allow {
		n, err := config.CheckPrefix(p)
		if err != nil {
			panic("middleware: IPAllow: " + err.Error())
		}
		allow[i] = n
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
			addr = bareAddr(addr)
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
//
// The header is read from the nearest entry back (X-Forwarded-For's lines
// are comma-separated lists, X-Real-IP's one address a line, the last line
// the nearest when a proxy adds its own instead of replacing the client's):
// the source is the first address outside trusted, the furthest when all
// are inside. An entry may carry a port (203.0.113.9:4711,
// [2001:db8::1]:4711), as some proxies write it; an IPv6 zone in an entry
// is dropped. An entry that is no
// address makes the source unknown (""), which ip_allow refuses: the peer
// is the proxy, and taking it for the source would let every client behind
// it pass an allowlist that covers the proxy's network.
//
// A trusted network IMCALLBACK_TRUSTED_PROXIES would refuse written out
// (config.CheckTrustedProxy: 0.0.0.0/0, or another broader than /8 or
// /16, from which any client could name its own source) panics.
func NewIPExtractor(trusted []netip.Prefix, header string) echo.IPExtractor {
	realIP := strings.EqualFold(header, echo.HeaderXRealIP)
	if header != "" && !realIP && !strings.EqualFold(header, echo.HeaderXForwardedFor) {
		panic("middleware: NewIPExtractor: header " + header + " is neither X-Forwarded-For nor X-Real-IP")
	}
	peerOf := echo.ExtractIPDirect()
	if len(trusted) == 0 {
		return peerOf
	}
	nets := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		n, err := config.CheckTrustedProxy(p)
		if err != nil {
			panic("middleware: NewIPExtractor: " + err.Error())
		}
		nets[i] = n
	}
	isTrusted := func(a netip.Addr) bool { return inAny(nets, bareAddr(a)) }
	key := echo.HeaderXForwardedFor
	if realIP {
		key = echo.HeaderXRealIP
	}
	return func(req *http.Request) string {
		direct := peerOf(req)
		lines := req.Header[key]
		if len(lines) == 0 {
			return direct
		}
		if peer, err := netip.ParseAddr(direct); err != nil || !isTrusted(peer) {
			return direct
		}
		for entry, first := range entriesFromEnd(lines, !realIP) {
			a, ok := forwardedAddr(entry)
			if !ok {
				return ""
			}
			if first || !isTrusted(a) {
				return a.String()
			}
		}
		return direct
	}
}

// entriesFromEnd yields the entries of a forwarding header's lines from
// the last one back, each line split at its commas when split is set, and
// whether the entry is the first of all. It reads them in place, without
// a list: a client behind the proxy chooses what comes before its own
// address, up to the header limit of commas, and a list of every entry
// cost 16 bytes a comma, before anything was verified.
func entriesFromEnd(lines []string, split bool) iter.Seq2[string, bool] {
	return func(yield func(string, bool) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			line := lines[i]
			for {
				j := -1 // the comma before the last entry of line, if any
				if split {
					j = strings.LastIndexByte(line, ',')
				}
				if !yield(line[j+1:], i == 0 && j < 0) {
					return
				}
				if j < 0 {
					break
				}
				line = line[:j]
			}
		}
	}
}

// forwardedAddr reads one entry of a forwarding header: an address,
// bracketed or not, with or without a port, without its zone. A zone names
// an interface of the host that wrote the entry, nothing here; kept, it
// carried whatever a client wrote after the % (up to the header's size)
// into the access log, and swallowed the port of a bracketed entry
// ([fe80::7%eth1]:4711 read as the zone "eth1]:4711"). The port form is
// read first for that reason.
func forwardedAddr(entry string) (netip.Addr, bool) {
	v := strings.TrimSpace(entry)
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")); err == nil {
		return a.WithZone(""), true
	}
	return netip.Addr{}, false
}

// bareAddr is addr as it is compared with configured networks: unmapped
// (an IPv4-mapped address is its IPv4 address) and without a zone. A
// link-local peer's address carries its interface's zone (fe80::5%eth0),
// which no prefix contains; the configuration refuses zoned entries, so
// an entry names the address on any interface.
func bareAddr(addr netip.Addr) netip.Addr { return addr.Unmap().WithZone("") }

// normalized is ps as addresses are compared with them (bareAddr):
// config.NormalizePrefix of each, so that an IPv4-mapped network is its
// IPv4 network.
func normalized(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = config.NormalizePrefix(p)
	}
	return out
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
