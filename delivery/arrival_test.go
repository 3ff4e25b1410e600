package delivery_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/protocol"
)

// topicInfo is a callback whose body carries no EventTime.
const topicInfo = "Group.CallbackAfterTopicInfoChanged"

// renamed is the body of topicInfo for a topic renamed to name.
func renamed(name string) string {
	return fmt.Sprintf(`{"CallbackCommand":%q,"GroupId":"@TGS#_g","TopicId":"@TGS#_g@TOPIC#_1","Type":"Community","Operator_Account":"u_owner42","Name":%q}`,
		topicInfo, name)
}

// unsigned is an after-callback of command with body as IM sends it when
// no token is configured (no Sign, no RequestTime), read at receivedAt.
func unsigned(command, body string, receivedAt time.Time) *dispatcher.Request {
	return &dispatcher.Request{
		Command: command,
		Params: protocol.Params{SdkAppid: "1400000000", CallbackCommand: command, ContentType: "json",
			ClientIP: "10.0.0.1", OptPlatform: "Web"},
		Body:       []byte(body),
		ReceivedAt: receivedAt,
		RequestID:  "req-" + receivedAt.Format(time.RFC3339Nano),
	}
}

// TestRequestFingerprintSecond: which two requests with the same body are
// one event. A body with an EventTime is dated by it, whatever the
// request's time; one without is told apart by the second it was made in:
// the RequestTime IM signed it at or, unsigned, the second it arrived in.
// Two in the same second are one event (a retry, or a real repeat that
// cannot be told from one).
func TestRequestFingerprintSecond(t *testing.T) {
	const (
		dated   = `{"CallbackCommand":"Sns.CallbackFriendDelete","PairList":[{"From_Account":"u_a","To_Account":"u_b"}],"EventTime":1732601200999}`
		undated = `{"CallbackCommand":"Sns.CallbackFriendAdd","PairList":[{"From_Account":"u_a","To_Account":"u_b","Initiator_Account":"u_a"}]}`
	)
	sec := time.Unix(1700000000, 0).In(time.FixedZone("UTC+8", 8*3600))
	type call struct {
		requestTime string
		receivedAt  time.Time
	}
	for _, c := range []struct {
		name     string
		body     string
		a, b     call
		wantSame bool
	}{
		{"EventTime, signed, same second", dated,
			call{"1700000000", sec.Add(100 * time.Millisecond)}, call{"1700000000", sec.Add(900 * time.Millisecond)}, true},
		{"EventTime, signed, another second", dated,
			call{"1700000000", sec}, call{"1700000030", sec.Add(30 * time.Second)}, true},
		{"EventTime, unsigned, same second", dated,
			call{"", sec.Add(100 * time.Millisecond)}, call{"", sec.Add(900 * time.Millisecond)}, true},
		{"EventTime, unsigned, another second", dated,
			call{"", sec}, call{"", sec.Add(30 * time.Second)}, true},
		{"no EventTime, signed, same second", undated,
			call{"1700000000", sec.Add(100 * time.Millisecond)}, call{"1700000000", sec.Add(900 * time.Millisecond)}, true},
		{"no EventTime, signed, same RequestTime arriving in another second", undated,
			call{"1700000000", sec}, call{"1700000000", sec.Add(5 * time.Second)}, true},
		{"no EventTime, signed, another second", undated,
			call{"1700000000", sec}, call{"1700000001", sec.Add(time.Second)}, false},
		{"no EventTime, unsigned, same second", undated,
			call{"", sec.Add(time.Nanosecond)}, call{"", sec.Add(999_999_999 * time.Nanosecond)}, true},
		{"no EventTime, unsigned, another second", undated,
			call{"", sec.Add(999_999_999 * time.Nanosecond)}, call{"", sec.Add(time.Second)}, false},
		{"no EventTime, unsigned, minutes apart", undated,
			call{"", sec}, call{"", sec.Add(3 * time.Minute)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := func(k call) *dispatcher.Request {
				r := unsigned("Sns.CallbackFriendAdd", c.body, k.receivedAt)
				if k.requestTime != "" {
					r.Params.Sign, r.Params.RequestTime = "feedface", k.requestTime
				}
				return r
			}
			a, b := req(c.a), req(c.b)
			if same := delivery.RequestFingerprint(a) == delivery.RequestFingerprint(b); same != c.wantSame {
				t.Errorf("same fingerprint: %v, want %v", same, c.wantSame)
			}
			if same := delivery.RequestMsgID(a) == delivery.RequestMsgID(b); same != c.wantSame {
				t.Errorf("same Nats-Msg-Id: %v, want %v", same, c.wantSame)
			}
		})
	}
}

