package imrest_test

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imrest"
)

// Tencent's published sample key and SdkAppID, as in its TLSSigAPIv2 examples.
const (
	testAppID = 1400000000
	testKey   = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	testAdmin = "administrator"
	testTTL   = 180 * 24 * time.Hour
)

var testNow = time.Unix(1700000000, 0)

// Golden values made outside this package (Python's hmac, zlib and json, and
// `openssl dgst -sha256 -hmac` for the HMAC) for testAppID, testKey,
// testAdmin, testTTL and testNow.
const (
	goldenHMAC    = "JCzxanF8NTTXau4m+2h9wv7gYJnyNksm0xm1NEXU274="
	goldenUserSig = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqSMTU1NUKIl2TmgkXN0dQXZ6aD7PFyrqpIzHOz8AsJiUgsNcnVNsqwLC8zT4-0yqv0yy7ONajINfRzjQg1MjexVaoFANTGNgc_"
)

// decodeDoc undoes the UserSig encoding by hand: Tencent's base64 variant,
// zlib, JSON.
func decodeDoc(t *testing.T, userSig string) map[string]any {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(userSig))
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("json: %v", err)
	}
	return doc
}

// encodeDoc is the inverse of decodeDoc, for forging UserSigs.
func encodeDoc(t *testing.T, doc map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(raw)
	w.Close()
	return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(base64.StdEncoding.EncodeToString(z.Bytes()))
}

func TestGenUserSigGolden(t *testing.T) {
	sig, err := imrest.GenUserSig(testAppID, testKey, testAdmin, testTTL, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sig, "+/=") {
		t.Errorf("usersig %q has a character of standard base64", sig)
	}
	doc := decodeDoc(t, sig)

	content := fmt.Sprintf("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n",
		testAdmin, testAppID, testNow.Unix(), int64(testTTL/time.Second))
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write([]byte(content))
	independent := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if independent != goldenHMAC {
		t.Fatalf("test's own HMAC %s differs from the golden %s", independent, goldenHMAC)
	}

	want := map[string]any{
		"TLS.ver":        "2.0",
		"TLS.identifier": testAdmin,
		"TLS.sdkappid":   json.Number("1400000000"),
		"TLS.time":       json.Number("1700000000"),
		"TLS.expire":     json.Number("15552000"),
		"TLS.sig":        goldenHMAC,
	}
	if len(doc) != len(want) {
		t.Errorf("document has %d fields, want %d: %v", len(doc), len(want), doc)
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %#v, want %#v", k, doc[k], v)
		}
	}
}

func TestVerifyUserSigAcceptsIndependentGolden(t *testing.T) {
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, goldenUserSig, testNow); err != nil {
		t.Fatalf("golden usersig from another implementation: %v", err)
	}
	if got := decodeDoc(t, goldenUserSig)["TLS.sig"]; got != goldenHMAC {
		t.Fatalf("golden usersig carries TLS.sig %v, want %s", got, goldenHMAC)
	}
}

