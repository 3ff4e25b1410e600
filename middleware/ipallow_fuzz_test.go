package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/middleware"
)

// FuzzIPExtractor: whatever a forwarding header holds, the source is ""
// or an address, read from the header when the peer is a trusted proxy
// (never the proxy itself, never with a zone) and the peer otherwise; ""
// only when an entry is no address.
func FuzzIPExtractor(f *testing.F) {
	for _, s := range []struct {
		peer, lines string
		realIP      bool
	}{
		{"10.0.0.5:1234", "203.0.113.9", false},
		{"10.0.0.5:1234", "203.0.113.9, 10.0.0.6", false},
		{"10.0.0.5:1234", "198.51.100.1:4711, [2001:db8::1]:80", false},
		{"10.0.0.5:1234", "203.0.113.9\njunk", false},
		{"10.0.0.5:1234", "203.0.113.9,,10.0.0.6", false},
		{"10.0.0.5:1234", "10.0.0.6, 10.0.0.7", false},
		{"10.0.0.5:1234", "::ffff:10.0.0.6, fe80::1%eth0", false},
		{"10.0.0.5:1234", "[fe80::7%eth1]:4711", false},
		{"[2001:db8::5]:1", "[2001:db8::9]:4711\n203.0.113.9", true},
		{"198.51.100.1:1234", "203.0.113.9", false},
		{"10.0.0.5:1234", "", true},
		{"not-an-address", "203.0.113.9", false},
	} {
		f.Add(s.peer, s.lines, s.realIP)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
	f.Fuzz(func(t *testing.T, peer, lines string, realIP bool) {
		header := "X-Forwarded-For"
		if realIP {
			header = "X-Real-IP"
		}
		req := httptest.NewRequest("POST", "/im/callback", nil)
		req.RemoteAddr = peer
		if lines != "" {
			req.Header[http.CanonicalHeaderKey(header)] = strings.Split(lines, "\n")
		}
		direct := middleware.NewIPExtractor(nil, "")(req)
		got := middleware.NewIPExtractor(trusted, header)(req)

		if lines == "" || !isTrusted(direct) {
			if got != direct {
				t.Fatalf("peer %q, header %q: source %q, want the peer %q", peer, lines, got, direct)
			}
			return
		}
		// Every entry, in the order written.
		entries := req.Header.Values(header)
		if !realIP {
			entries = strings.Split(strings.Join(entries, ","), ",")
		}
		var read []string
		unreadable := false
		for _, e := range entries {
			v := strings.TrimSpace(e)
			if ap, err := netip.ParseAddrPort(v); err == nil {
				read = append(read, ap.Addr().WithZone("").String())
			} else if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")); err == nil {
				read = append(read, a.WithZone("").String())
			} else {
				unreadable = true
			}
		}
		switch {
		case got == "":
			if !unreadable {
				t.Fatalf("header %q of readable entries %q: no source", lines, read)
			}
		case !slices.Contains(read, got):
			t.Fatalf("header %q: source %q is none of its entries %q (peer %q)", lines, got, read, direct)
		}
		if got != "" {
			if a, err := netip.ParseAddr(got); err != nil || a.Zone() != "" {
				t.Fatalf("header %q: source %q is no address without a zone: %v", lines, got, err)
			}
		}
	})
}