// TestUnsignedArrivalIsWrittenLikeRequestTime: an unsigned request without
// EventTime is fingerprinted with the whole Unix second it arrived in, in
// decimal as IM writes RequestTime, whatever the time zone, the monotonic
// reading or the fraction of ReceivedAt; a zero ReceivedAt (never
// received) dates nothing, and the body alone decides.
func TestUnsignedArrivalIsWrittenLikeRequestTime(t *testing.T) {
	body := renamed("A")
	signedAt := unsigned(topicInfo, body, time.Time{})
	signedAt.Params.RequestTime = "1700000000"
	for _, at := range []time.Time{
		time.Unix(1700000000, 0),
		time.Unix(1700000000, 999_999_999).In(time.FixedZone("UTC-5", -5*3600)),
		time.Unix(1700000000, 1).UTC(),
	} {
		if got, want := delivery.RequestFingerprint(unsigned(topicInfo, body, at)), delivery.RequestFingerprint(signedAt); got != want {
			t.Errorf("arrived at %v: fingerprint %x, want that of RequestTime 1700000000 %x", at, got, want)
		}
	}
	now := time.Now() // with a monotonic reading
	want := unsigned(topicInfo, body, time.Time{})
	want.Params.RequestTime = strconv.FormatInt(now.Unix(), 10)
	if delivery.RequestFingerprint(unsigned(topicInfo, body, now)) != delivery.RequestFingerprint(want) {
		t.Errorf("a ReceivedAt with a monotonic reading is not its Unix second")
	}
	zero := delivery.RequestFingerprint(unsigned(topicInfo, body, time.Time{}))
	if want := delivery.Fingerprint("1400000000", topicInfo, []byte(body)); zero != want {
		t.Errorf("zero ReceivedAt: fingerprint %x, want the body's %x", zero, want)
	}
}

// TestUnsignedFingerprintSurvivesStorageAndReplay: the event an unsigned
// request stored is decoded, from the stream and from a replay's copy, to a
// request with the same fingerprint, so its id (and the forwarded
// webhook-id made of it) is the same on every delivery. The arrival's
// fraction of a second must come back exactly: a receive time rounded or
// cut on the way could move it to another second.
func TestUnsignedFingerprintSurvivesStorageAndReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, options(t, b), nil) // no workers: the event stays as stored
		// A second's last nanosecond, with a monotonic reading as the
		// dispatcher's time.Now has.
		now := time.Now()
		r := unsigned(topicInfo, renamed("A"), now.Add(time.Duration(999_999_999-now.Nanosecond())))
		accept(t, s, r)
		want := delivery.RequestFingerprint(r)
		if want == delivery.Fingerprint(r.Params.SdkAppid, r.Command, r.Body) {
			t.Fatal("the fingerprint is the body's alone, not dated by the arrival")
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e := events(t, s)
		if _, err := e.Replay(ctx, []uint64{1}, nil); err != nil {
			t.Fatal(err)
		}
		st, err := s.Conn().JS.Stream(ctx, s.Options().Stream)
		if err != nil {
			t.Fatal(err)
		}
		for seq, what := range map[uint64]string{1: "the stored event", 2: "the replay's copy"} {
			raw, err := st.GetMsg(ctx, seq)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			got, err := delivery.Decode(raw.Header, raw.Data)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if delivery.RequestFingerprint(got) != want {
				t.Errorf("%s (received at %v) has another fingerprint than the request (received at %v)", what, got.ReceivedAt, r.ReceivedAt)
			}
			if seq == 1 && raw.Header.Get(jetstream.MsgIDHeader) != delivery.RequestMsgID(got) {
				t.Errorf("%s: Nats-Msg-Id %s, but its decoded request's is %s", what, raw.Header.Get(jetstream.MsgIDHeader), delivery.RequestMsgID(got))
			}
		}
	})
}

// TestATopicRenamedBackWithoutTokenIsProcessed: with IM's callback
// authentication off (no token: no Sign, no RequestTime) a topic renamed
// B, A, then B again within the dedup window sends the first body again.
// Arriving in another second, it is a new event: stored and handled, not
// answered OK as a duplicate and dropped (the topic would end named A).
// IM's retry of it within its second is still a duplicate.
func TestATopicRenamedBackWithoutTokenIsProcessed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		var (
			mu    sync.Mutex
			names []string
		)
		type topic struct {
			Name string `json:"Name"`
		}
		d, err := dispatcher.New([]dispatcher.Command{dispatcher.After(topicInfo, func(_ context.Context, ev *dispatcher.Event[topic]) error {
			mu.Lock()
			defer mu.Unlock()
			names = append(names, ev.Payload.Name)
			return nil
		})}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		s := start(t, options(t, b), d)
		at := time.Unix(1700000000, 0)
		for _, r := range []*dispatcher.Request{
			unsigned(topicInfo, renamed("B"), at.Add(100*time.Millisecond)),
			unsigned(topicInfo, renamed("A"), at.Add(1100*time.Millisecond)),
			unsigned(topicInfo, renamed("B"), at.Add(2100*time.Millisecond)),
			unsigned(topicInfo, renamed("B"), at.Add(2900*time.Millisecond)), // IM's retry of the third, in its second
		} {
			accept(t, s, r) // each one answered 200
		}
		handled := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(names)
		}
		eventually(t, 15*time.Second, "every stored event handled", func() bool {
			return pending(t, s) == 0 && float64(handled()) == metric(t, s.reg, "imcallback_delivery_appended_total", "command", topicInfo)
		})
		mu.Lock()
		got := slices.Sorted(slices.Values(names))
		mu.Unlock()
		if want := []string{"A", "B", "B"}; !slices.Equal(got, want) {
			t.Errorf("the handler saw the names %v, want %v (every rename once)", got, want)
		}
		if n := metric(t, s.reg, "imcallback_delivery_duplicates_total", "command", topicInfo); n != 1 {
			t.Errorf("%v duplicates, want 1 (the retry in the third rename's second)", n)
		}
	})
}
