package protocol

import (
	"net/url"
	"strings"
)

// Params are the query parameters IM appends to the configured callback URL
// (docs/protocol.md §1.1). Values are URL-decoded; absent parameters are empty.
type Params struct {
	SdkAppid        string // the app's SDKAppID in decimal
	CallbackCommand string // the command, e.g. "Group.CallbackAfterCreateTopic"
	ContentType     string // contenttype, usually "json"
	ClientIP        string // the end user's client address, informational only
	OptPlatform     string // the platform as sent (RESTAPI, Web, iOS, IOS …)
	Sign            string // the hex SHA-256 signature; sent with callback authentication only
	RequestTime     string // Unix seconds Sign covers; with callback authentication only
}

// ParseParams reads the callback parameters from a raw query string in one
// pass. Names are matched case-insensitively (IM's docs spell SdkAppid,
// SDKAppID and SdkAppId), order does not matter and unknown parameters are
// ignored. When a name repeats, the first non-empty value wins (url.Values.Get
// would keep an empty first one).
func ParseParams(rawQuery string) Params {
	var p Params
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		name, value, _ := strings.Cut(pair, "=")
		dst := p.field(name)
		if dst == nil || *dst != "" {
			continue
		}
		*dst = unescape(value)
	}
	return p
}

// IsParam reports whether name is one of the callback parameters (Params),
// matched as ParseParams matches them: case-insensitively.
func IsParam(name string) bool { return (&Params{}).field(name) != nil }

// field maps a parameter name to the struct field that holds it. The
// length picks the candidates first, so most names cost one comparison.
func (p *Params) field(name string) *string {
	switch len(name) {
	case 4:
		if strings.EqualFold(name, "Sign") {
			return &p.Sign
		}
	case 8:
		switch {
		case strings.EqualFold(name, "SdkAppid"):
			return &p.SdkAppid
		case strings.EqualFold(name, "ClientIP"):
			return &p.ClientIP
		}
	case 11:
		switch {
		case strings.EqualFold(name, "contenttype"):
			return &p.ContentType
		case strings.EqualFold(name, "OptPlatform"):
			return &p.OptPlatform
		case strings.EqualFold(name, "RequestTime"):
			return &p.RequestTime
		}
	case 15:
		if strings.EqualFold(name, "CallbackCommand") {
			return &p.CallbackCommand
		}
	}
	return nil
}

// Encode renders the parameters as a query string in the order of IM's
// documented example, leaving out empty ones.
func (p Params) Encode() string {
	var b strings.Builder
	add := func(name, value string) {
		if value == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(value))
	}
	add("SdkAppid", p.SdkAppid)
	add("CallbackCommand", p.CallbackCommand)
	add("contenttype", p.ContentType)
	add("ClientIP", p.ClientIP)
	add("OptPlatform", p.OptPlatform)
	add("Sign", p.Sign)
	add("RequestTime", p.RequestTime)
	return b.String()
}

// unescape decodes a query value, skipping the work when there is nothing to
// decode (the common case: IM's values are plain ASCII).
func unescape(v string) string {
	if strings.IndexByte(v, '%') < 0 && strings.IndexByte(v, '+') < 0 {
		return v
	}
	if d, err := url.QueryUnescape(v); err == nil {
		return d
	}
	return v
}
