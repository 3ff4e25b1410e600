package protocol

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"time"
)

// Sign computes IM's callback signature: lower-case hex of
// SHA-256(token || requestTime), no separator, body not covered (docs/protocol.md §2.1).
func Sign(token, requestTime string) string {
	h := sha256.New()
	h.Write([]byte(token))
	h.Write([]byte(requestTime))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// SignAt is Sign with the request time given as a time.
func SignAt(token string, t time.Time) (sign, requestTime string) {
	requestTime = strconv.FormatInt(t.Unix(), 10)
	return Sign(token, requestTime), requestTime
}

// VerifySign reports whether sign matches any of tokens for requestTime. Each
// comparison is constant-time and every token is tried, so timing does not
// reveal which token matched.
func VerifySign(tokens []string, requestTime, sign string) bool {
	var want [sha256.Size]byte
	if len(sign) != hex.EncodedLen(sha256.Size) {
		return false
	}
	if _, err := hex.Decode(want[:], []byte(sign)); err != nil {
		return false
	}
	ok := 0
	for _, token := range tokens {
		h := sha256.New()
		h.Write([]byte(token))
		h.Write([]byte(requestTime))
		var got [sha256.Size]byte
		ok |= subtle.ConstantTimeCompare(h.Sum(got[:0]), want[:])
	}
	return ok == 1
}
