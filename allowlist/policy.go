package allowlist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/imcallback/imcallback/config"
)

// The broadest networks a Tencent list may hold; a broader entry would
// open the allowlist to a large part of the internet and is skipped.
const (
	minBits4 = 8
	minBits6 = 16
)

// maxEntries bounds a Tencent list: an answer of one nettype, the union
// of an app's answers and a saved file. Tencent's callback lists hold tens
// of entries; a longer one is refused as a failure (the last good list is
// kept) before it is parsed, since each entry costs time at every refresh
// and start, and the networks are compared one by one on every request.
const maxEntries = 4096

// policy is the decision of one app between two refreshes.
type policy struct {
	open   bool // no list applies: every source is accepted
	closed bool // an IPList app without a Tencent list: every source is refused
	hosts  map[netip.Addr]struct{}
	nets   []netip.Prefix
}

// newPolicy accepts the union of lists; open when they are all empty.
func newPolicy(lists ...[]netip.Prefix) *policy {
	p := &policy{hosts: map[netip.Addr]struct{}{}}
	for _, l := range lists {
		for _, n := range l {
			if n.IsSingleIP() {
				p.hosts[n.Addr()] = struct{}{}
			} else if !slices.Contains(p.nets, n) {
				p.nets = append(p.nets, n)
			}
		}
	}
	p.open = len(p.hosts) == 0 && len(p.nets) == 0
	return p
}

// allows reports whether addr is accepted.
func (p *policy) allows(addr netip.Addr) bool {
	switch {
	case p.open:
		return true
	case p.closed || !addr.IsValid():
		return false
	}
	addr = addr.Unmap().WithZone("") // a link-local peer's zone: no entry has one
	if _, ok := p.hosts[addr]; ok {
		return true
	}
	for _, n := range p.nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// normalizeAll normalizes configured prefixes, sorted and without repeats;
// one that is invalid, or that config.ParsePrefixes would refuse written
// out (config.CheckPrefix), is an error.
func normalizeAll(list []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		n, err := config.CheckPrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return sortUnique(out), nil
}

// sortUnique sorts list and drops repeats, in place.
func sortUnique(list []netip.Prefix) []netip.Prefix {
	slices.SortFunc(list, netip.Prefix.Compare)
	return slices.Compact(list)
}

// parseEntry parses one entry of a Tencent IPList: a bare IPv4 or IPv6
// address (a single host) or a CIDR. A zoned address, an IPv4-mapped
// network shorter than /96 and a network broader than /8 (IPv4) or /16
// (IPv6) are refused.
func parseEntry(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() < 96 {
			// Masked, it is an IPv6 network holding no IPv4 address but
			// ::1 and the like (::ffff:192.0.2.0/80 is ::/80), as
			// config.ParsePrefixes refuses it.
			return netip.Prefix{}, false
		}
		p = config.NormalizePrefix(p)
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	least := minBits6
	if p.Addr().Is4() {
		least = minBits4
	}
	if p.Bits() < least {
		return netip.Prefix{}, false
	}
	return p, true
}

// parseEntries parses a Tencent IPList: the usable entries, sorted and
// without repeats, and the raw entries it skipped.
func parseEntries(raw []string) (list []netip.Prefix, skipped []string) {
	for _, s := range raw {
		if p, ok := parseEntry(s); ok {
			list = append(list, p)
		} else {
			skipped = append(skipped, s)
		}
	}
	return sortUnique(list), skipped
}

// formatEntry writes p as a Tencent list does: a bare address for a single
// host, else a CIDR.
func formatEntry(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// examples are the first few skipped entries, quoted, for a log line.
func examples(skipped []string) []string {
	const n = 5
	out := make([]string, 0, min(len(skipped), n))
	for _, s := range skipped[:min(len(skipped), n)] {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		out = append(out, fmt.Sprintf("%q", s))
	}
	return out
}