// TestUserSigRoundTrip: a usersig made by GenUserSig verifies from its
// issue time through its last whole second, and is expired from then on: a
// fraction of a second in expire is dropped (TLS.expire counts whole
// seconds), never rounded up into a second the caller did not ask for.
func TestUserSigRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		appID      uint64
		identifier string
		expire     time.Duration
		now        time.Time
	}{
		{"administrator a day", testAppID, testAdmin, 24 * time.Hour, testNow},
		{"user 180 days", 20000001, "user_01-x", testTTL, time.Unix(1, 0)},
		{"one second", 1, "a", time.Second, time.Date(2030, 1, 2, 3, 4, 5, 999, time.UTC)},
		{"unicode identifier", testAppID, "用户", time.Hour, testNow},
		{"fraction of a second is dropped", testAppID, testAdmin, 90*time.Second + 900*time.Millisecond, testNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := imrest.GenUserSig(tt.appID, testKey, tt.identifier, tt.expire, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if err := imrest.VerifyUserSig(tt.appID, testKey, tt.identifier, sig, tt.now); err != nil {
				t.Fatalf("verify at issue time: %v", err)
			}
			last := tt.now.Add(tt.expire.Truncate(time.Second) - time.Second)
			if err := imrest.VerifyUserSig(tt.appID, testKey, tt.identifier, sig, last); err != nil {
				t.Fatalf("verify in its last second: %v", err)
			}
			wantExpire := fmt.Sprint(int64(tt.expire / time.Second))
			if got := decodeDoc(t, sig)["TLS.expire"]; fmt.Sprint(got) != wantExpire {
				t.Errorf("TLS.expire = %v, want %s (the whole seconds of %v)", got, wantExpire, tt.expire)
			}
			end := tt.now.Add(tt.expire.Truncate(time.Second))
			if err := imrest.VerifyUserSig(tt.appID, testKey, tt.identifier, sig, end); !errors.Is(err, imrest.ErrSigExpired) {
				t.Fatalf("verify once its whole seconds are over: %v, want ErrSigExpired", err)
			}
		})
	}
}

