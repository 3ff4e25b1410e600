package forward

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// Headers of a forwarded callback. The webhook-* three are those of the
// Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	HeaderCommand   = "X-Imcallback-Command"
	HeaderApp       = "X-Imcallback-App"
	// HeaderKind is "before" when IM waits for the destination's envelope
	// (the friend-request and chatbot commands too, whose names lack
	// "Before"), "after" when the answer is only acknowledged.
	HeaderKind = "X-Imcallback-Kind"
)

// Sign is the webhook-signature value of a request: "v1," followed by the
// base64 HMAC-SHA256, under key, of id "." timestamp "." body.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignAll is the webhook-signature value of a request signed with each
// key, in order: Sign's value for each, separated by single spaces, as the
// specification allows so that a secret can be rotated. A receiver
// accepts the request when any one of them verifies. With one key it is
// Sign's value, at no extra cost.
func SignAll(keys [][]byte, id string, timestamp int64, body []byte) string {
	if len(keys) == 1 {
		return Sign(keys[0], id, timestamp, body)
	}
	sigs := make([]string, len(keys))
	for i, key := range keys {
		sigs[i] = Sign(key, id, timestamp, body)
	}
	return strings.Join(sigs, " ")
}
