package forward

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
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
