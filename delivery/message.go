package delivery

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// Headers of an event message. The body is the message data.
const (
	// HeaderCommand is the CallbackCommand the request was routed on.
	HeaderCommand = "Imcallback-Command"
	// HeaderQuery holds the query parameters as protocol.Params.Encode
	// writes them, Sign left out.
	HeaderQuery = "Imcallback-Query"
	// HeaderReceivedAt is the receive time, RFC 3339 with nanoseconds, UTC.
	HeaderReceivedAt = "Imcallback-Received-At"
	// HeaderRequestID is the X-Request-Id of the HTTP request.
	HeaderRequestID = "Imcallback-Request-Id"
	// HeaderReplayOf names the message a replay copied, as "<stream>:<sequence>".
	HeaderReplayOf = "Imcallback-Replay-Of"
	// HeaderTarget names the forward destination a copy is for; absent
	// for the Go handler's.
	HeaderTarget = "Imcallback-Target"
)

// Headers a dead letter adds to the original headers.
const (
	// HeaderDeadError is the last handler error.
	HeaderDeadError = "Imcallback-Dead-Error"
	// HeaderDeadDeliveries is how often the event was delivered.
	HeaderDeadDeliveries = "Imcallback-Dead-Deliveries"
	// HeaderDeadStream and HeaderDeadSeq locate the original in the work stream.
	HeaderDeadStream = "Imcallback-Dead-Stream"
	HeaderDeadSeq    = "Imcallback-Dead-Seq"
	// HeaderDeadSubject is the original subject.
	HeaderDeadSubject = "Imcallback-Dead-Subject"
	// HeaderDeadMsgID is the original Nats-Msg-Id.
	HeaderDeadMsgID = "Imcallback-Dead-Msg-Id"
	// HeaderDeadAt is when the event was dead-lettered, RFC 3339, UTC.
	HeaderDeadAt = "Imcallback-Dead-At"
)

// ErrUndecodable reports a stream message that is not an event this
// package wrote; retrying it cannot help.
var ErrUndecodable = errors.New("delivery: message is not a stored event")

// Fingerprint is the SHA-256 of an event's SdkAppid, command and body,
// each prefixed with its length so that no two different triples hash the
// same input. MsgID and the forwarded webhook-id are made from it.
func Fingerprint(appID, command string, body []byte) [sha256.Size]byte {
	return fingerprint(appID, command, body)
}

