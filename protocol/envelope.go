package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Envelope is the JSON body every callback answer carries (docs/protocol.md §3.1).
type Envelope struct {
	ActionStatus string `json:"ActionStatus"` // StatusOK or StatusFail
	ErrorCode    int    `json:"ErrorCode"`    // a before-callback's decision or a rejection's code; 0 otherwise
	ErrorInfo    string `json:"ErrorInfo"`    // free text; with a custom deny code it reaches the client
}

// ActionStatus values.
const (
	StatusOK   = "OK"
	StatusFail = "FAIL"
)

// OKBody is the exact body of a plain success answer.
var OKBody = []byte(`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)

// ErrReplyNotObject is returned by AppendEnvelope when reply fields do not
// marshal to a JSON object, or name a field of the envelope.
var ErrReplyNotObject = errors.New("protocol: reply fields must marshal to a JSON object")

// AppendEnvelope appends the envelope followed by the fields of reply (a
// struct or map marshalling to a JSON object; nil for none) as one JSON
// object. The three envelope fields always come first, in the documented
// order. Reply fields named like envelope fields, in any case (a reader may
// match names in any case, as encoding/json does), are the caller's mistake
// and make the answer ambiguous, so they are rejected.
func AppendEnvelope(dst []byte, status string, code int, info string, reply any) ([]byte, error) {
	var extra []byte
	if reply != nil {
		raw, err := json.Marshal(reply)
		if err != nil {
			return dst, err
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) < 2 || raw[0] != '{' {
			return dst, ErrReplyNotObject
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return dst, err
		}
		for name := range probe {
			for _, k := range []string{"ActionStatus", "ErrorCode", "ErrorInfo"} {
				if strings.EqualFold(name, k) {
					return dst, fmt.Errorf("%w without the envelope's own fields: %q is %s", ErrReplyNotObject, name, k)
				}
			}
		}
		if len(probe) > 0 {
			extra = raw[1 : len(raw)-1]
		}
	}
	dst = append(dst, `{"ActionStatus":`...)
	dst = appendJSONString(dst, status)
	dst = append(dst, `,"ErrorCode":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"ErrorInfo":`...)
	dst = appendJSONString(dst, info)
	if len(extra) > 0 {
		dst = append(dst, ',')
		dst = append(dst, extra...)
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s as a JSON string. strconv.AppendQuote would
// write Go's escapes (\x01, \U000f0000), which are no JSON.
func appendJSONString(dst []byte, s string) []byte {
	if isPlainJSON(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	quoted, _ := json.Marshal(s) // a string always marshals
	return append(dst, quoted...)
}

// isPlainJSON reports whether s can stand between the quotes of a JSON
// string as it is and is written so by json.Marshal: printable ASCII
// without '"', '\\' or the characters json.Marshal escapes for HTML.
func isPlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