func TestVerifyUserSigRejectsTampering(t *testing.T) {
	good, err := imrest.GenUserSig(testAppID, testKey, testAdmin, testTTL, testNow)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(change func(doc map[string]any)) string {
		doc := decodeDoc(t, good)
		change(doc)
		return encodeDoc(t, doc)
	}
	tests := []struct {
		name       string
		key        string
		appID      uint64
		identifier string
		userSig    string
	}{
		{"one character of TLS.sig changed", testKey, testAppID, testAdmin, forge(func(d map[string]any) {
			s := d["TLS.sig"].(string)
			c := "A"
			if s[:1] == "A" {
				c = "B"
			}
			d["TLS.sig"] = c + s[1:]
		})},
		{"identifier changed inside", testKey, testAppID, "intruder", forge(func(d map[string]any) { d["TLS.identifier"] = "intruder" })},
		{"issued for another identifier", testKey, testAppID, "intruder", good},
		{"wrong key", testKey[:len(testKey)-1] + "f", testAppID, testAdmin, good},
		{"another SdkAppID", testKey, testAppID + 1, testAdmin, good},
		{"SdkAppID changed inside", testKey, testAppID + 1, testAdmin, forge(func(d map[string]any) { d["TLS.sdkappid"] = testAppID + 1 })},
		{"expire extended", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.expire"] = 10 * 365 * 86400 })},
		{"time moved", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.time"] = testNow.Unix() + 1 })},
		{"userbuf added", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.userbuf"] = "AAAA" })},
		{"other version", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.ver"] = "1.0" })},
		{"TLS.sig not base64", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.sig"] = "!!" })},
		{"TLS.sig missing", testKey, testAppID, testAdmin, forge(func(d map[string]any) { delete(d, "TLS.sig") })},
		{"sdkappid as a string", testKey, testAppID, testAdmin, forge(func(d map[string]any) { d["TLS.sdkappid"] = "1400000000" })},
		{"empty", testKey, testAppID, testAdmin, ""},
		{"not base64", testKey, testAppID, testAdmin, "%%%"},
		{"not zlib", testKey, testAppID, testAdmin, base64.StdEncoding.EncodeToString([]byte(`{"TLS.ver":"2.0"}`))},
		{"truncated", testKey, testAppID, testAdmin, good[:len(good)/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := imrest.VerifyUserSig(tt.appID, tt.key, tt.identifier, tt.userSig, testNow)
			if !errors.Is(err, imrest.ErrSigInvalid) {
				t.Fatalf("err = %v, want ErrSigInvalid", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("error %q contains the key", err)
			}
		})
	}
}

func TestVerifyUserSigExpiry(t *testing.T) {
	const expire = time.Hour
	sig, err := imrest.GenUserSig(testAppID, testKey, testAdmin, expire, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		at    time.Time
		valid bool
	}{
		{"at issue", testNow, true},
		{"last second", testNow.Add(expire - time.Second), true},
		{"last instant", testNow.Add(expire - time.Nanosecond), true},
		{"at expiry", testNow.Add(expire), false},
		{"a day later", testNow.Add(24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, sig, tt.at)
			switch {
			case tt.valid && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case !tt.valid && !errors.Is(err, imrest.ErrSigExpired):
				t.Fatalf("err = %v, want ErrSigExpired", err)
			}
		})
	}

	// An expired forgery is reported as invalid, not merely expired.
	if err := imrest.VerifyUserSig(testAppID, "other-key", testAdmin, sig, testNow.Add(24*time.Hour)); !errors.Is(err, imrest.ErrSigInvalid) {
		t.Fatalf("expired forgery: err = %v, want ErrSigInvalid", err)
	}
}

func TestGenUserSigRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name       string
		appID      uint64
		key        string
		identifier string
		expire     time.Duration
	}{
		{"zero SdkAppID", 0, testKey, testAdmin, time.Hour},
		{"empty key", testAppID, "", testAdmin, time.Hour},
		{"empty identifier", testAppID, testKey, "", time.Hour},
		{"zero expire", testAppID, testKey, testAdmin, 0},
		{"negative expire", testAppID, testKey, testAdmin, -time.Hour},
		{"under a second", testAppID, testKey, testAdmin, 999 * time.Millisecond},
		// The signed text is lines of "field:value": a newline would let the
		// identifier's text stand for the fields after it.
		{"newline in the identifier", testAppID, testKey, "a\nTLS.sdkappid:1", time.Hour},
		// JSON carries U+FFFD for it, while the HMAC was over the bytes: the
		// usersig could never verify.
		{"identifier not UTF-8", testAppID, testKey, "adm\xffin", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := imrest.GenUserSig(tt.appID, tt.key, tt.identifier, tt.expire, testNow)
			if !errors.Is(err, imrest.ErrInvalidArgument) || sig != "" {
				t.Fatalf("GenUserSig = %q, %v; want ErrInvalidArgument", sig, err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("error %q contains the key", err)
			}
		})
	}
}

// signedDoc is a TLSSigAPIv2 document for identifier signed with testKey
// the way any implementation signs it, bypassing GenUserSig's checks: a
// usersig another issuer might have made.
func signedDoc(identifier string, issued, expire int64, userbuf string) map[string]any {
	content := fmt.Sprintf("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", identifier, testAppID, issued, expire)
	doc := map[string]any{"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": testAppID, "TLS.time": issued, "TLS.expire": expire}
	if userbuf != "" {
		content += "TLS.userbuf:" + userbuf + "\n"
		doc["TLS.userbuf"] = userbuf
	}
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write([]byte(content))
	doc["TLS.sig"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return doc
}

// TestVerifyUserSigRefusesShiftedFields: the signed text is lines of
// "field:value", so a newline inside a value can move text from one field
// to the next. A usersig genuinely issued for an identifier that carries
// newlines (a user name an app's sign-up took as typed) has its signature
// over the very text of a document for another identifier
// (administrator), valid for ten years, whose TLS.userbuf holds the rest:
// that forgery must not verify, nor may any document with a newline in
// its identifier or a TLS.userbuf that is not base64.
func TestVerifyUserSigRefusesShiftedFields(t *testing.T) {
	issued, expire := testNow.Unix(), int64(86400)
	forgedTime, forgedExpire := testNow.Unix(), int64(10*365*86400)
	crafted := fmt.Sprintf("%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\nTLS.userbuf:AAAA", testAdmin, testAppID, forgedTime, forgedExpire)
	genuine := signedDoc(crafted, issued, expire, "")
	forged := map[string]any{
		"TLS.ver": "2.0", "TLS.identifier": testAdmin, "TLS.sdkappid": testAppID,
		"TLS.time": forgedTime, "TLS.expire": forgedExpire,
		"TLS.userbuf": fmt.Sprintf("AAAA\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d", testAppID, issued, expire),
		"TLS.sig":     genuine["TLS.sig"], // the genuine usersig's signature, unchanged
	}
	tests := []struct {
		name       string
		identifier string
		doc        map[string]any
	}{
		{"administrator forged from a crafted identifier's usersig", testAdmin, forged},
		{"the crafted identifier's own usersig", crafted, genuine},
		{"a newline in the identifier", "a\nb", signedDoc("a\nb", issued, expire, "")},
		{"a userbuf that is not base64", testAdmin, signedDoc(testAdmin, issued, expire, "not base64")},
		{"a userbuf broken over lines", testAdmin, signedDoc(testAdmin, issued, expire, "AAAA\nAAAA")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := imrest.VerifyUserSig(testAppID, testKey, tt.identifier, encodeDoc(t, tt.doc), testNow.Add(2*86400*time.Second))
			if !errors.Is(err, imrest.ErrSigInvalid) {
				t.Fatalf("err = %v, want ErrSigInvalid", err)
			}
		})
	}
	// A genuine userbuf (base64, as every issuer encodes it) still verifies.
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, encodeDoc(t, signedDoc(testAdmin, issued, expire, "AAAA")), testNow); err != nil {
		t.Fatalf("a usersig with a base64 userbuf: %v", err)
	}
}

// TestVerifyUserSigAcceptsAnEmptyUserbuf: TLSSigAPIv2's issuers sign a
// "TLS.userbuf:" line whenever the document carries TLS.userbuf, empty
// too (a userbuf of no bytes, whose base64 is ""); such a usersig is
// genuine and verifies, and the same document without the line signed
// does not.
func TestVerifyUserSigAcceptsAnEmptyUserbuf(t *testing.T) {
	issued, expire := testNow.Unix(), int64(86400)
	sign := func(content string) string {
		mac := hmac.New(sha256.New, []byte(testKey))
		mac.Write([]byte(content))
		return base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	lines := fmt.Sprintf("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", testAdmin, testAppID, issued, expire)
	doc := func(sig string) string {
		return encodeDoc(t, map[string]any{"TLS.ver": "2.0", "TLS.identifier": testAdmin, "TLS.sdkappid": testAppID,
			"TLS.time": issued, "TLS.expire": expire, "TLS.userbuf": "", "TLS.sig": sig})
	}
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, doc(sign(lines+"TLS.userbuf:\n")), testNow); err != nil {
		t.Fatalf("a usersig with an empty TLS.userbuf, signed as its issuers sign it: %v", err)
	}
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, doc(sign(lines)), testNow); !errors.Is(err, imrest.ErrSigInvalid) {
		t.Fatalf("an empty TLS.userbuf its signature does not cover: %v, want ErrSigInvalid", err)
	}
}

// TestVerifyUserSigRefusesAnEmptyKey: an HMAC with an empty key is one
// anyone can compute, so VerifyUserSig with an empty secret key (a key
// read from a variable that is unset) must accept no UserSig, as the
// middleware refuses an empty callback token, rather than accept one
// forged with the empty key.
func TestVerifyUserSigRefusesAnEmptyKey(t *testing.T) {
	issued, expire := testNow.Unix(), int64(86400)
	mac := hmac.New(sha256.New, nil)
	fmt.Fprintf(mac, "TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", testAdmin, testAppID, issued, expire)
	forged := encodeDoc(t, map[string]any{"TLS.ver": "2.0", "TLS.identifier": testAdmin, "TLS.sdkappid": testAppID,
		"TLS.time": issued, "TLS.expire": expire, "TLS.sig": base64.StdEncoding.EncodeToString(mac.Sum(nil))})
	err := imrest.VerifyUserSig(testAppID, "", testAdmin, forged, testNow)
	if !errors.Is(err, imrest.ErrInvalidArgument) {
		t.Fatalf("VerifyUserSig with an empty key = %v, want ErrInvalidArgument", err)
	}
	if errors.Is(err, imrest.ErrSigExpired) {
		t.Fatalf("err %v reads as a genuine, expired UserSig", err)
	}
}