// fingerprint hashes app, command, body and extra, each length-prefixed.
func fingerprint(appID, command string, body []byte, extra ...[]byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	write := func(field []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		h.Write(n[:])
		h.Write(field)
	}
	write([]byte(appID))
	write([]byte(command))
	write(body)
	for _, field := range extra {
		write(field)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// eventTimeKey is the body field that dates an event.
var eventTimeKey = []byte(`"EventTime"`)

// HasEventTime reports whether body carries an EventTime, which tells one
// event from the next with the same fields: the repeats of such a body are
// deduplicated whatever their RequestTime or arrival (see
// RequestFingerprint). Only a top-level EventTime with a value counts:
// null, "" and 0 date nothing (they decode to 0, docs/protocol.md §5.1),
// and the name inside a nested object or as a value (a topic named
// "EventTime", a custom field's Key) is no EventTime of the event.
func HasEventTime(body []byte) bool {
	if !bytes.Contains(body, eventTimeKey) {
		return false // most bodies without one, without a decode
	}
	var dated struct {
		EventTime *protocol.FlexInt `json:"EventTime"`
	}
	if err := gojson.Unmarshal(body, &dated); err != nil {
		return true // an EventTime that is no integer still tells events apart as text
	}
	return dated.EventTime != nil && *dated.EventTime != 0
}

// RequestFingerprint is the fingerprint of the event r carries: the
// Fingerprint of its SdkAppid, command and body and, for a body without an
// EventTime, also of the second the request was made in. Such a body (the
// topic callbacks and Sns.CallbackFriendAdd as documented) repeats
// whenever the same thing happens again (a topic renamed back, friends
// added again after a delete): without its second the second event would
// pass for a retry of the first and be answered OK and dropped.
//
// That second is the RequestTime IM signed the request at, as sent
// (decimal Unix seconds) or, without one (no token configured), the
// whole Unix second of r.ReceivedAt, written the same way. ReceivedAt is
// stored with the event to the nanosecond (HeaderReceivedAt) and a replay
// copies it, so the fingerprint of a stored event is the same across
// redeliveries and replays. A zero ReceivedAt (a request that was never
// received) dates nothing: the body alone decides, as for a body with an
// EventTime.
//
// A retry IM signs at a new time, or one that arrives unsigned in a later
// second, is then stored again, which handlers take (they are
// idempotent); a retry within the same second is still a duplicate, and
// so is a real repeat of the body within the same second: two identical
// bodies without EventTime in one second are one event.
func RequestFingerprint(r *dispatcher.Request) [sha256.Size]byte {
	if HasEventTime(r.Body) {
		return Fingerprint(r.Params.SdkAppid, r.Command, r.Body)
	}
	second := r.Params.RequestTime
	if second == "" {
		if r.ReceivedAt.IsZero() {
			return Fingerprint(r.Params.SdkAppid, r.Command, r.Body)
		}
		second = strconv.FormatInt(r.ReceivedAt.Unix(), 10)
	}
	return fingerprint(r.Params.SdkAppid, r.Command, r.Body, []byte(second))
}

// RequestMsgID is the deduplication id of the event r carries: the first
// 128 bits of its RequestFingerprint, as MsgID.
func RequestMsgID(r *dispatcher.Request) string {
	sum := RequestFingerprint(r)
	return base64.RawURLEncoding.EncodeToString(sum[:msgIDBytes])
}

// msgIDBytes is how much of the fingerprint MsgID keeps: 128 bits, so two
// different events share an id only with a chance of about n²/2¹²⁹ for n
// events in the duplicate window.
const msgIDBytes = 16

// MsgID is the deduplication id (Nats-Msg-Id) of an event whose body alone
// tells it apart (RequestMsgID is the one stored): the first 128
// bits of its Fingerprint, base64url without padding (22 characters). The
// stream keeps every id of the duplicate window in memory, so its length
// is paid per event: the 64 hex digits of the whole hash took 40 bytes
// more of each entry.
func MsgID(appID, command string, body []byte) string {
	sum := Fingerprint(appID, command, body)
	return base64.RawURLEncoding.EncodeToString(sum[:msgIDBytes])
}

// Subject is the subject of an event: <prefix>.<SdkAppid>.<command>.
// Characters a subject token cannot hold are replaced with '_'; the
// command keeps its '.', so subscribe with <prefix>.>.
func Subject(prefix, appID, command string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(appID) + len(command) + 2)
	b.WriteString(prefix)
	b.WriteByte('.')
	writeToken(&b, appID, false)
	b.WriteByte('.')
	writeToken(&b, command, true)
	return b.String()
}

// writeToken writes s as subject token(s): no wildcards, whitespace or
// empty tokens; dots only when allowed.
func writeToken(b *strings.Builder, s string, dots bool) {
	if s == "" {
		b.WriteByte('_')
		return
	}
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && dots && prev != '.' && i != len(s)-1:
		case c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			c = '_'
		}
		b.WriteByte(c)
		prev = c
	}
}

// newEventMsg builds the message that stores r's copy for target ("" for
// the Go handler). Each target's copy has its own Nats-Msg-Id, the
// event's id then ":" and the target.
func newEventMsg(o *Options, r *dispatcher.Request, target string) *nats.Msg {
	p := r.Params
	p.Sign = "" // derived from the token: not kept in the audit log
	h := make(nats.Header, 7)
	id := RequestMsgID(r)
	if target != "" {
		id += ":" + target
		h[HeaderTarget] = []string{target}
	}
	h[jetstream.MsgIDHeader] = []string{id}
	h[jetstream.ExpectedStreamHeader] = []string{o.Stream}
	h[HeaderCommand] = []string{headerValue(r.Command)}
	h[HeaderQuery] = []string{p.Encode()}
	h[HeaderReceivedAt] = []string{r.ReceivedAt.UTC().Format(time.RFC3339Nano)}
	if r.RequestID != "" {
		h[HeaderRequestID] = []string{headerValue(r.RequestID)}
	}
	return &nats.Msg{Subject: Subject(o.SubjectPrefix, r.Params.SdkAppid, r.Command), Header: h, Data: r.Body}
}

// headerValue keeps a header value on one line.
func headerValue(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// Decode rebuilds the request stored in an event message.
func Decode(h nats.Header, data []byte) (*dispatcher.Request, error) {
	command := h.Get(HeaderCommand)
	if command == "" {
		return nil, fmt.Errorf("%w: no %s header", ErrUndecodable, HeaderCommand)
	}
	at, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUndecodable, HeaderReceivedAt, err)
	}
	return &dispatcher.Request{
		Command:    command,
		Params:     protocol.ParseParams(h.Get(HeaderQuery)),
		Body:       data,
		ReceivedAt: at,
		RequestID:  h.Get(HeaderRequestID),
		Target:     h.Get(HeaderTarget),
	}, nil
}
