package topicsync_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/protocol"
)

const sampleTopicID = "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5"

// plugin is the service with topicsync.Module on one backend.
type plugin struct {
	*imtest.Service
	store    topicsync.Store
	registry *prometheus.Registry
}

func startPlugin(t *testing.T, dsn string) *plugin {
	t.Helper()
	p := &plugin{}
	p.Service = imtest.Start(t, []string{"IMCALLBACK_STORE_DSN=" + dsn},
		topicsync.Module, fx.Populate(&p.store, &p.registry))
	return p
}

// pluginBackends are the DSNs the plugin runs on: SQLite, and PostgreSQL
// in a fresh schema when IMCALLBACK_TEST_POSTGRES_DSN is set.
var pluginBackends = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(*testing.T) string { return "" }},
	{"postgres", postgresSchemaDSN},
}

func (p *plugin) events(t *testing.T, command, result string) float64 {
	t.Helper()
	return eventsCounted(t, p.registry, command, result)
}

func (p *plugin) topic(t *testing.T, id string) topicsync.Topic {
	t.Helper()
	var got topicsync.Topic
	p.GetJSON(t, "/v1/topics/"+url.PathEscape(id), 200, &got)
	return got
}

// list reads every page of /v1/topics for query ("" or "?group_id=…").
func (p *plugin) list(t *testing.T, query string) []topicsync.Topic {
	t.Helper()
	var all []topicsync.Topic
	sep := "?"
	if query != "" {
		sep = "&"
	}
	for cursor := ""; ; {
		path := "/v1/topics" + query
		if cursor != "" {
			path += sep + "cursor=" + url.QueryEscape(cursor)
		}
		var page topicsync.ListResponse
		p.GetJSON(t, path, 200, &page)
		all = append(all, page.Topics...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func TestPluginOverHTTP(t *testing.T) {
	sample := createSample(t)
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))

			// Tencent's sample, sent twice (IM's retry): stored once, as sent.
			for range 2 {
				if res := p.Send(t, group.AfterCreateTopicCommand.Name(), sample); !res.OK() {
					t.Fatalf("answer %d %s", res.Status, res.Body)
				}
			}
			got := p.topic(t, sampleTopicID)
			if got.SdkAppID != imtest.AppID {
				t.Errorf("stored under app %q, want the request's %q", got.SdkAppID, imtest.AppID)
			}
			if got.GroupID != "@TGS#2J4SZEAEL" || got.Name != "MyFirstTopic" || got.OwnerAccount != "leckie" ||
				got.OperatorAccount != "group_root" || got.Type != "Community" || got.DeletedAt != nil ||
				fmt.Sprint(got.CustomData) != "[{UserDefined1 hello} {UserDefined2 world}]" || got.CreatedAt.IsZero() {
				t.Fatalf("stored %+v", got)
			}
			if n := len(p.list(t, "?group_id="+url.QueryEscape("@TGS#2J4SZEAEL"))); n != 1 {
				t.Fatalf("duplicate create left %d rows", n)
			}

			// A create without TopicId: answered OK, counted invalid, not stored.
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#2J4SZEAEL"}`)); !res.OK() {
				t.Fatalf("invalid create answered %d %s", res.Status, res.Body)
			}
			if p.events(t, group.AfterCreateTopicCommand.Name(), "invalid") != 1 {
				t.Fatal("invalid create not counted")
			}
			if n := len(p.list(t, "")); n != 1 {
				t.Fatalf("invalid create stored: %d topics", n)
			}

			// A NUL character (JSON's \u0000), which PostgreSQL cannot store: answered OK,
			// counted invalid, nothing stored, on either store.
			nul := strings.Replace(string(sample), `"MyFirstTopic"`, `"My\u0000Topic"`, 1)
			nul = strings.Replace(nul, sampleTopicID, "@TGS#2J4SZEAEL@TOPIC#_nul", 1)
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(nul)); !res.OK() {
				t.Fatalf("a create with a NUL answered %d %s", res.Status, res.Body)
			}
			if p.events(t, group.AfterCreateTopicCommand.Name(), "invalid") != 2 || len(p.list(t, "")) != 1 {
				t.Fatal("a create with a NUL was not counted invalid, or was stored")
			}

			// Info change with a TopicId updates only the fields present.
			change := fmt.Sprintf(`{"CallbackCommand":"%s","GroupId":"@TGS#2J4SZEAEL","TopicId":%q,"Name":"Renamed","FaceUrl":"https://img.example.org/t.png"}`,
				group.AfterTopicInfoChangedCommand.Name(), sampleTopicID)
			if res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), []byte(change)); !res.OK() {
				t.Fatalf("answer %s", res.Body)
			}
			got = p.topic(t, sampleTopicID)
			if got.Name != "Renamed" || got.FaceURL != "https://img.example.org/t.png" || got.Introduction != "" || got.OwnerAccount != "leckie" {
				t.Fatalf("after change %+v", got)
			}

			// Info change without a TopicId: OK, counted, nothing changed.
			noID := `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"@TGS#2J4SZEAEL","Name":"Lost"}`
			if res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), []byte(noID)); !res.OK() {
				t.Fatalf("answer %s", res.Body)
			}
			if p.events(t, group.AfterTopicInfoChangedCommand.Name(), "no_topic_id") != 1 || p.topic(t, sampleTopicID).Name != "Renamed" {
				t.Fatal("info change without TopicId not counted or applied")
			}

			// Destroy: hidden from the list, kept with deleted_at.
			// An empty id in the list names no topic; the others are destroyed.
			destroy := fmt.Sprintf(`{"CallbackCommand":"%s","GroupId":"@TGS#2J4SZEAEL","Type":"Community","TopicIdList":[%q,"","@TGS#2J4SZEAEL@TOPIC#_never-created"]}`,
				group.AfterTopicDestroyedCommand.Name(), sampleTopicID)
			if res := p.Send(t, group.AfterTopicDestroyedCommand.Name(), []byte(destroy)); !res.OK() {
				t.Fatalf("answer %s", res.Body)
			}
			if n := len(p.list(t, "")); n != 0 {
				t.Fatalf("deleted topic still listed (%d)", n)
			}
			all := p.list(t, "?include_deleted=true")
			if len(all) != 2 || all[0].DeletedAt == nil || all[1].DeletedAt == nil {
				t.Fatalf("include_deleted: %+v", all)
			}
			// A late create does not resurrect a destroyed topic.
			late := strings.Replace(string(sample), sampleTopicID, "@TGS#2J4SZEAEL@TOPIC#_never-created", 1)
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(late)); !res.OK() {
				t.Fatalf("answer %s", res.Body)
			}
			if p.topic(t, "@TGS#2J4SZEAEL@TOPIC#_never-created").DeletedAt == nil {
				t.Fatal("a late create resurrected a destroyed topic")
			}

			// The read API's errors.
			var e struct {
				Error string `json:"error"`
			}
			p.GetJSON(t, "/v1/topics/"+url.PathEscape("@TGS#nope@TOPIC#_x"), 404, &e)
			if e.Error == "" {
				t.Fatal("404 without a JSON error")
			}
			p.GetJSON(t, "/v1/topics?include_deleted=maybe", 400, &e)
		})
	}
}

// TestIDsTheDecoderReplacedAreInvalid: the JSON decoder reads invalid
// UTF-8, and the escape of half a surrogate pair, as U+FFFD, so the stores'
// refusal of invalid UTF-8 never saw it from a callback: a create of
// "…_q\xff" stored "…_q\uFFFD", and a destroy of "…_q\xfe" destroyed that
// topic. Such an id is now counted invalid and nothing is stored or
// changed; a body that sends U+FFFD itself is taken at its word.
func TestIDsTheDecoderReplacedAreInvalid(t *testing.T) {
	const groupID = "@TGS#_u8"
	create := group.AfterCreateTopicCommand.Name()
	destroy := group.AfterTopicDestroyedCommand.Name()
	change := group.AfterTopicInfoChangedCommand.Name()
	createBody := func(topicID string) []byte {
		return []byte(`{"CallbackCommand":"` + create + `","GroupId":"` + groupID + `","TopicId":"` + topicID + `","Name":"A"}`)
	}
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			send := func(command string, body []byte) {
				t.Helper()
				if res := p.Send(t, command, body); !res.OK() {
					t.Fatalf("%s %q answered %d %s", command, body, res.Status, res.Body)
				}
			}
			// Invalid bytes and a lone surrogate escape: counted, not stored.
			send(create, createBody(groupID+"@TOPIC#_q\xff"))
			send(create, createBody(groupID+`@TOPIC#_s\ud800`))
			if n := p.events(t, create, "invalid"); n != 2 {
				t.Errorf("creates with replaced ids counted invalid %v times, want 2", n)
			}
			if got := p.list(t, "?include_deleted=true"); len(got) != 0 {
				t.Fatalf("a create with a replaced id stored %+v", got)
			}
			// U+FFFD the body sends itself, as an escape and as UTF-8: stored as sent.
			send(create, createBody(groupID+`@TOPIC#_q\ufffd`))
			send(create, createBody(groupID+"@TOPIC#_r\uFFFD"))
			if got := p.list(t, ""); len(got) != 2 {
				t.Fatalf("creates with U+FFFD of their own: %d topics stored, want 2", len(got))
			}
			// A destroy and a change of ids the decoder replaced touch nothing.
			send(destroy, []byte(`{"CallbackCommand":"`+destroy+`","GroupId":"`+groupID+`","TopicIdList":["`+groupID+"@TOPIC#_q\xfe"+`"]}`))
			send(change, []byte(`{"CallbackCommand":"`+change+`","GroupId":"`+groupID+`","TopicId":"`+groupID+"@TOPIC#_r\xfe"+`","Name":"B"}`))
			if p.events(t, destroy, "invalid") != 1 || p.events(t, change, "invalid") != 1 {
				t.Errorf("destroy and change of replaced ids counted invalid %v and %v times, want 1 each",
					p.events(t, destroy, "invalid"), p.events(t, change, "invalid"))
			}
			// A U+FFFD the body sends in another field (a name, a type)
			// takes no replaced id at its word: the destroy of _q\udc00
			// reached the stored _q\ufffd.
			send(create, []byte(`{"CallbackCommand":"`+create+`","GroupId":"`+groupID+`","TopicId":"`+groupID+`@TOPIC#_s\ud800","Name":"first \ufffd"}`))
			send(destroy, []byte(`{"CallbackCommand":"`+destroy+`","GroupId":"`+groupID+`","TopicIdList":["`+groupID+`@TOPIC#_q\udc00"],"Type":"\ufffd"}`))
			if p.events(t, create, "invalid") != 3 || p.events(t, destroy, "invalid") != 2 {
				t.Errorf("a create and a destroy of replaced ids beside a U+FFFD of the body's own counted invalid %v and %v times, want 3 and 2",
					p.events(t, create, "invalid"), p.events(t, destroy, "invalid"))
			}
			all := p.list(t, "?include_deleted=true")
			if len(all) != 2 {
				t.Errorf("%d topics, want the 2 sent with U+FFFD of their own", len(all))
			}
			for _, topic := range all {
				if topic.DeletedAt != nil || topic.Name != "A" {
					t.Errorf("a destroy or change of another id reached %+v", topic)
				}
			}
		})
	}
}

// TestConcurrentDeliveries sends 250 different topics over HTTP, 8 at a
// time, and counts the rows: none may be lost.
//
// 8 at a time keeps every store writing concurrently (SQLite commits them
// in groups, PostgreSQL on 8 connections at once). All 250 at once made each
// inline handler wait behind the others for the CPU and the pool, so on a
// loaded machine some missed the 1.5 s inline deadline and were answered
// 503, a test of the machine, not of the store; 32 at a time still took
// up to a second a request under four CPU burners, 8 under 0.7 s.
func TestConcurrentDeliveries(t *testing.T) {
	const n, inFlight = 250, 8
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			var wg sync.WaitGroup
			failures := make(chan string, n)
			slots := make(chan struct{}, inFlight)
			for i := range n {
				wg.Go(func() {
					slots <- struct{}{}
					defer func() { <-slots }()
					body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_g%d","TopicId":"@TGS#_g%d@TOPIC#_t%d","Name":"t%d","Type":"Community"}`, i%7, i%7, i, i)
					res, err := p.Sender.Send(t.Context(), group.AfterCreateTopicCommand.Name(), []byte(body))
					if err != nil {
						failures <- err.Error()
					} else if !res.OK() {
						failures <- string(res.Body)
					}
				})
			}
			wg.Wait()
			close(failures)
			for f := range failures {
				t.Error(f)
			}
			if got := len(p.list(t, "")); got != n {
				t.Fatalf("%d rows after %d concurrent creates", got, n)
			}
			if p.events(t, group.AfterCreateTopicCommand.Name(), "stored") != n {
				t.Fatalf("stored counter = %v", p.events(t, group.AfterCreateTopicCommand.Name(), "stored"))
			}
		})
	}
}

// TestListIsPaginated reads the topics list page by page over the admin
// API: pages hold limit topics, the cursor continues where the last page
// ended, the last page has no cursor, and bad parameters are refused.
func TestListIsPaginated(t *testing.T) {
	p := startPlugin(t, "")
	for i := range 7 {
		body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_p","TopicId":"@TGS#_p@TOPIC#_%d","Name":"n%d"}`, i, i)
		if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(body)); !res.OK() {
			t.Fatalf("create %d: %d %s", i, res.Status, res.Body)
		}
	}
	seen := map[string]bool{}
	var sizes []int
	for cursor := ""; ; {
		var page topicsync.ListResponse
		p.GetJSON(t, "/v1/topics?limit=3&cursor="+url.QueryEscape(cursor), 200, &page)
		sizes = append(sizes, len(page.Topics))
		for _, tp := range page.Topics {
			if seen[tp.TopicID] {
				t.Fatalf("%s on two pages", tp.TopicID)
			}
			seen[tp.TopicID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(sizes) != "[3 3 1]" || len(seen) != 7 {
		t.Fatalf("pages of %v, %d topics", sizes, len(seen))
	}
	var def topicsync.ListResponse
	p.GetJSON(t, "/v1/topics", 200, &def)
	if len(def.Topics) != 7 || def.NextCursor != "" {
		t.Fatalf("default page: %d topics, cursor %q", len(def.Topics), def.NextCursor)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "cursor=%21%21"} {
		p.GetJSON(t, "/v1/topics?"+bad, 400, nil)
	}
}

// TestListRefusesAParameterGivenTwice: GET /v1/topics read the first of a
// parameter given twice and answered 200 with that page: a script that
// appends "&cursor=<next_cursor>" to the URL of the page before got its
// second page again and again, never the last, and two groups listed one
// of them. A parameter given twice is now a 400 naming it, as a repeated
// sdk_app_id already was.
func TestListRefusesAParameterGivenTwice(t *testing.T) {
	p := startPlugin(t, "")
	for i := range 3 {
		body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_twice","TopicId":"@TGS#_twice@TOPIC#_%d","Name":"n%d"}`, i, i)
		if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(body)); !res.OK() {
			t.Fatalf("create %d: %d %s", i, res.Status, res.Body)
		}
	}
	var first, second topicsync.ListResponse
	p.GetJSON(t, "/v1/topics?limit=1", 200, &first)
	p.GetJSON(t, "/v1/topics?limit=1&cursor="+url.QueryEscape(first.NextCursor), 200, &second)
	if second.NextCursor == "" {
		t.Fatalf("the second page of one of three topics is the last: %+v", second)
	}
	for _, tt := range []struct{ path, want string }{
		{"/v1/topics?limit=1&cursor=" + url.QueryEscape(first.NextCursor) + "&cursor=" + url.QueryEscape(second.NextCursor), "cursor is given more than once"},
		{"/v1/topics?limit=1&limit=2", "limit is given more than once"},
		{"/v1/topics?group_id=%40TGS%23_twice&group_id=%40TGS%23_other", "group_id is given more than once"},
		{"/v1/topics?include_deleted=true&include_deleted=false", "include_deleted is given more than once"},
		// sdk_app_id= is a value (the topics stored before apps were
		// kept), not an absence: which of the two was meant is unknown.
		{"/v1/topics?sdk_app_id=&sdk_app_id=1400000001", "sdk_app_id is given more than once"},
		{"/v1/topics/%40TGS%23_twice%40TOPIC%23_0?sdk_app_id=1400000001&sdk_app_id=", "sdk_app_id is given more than once"},
		// A parameter the API does not read (a misspelt filter) listed
		// every topic as a 200.
		{"/v1/topics?group=%40TGS%23_other", `unknown parameter "group"`},
		{"/v1/topics?app=1400000001", `unknown parameter "app"`},
		{"/v1/topics/%40TGS%23_twice%40TOPIC%23_0?app=1400000001", `unknown parameter "app"`},
	} {
		var e struct {
			Error string `json:"error"`
		}
		p.GetJSON(t, tt.path, 400, &e)
		if !strings.Contains(e.Error, tt.want) {
			t.Errorf("GET %s: %q, want it to say %s", tt.path, e.Error, tt.want)
		}
	}
	var page topicsync.ListResponse
	p.GetJSON(t, "/v1/topics?limit=1&pretty", 200, &page) // echo's own ?pretty
	if len(page.Topics) != 1 {
		t.Fatalf("GET /v1/topics?limit=1&pretty: %+v, want one topic", page)
	}
	// An empty value is an absent one, so a repeat of it is no second
	// value: limit=&limit=1 was a 400 "limit is given more than once".
	page = topicsync.ListResponse{}
	p.GetJSON(t, "/v1/topics?limit=&limit=1&group_id=&group_id=%40TGS%23_twice", 200, &page)
	if len(page.Topics) != 1 {
		t.Fatalf("GET /v1/topics?limit=&limit=1&group_id=&group_id=…: %+v, want one topic", page)
	}
}

// TestResentOlderChangeStaysOlder: IM resends a callback as a new request
// (a new receipt time) with its EventTime; an older change resent after a
// newer one does not overwrite it, on either store.
func TestResentOlderChangeStaysOlder(t *testing.T) {
	now := time.Now()
	create := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_r","TopicId":"@TGS#_r@TOPIC#_1","Name":"first","EventTime":%d}`,
		now.Add(-time.Minute).UnixMilli())
	change := func(name string, ago time.Duration) []byte {
		return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"@TGS#_r","TopicId":"@TGS#_r@TOPIC#_1","Name":%q,"EventTime":%d}`,
			name, now.Add(-ago).UnixMilli())
	}
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(create)); !res.OK() {
				t.Fatalf("answer %d %s", res.Status, res.Body)
			}
			for _, body := range [][]byte{change("old", 20*time.Second), change("new", 10*time.Second), change("old", 20*time.Second)} {
				if res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), body); !res.OK() {
					t.Fatalf("answer %d %s", res.Status, res.Body)
				}
			}
			if got := p.topic(t, "@TGS#_r@TOPIC#_1"); got.Name != "new" || !got.UpdatedAt.Equal(time.UnixMilli(now.Add(-10*time.Second).UnixMilli()).UTC()) {
				t.Errorf("name %q updated %v; want the newer change, at its EventTime", got.Name, got.UpdatedAt)
			}
			// An EventTime far ahead of the clock is not believed: the receipt time counts.
			if res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), change("future", -48*time.Hour)); !res.OK() {
				t.Fatalf("answer %d %s", res.Status, res.Body)
			}
			// The later change is dated after the receipt of the one above (now
			// is the test's start, which on a slow machine the receipt may be
			// well past), and ahead of the clock by less than the skew taken.
			later := fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"@TGS#_r","TopicId":"@TGS#_r@TOPIC#_1","Name":"later","EventTime":%d}`,
				time.Now().Add(time.Minute).UnixMilli())
			if res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), later); !res.OK() {
				t.Fatalf("answer %d %s", res.Status, res.Body)
			}
			if got := p.topic(t, "@TGS#_r@TOPIC#_1"); got.Name != "later" {
				t.Errorf("name %q; a change dated two days ahead must not outrank the ones after it", got.Name)
			}
		})
	}
}

// TestReadAPIRefusesWhatNoStoreHolds: ids and filters of invalid UTF-8 or
// with a NUL, and cursors with a time outside years 1 to 9999, are answered
// alike on both stores (PostgreSQL failed on them with a 500, or matched
// nothing).
func TestReadAPIRefusesWhatNoStoreHolds(t *testing.T) {
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			p.GetJSON(t, "/v1/topics/%FF", 404, nil)
			p.GetJSON(t, "/v1/topics/%00", 404, nil)
			p.GetJSON(t, "/v1/topics?group_id=%FF", 400, nil)
			p.GetJSON(t, "/v1/topics?group_id=%00", 400, nil)
			p.GetJSON(t, "/v1/topics?sdk_app_id=x1", 400, nil)
			p.GetJSON(t, "/v1/topics/x?sdk_app_id=%FF", 400, nil)
			for _, raw := range []string{"-9223372036854775808|x", "9223372036854775807|x", "0|\xff"} {
				p.GetJSON(t, "/v1/topics?cursor="+base64.RawURLEncoding.EncodeToString([]byte(raw)), 400, nil)
			}
		})
	}
}

// TestFailedWriteIsHandlerError closes the store under the running service:
// the write fails, is counted and answered as a handler failure, never as stored.
func TestFailedWriteIsHandlerError(t *testing.T) {
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			if err := p.store.Close(); err != nil {
				t.Fatal(err)
			}
			sample := createSample(t)
			res := p.Send(t, group.AfterCreateTopicCommand.Name(), sample)
			if !res.Is(protocol.ErrHandlerFailed) {
				t.Fatalf("a failed write answered %d %s", res.Status, res.Body)
			}
			if p.events(t, group.AfterCreateTopicCommand.Name(), "error") != 1 || p.events(t, group.AfterCreateTopicCommand.Name(), "stored") != 0 {
				t.Fatal("failed write not counted as an error")
			}
			p.GetJSON(t, "/readyz", 503, nil)
		})
	}
}

// TestReadOfAStoreOutOfReachIs503: a read API call while the store does not
// answer is a 503 naming the store, to try again (it was a 500 "internal
// error", as for a bug); a failed read of a store that answers stays a 500.
func TestReadOfAStoreOutOfReachIs503(t *testing.T) {
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			if err := p.store.Close(); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/v1/topics", "/v1/topics/t1"} {
				var body struct{ Error string }
				p.GetJSON(t, path, 503, &body)
				if !strings.Contains(body.Error, "topic store is not reachable") {
					t.Errorf("GET %s: error %q does not name the store", path, body.Error)
				}
			}
		})
	}
	t.Run("store answers", func(t *testing.T) {
		store := failingReads{Store: openSQLite(t)}
		e := echo.New()
		for _, r := range topicsync.Routes(store) {
			e.Add(r.Method, r.Path, r.Handler)
		}
		for _, path := range []string{"/v1/topics", "/v1/topics/t1"} {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("GET %s with a store that answers a ping: %d, want 500", path, rec.Code)
			}
		}
	})
}

// failingReads is a store whose reads fail while it answers a ping.
type failingReads struct{ topicsync.Store }

func (failingReads) List(context.Context, topicsync.ListFilter) ([]topicsync.Topic, error) {
	return nil, errors.New("a read that fails")
}

func (failingReads) Get(context.Context, string, string) (topicsync.Topic, error) {
	return topicsync.Topic{}, errors.New("a read that fails")
}

func TestModuleRegistersItsPieces(t *testing.T) {
	var routes []admin.Route
	var checks []admin.Check
	p := imtest.Start(t, nil, topicsync.Module, fx.Invoke(fx.Annotate(func(r []admin.Route, c []admin.Check) {
		routes, checks = r, c
	}, fx.ParamTags(admin.RouteGroup, admin.CheckGroup))))
	names := make([]string, 0, len(checks))
	for _, c := range checks {
		names = append(names, c.Name)
	}
	var topicRoutes []string // imcallback.Module adds the console's routes too
	for _, r := range routes {
		if strings.HasPrefix(r.Path, "/v1/topics") {
			topicRoutes = append(topicRoutes, r.Method+" "+r.Path)
		}
	}
	if len(topicRoutes) != 3 || !slices.Contains(names, "topic_store") {
		t.Fatalf("topic routes %v, checks %v", topicRoutes, names)
	}
	p.GetJSON(t, "/readyz", 200, nil)
	_ = testutil.ToFloat64 // keeps the testutil import honest if counters move here
}

// TestDestroyWithTopicIdListAsAString: the page's field table types
// TopicIdList as a string while its sample sends an array; a string
// (one id, or several separated by commas) destroys those topics too.
func TestDestroyWithTopicIdListAsAString(t *testing.T) {
	sample := createSample(t)
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), sample); !res.OK() {
				t.Fatalf("create answered %d %s", res.Status, res.Body)
			}
			destroy := fmt.Sprintf(`{"CallbackCommand":"%s","GroupId":"@TGS#2J4SZEAEL","Type":"Community","TopicIdList":%q}`,
				group.AfterTopicDestroyedCommand.Name(), sampleTopicID)
			if res := p.Send(t, group.AfterTopicDestroyedCommand.Name(), []byte(destroy)); !res.OK() {
				t.Fatalf("destroy answered %d %s", res.Status, res.Body)
			}
			if p.topic(t, sampleTopicID).DeletedAt == nil {
				t.Fatal("a destroy with TopicIdList as a string left the topic live")
			}
		})
	}
}

// createSample is Tencent's documented AfterCreateTopic body.
func createSample(t *testing.T) []byte {
	t.Helper()
	sample, err := os.ReadFile("testdata/after_create_topic_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	return sample
}

// TestCursors: a cursor names the app of its position, so pages of several
// apps' topics of one time and id neither skip nor repeat; a cursor made
// before apps were kept (time|topic id) still reads, in the legacy app.
func TestCursors(t *testing.T) {
	created := time.Date(2024, 11, 26, 10, 0, 1, 123456000, time.UTC)
	legacy := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	micros := fmt.Sprint(created.UnixMicro())
	tests := []struct {
		name   string
		cursor string
		want   topicsync.Position
	}{
		{"an app's", topicsync.EncodeCursor(&topicsync.Position{CreatedAt: created, SdkAppID: "1400000001", TopicID: "@TGS#_g@TOPIC#_a|b"}),
			topicsync.Position{CreatedAt: created, SdkAppID: "1400000001", TopicID: "@TGS#_g@TOPIC#_a|b"}},
		{"the legacy app's", topicsync.EncodeCursor(&topicsync.Position{CreatedAt: created, TopicID: "@TGS#_g@TOPIC#_a"}),
			topicsync.Position{CreatedAt: created, TopicID: "@TGS#_g@TOPIC#_a"}},
		{"made before apps were kept", legacy(micros + "|@TGS#_g@TOPIC#_a"),
			topicsync.Position{CreatedAt: created, TopicID: "@TGS#_g@TOPIC#_a"}},
		{"made before apps were kept, an id with a bar", legacy(micros + "|@TGS#_g@TOPIC#_a|b"),
			topicsync.Position{CreatedAt: created, TopicID: "@TGS#_g@TOPIC#_a|b"}},
		{"made before apps were kept, an id of digits, a bar and more", legacy(micros + "|12|x"),
			topicsync.Position{CreatedAt: created, TopicID: "12|x"}},
		{"an app's, an id of digits, a bar and more", topicsync.EncodeCursor(&topicsync.Position{CreatedAt: created, SdkAppID: "1400000001", TopicID: "12|x"}),
			topicsync.Position{CreatedAt: created, SdkAppID: "1400000001", TopicID: "12|x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := topicsync.DecodeCursor(tt.cursor)
			if err != nil || got == nil || *got != tt.want {
				t.Fatalf("DecodeCursor = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestRenamedBackWithoutEventTime: a topic renamed A, then B, then A again
// within the dedup window, with the documented payload (no EventTime). The
// third rename repeats the first one's body, but it is a new change IM
// signed at its own time: it must be applied, not answered OK and dropped
// as a duplicate, leaving the store at B while IM says A.
func TestRenamedBackWithoutEventTime(t *testing.T) {
	create := []byte(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_n","TopicId":"@TGS#_n@TOPIC#_1","Name":"first"}`)
	rename := func(name string) []byte {
		return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"@TGS#_n","TopicId":"@TGS#_n@TOPIC#_1","Type":"Community","Operator_Account":"u_owner42","Name":%q}`, name)
	}
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := &plugin{}
			p.Service = imtest.Start(t, []string{"IMCALLBACK_STORE_DSN=" + b.dsn(t), "IMCALLBACK_DELIVERY=durable"},
				topicsync.Module, delivery.Module, fx.Populate(&p.store, &p.registry))
			if res := p.Send(t, group.AfterCreateTopicCommand.Name(), create); !res.OK() {
				t.Fatalf("answer %d %s", res.Status, res.Body)
			}
			waitFor(t, func() bool { return p.topicOrZero(t, "@TGS#_n@TOPIC#_1").Name == "first" }, func() string { return "the create" })
			base := time.Now().Add(-30 * time.Second)
			for i, name := range []string{"A", "B", "A"} {
				res := p.Send(t, group.AfterTopicInfoChangedCommand.Name(), rename(name), imtest.At(base.Add(time.Duration(i)*10*time.Second)))
				if !res.OK() {
					t.Fatalf("rename %d to %s answered %d %s", i, name, res.Status, res.Body)
				}
				// Each rename is applied before IM sends the next one.
				waitFor(t, func() bool { return p.topicOrZero(t, "@TGS#_n@TOPIC#_1").Name == name },
					func() string {
						return fmt.Sprintf("rename %d to %s answered OK, the store still says %q", i, name, p.topicOrZero(t, "@TGS#_n@TOPIC#_1").Name)
					})
			}
		})
	}
}

func (p *plugin) topicOrZero(t *testing.T, id string) topicsync.Topic {
	t.Helper()
	got, err := p.store.Get(t.Context(), imtest.AppID, id)
	if err != nil {
		return topicsync.Topic{}
	}
	return got
}

func waitFor(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListPagesShowATopicStoredAheadNotBehind: pages follow the creation
// order, not a snapshot. A topic stored while a client pages shows on a later
// page when its creation time is ahead of the cursor, and on none when it is
// behind it (a create delivered late, dated by its EventTime), as the README's
// Reading paragraph says.
func TestListPagesShowATopicStoredAheadNotBehind(t *testing.T) {
	p := startPlugin(t, "")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	create := func(id string, at time.Time) {
		t.Helper()
		body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_p","TopicId":"@TGS#_p@TOPIC#_%s","EventTime":%d}`,
			id, at.UnixMilli())
		if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(body)); !res.OK() {
			t.Fatalf("create %s: %d %s", id, res.Status, res.Body)
		}
	}
	for i := range 4 {
		create(fmt.Sprint(i), base.Add(time.Duration(i)*time.Minute))
	}
	var first topicsync.ListResponse
	p.GetJSON(t, "/v1/topics?limit=2", 200, &first)
	create("behind", base.Add(30*time.Second)) // between the first page's two topics
	create("ahead", base.Add(10*time.Minute))
	var rest []string
	for cursor := first.NextCursor; cursor != ""; {
		var page topicsync.ListResponse
		p.GetJSON(t, "/v1/topics?limit=2&cursor="+url.QueryEscape(cursor), 200, &page)
		for _, tp := range page.Topics {
			rest = append(rest, strings.TrimPrefix(tp.TopicID, "@TGS#_p@TOPIC#_"))
		}
		cursor = page.NextCursor
	}
	if got, want := strings.Join(rest, " "), "2 3 ahead"; got != want {
		t.Errorf("the pages after the first = %s, want %s: the topic stored ahead of the cursor, not the one behind it", got, want)
	}
	if all := p.list(t, ""); len(all) != 6 {
		t.Errorf("a new listing has %d topics, want all 6", len(all))
	}
}

// TestListPagesEndAtTheirBytes: GET /v1/topics?limit=1000 ends a page of
// large topics once they hold the page's byte budget (topicsync.MaxPageBytes;
// here a few kilobytes) and answers a next_cursor, through the service's
// store as the admin listener has it; following the cursors lists each topic
// once. A page held its limit's topics, whatever their size.
func TestListPagesEndAtTheirBytes(t *testing.T) {
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			p := startPlugin(t, b.dsn(t))
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			var want []string
			for i := range 8 {
				id := fmt.Sprintf("@TGS#_p@TOPIC#_%d", i)
				body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_p","TopicId":%q,"Name":%q,"EventTime":%d}`,
					id, strings.Repeat("n", 2000), base.Add(time.Duration(i)*time.Second).UnixMilli())
				if res := p.Send(t, group.AfterCreateTopicCommand.Name(), []byte(body)); !res.OK() {
					t.Fatalf("create %s: %d %s", id, res.Status, res.Body)
				}
				want = append(want, id)
			}
			defer topicsync.SetPageBytes(5000)()
			var first topicsync.ListResponse
			p.GetJSON(t, "/v1/topics?limit=1000", 200, &first)
			if len(first.Topics) >= len(want) || first.NextCursor == "" {
				t.Errorf("the first page holds %d of %d topics of 2 kB, next_cursor %q: want fewer, in a budget of 5000 bytes, and a cursor",
					len(first.Topics), len(want), first.NextCursor)
			}
			if got := topicIDs(p.list(t, "?limit=1000")); !slices.Equal(got, want) {
				t.Errorf("the pages list %q, want each topic once, in order: %q", got, want)
			}
		})
	}
}

// TestReadAPIRefusesAnAppNoCallbackCarries: an sdk_app_id with a leading
// zero, or above 2^64-1, is no SdkAppid IM sends or the configuration takes,
// so no topic is ever stored under it; the listing answered it with an empty
// page (the app seemed to have no topics) and the topic read with a 404. Both
// are now a 400, as the event listing's app is; the legacy app ("") and an
// SdkAppid still select.
func TestReadAPIRefusesAnAppNoCallbackCarries(t *testing.T) {
	p := startPlugin(t, "")
	for _, app := range []string{"01400000001", "00", "18446744073709551616", "99999999999999999999"} {
		p.GetJSON(t, "/v1/topics?sdk_app_id="+app, 400, nil)
		p.GetJSON(t, "/v1/topics/x?sdk_app_id="+app, 400, nil)
	}
	for _, app := range []string{"", "1400000001", "18446744073709551615"} {
		p.GetJSON(t, "/v1/topics?sdk_app_id="+app, 200, nil)
		p.GetJSON(t, "/v1/topics/x?sdk_app_id="+app, 404, nil)
	}
}

// TestIncludeDeletedNamesWhatItAccepts: GET /v1/topics?include_deleted=X
// takes every spelling strconv.ParseBool does (1, t, TRUE, …), while its
// 400 said only "true or false". The message now names each spelling the
// API takes, and each one it names is taken.
func TestIncludeDeletedNamesWhatItAccepts(t *testing.T) {
	p := startPlugin(t, "")
	var e struct {
		Error string `json:"error"`
	}
	p.GetJSON(t, "/v1/topics?include_deleted=maybe", 400, &e)
	_, list, ok := strings.Cut(e.Error, "include_deleted must be ")
	if !ok {
		t.Fatalf("the 400 says %q, want it to name include_deleted", e.Error)
	}
	named := map[string]bool{}
	for _, w := range strings.FieldsFunc(list, func(r rune) bool { return strings.ContainsRune(" ,;:()", r) }) {
		named[w] = true
	}
	for _, tt := range []struct {
		value  string
		status int
	}{
		{"true", 200}, {"false", 200}, {"1", 200}, {"0", 200}, {"t", 200}, {"f", 200},
		{"T", 200}, {"F", 200}, {"TRUE", 200}, {"FALSE", 200}, {"True", 200}, {"False", 200},
		{"yes", 400}, {"on", 400}, {"tRUE", 400}, {"2", 400},
	} {
		p.GetJSON(t, "/v1/topics?include_deleted="+tt.value, tt.status, nil)
		if named[tt.value] != (tt.status == 200) {
			t.Errorf("include_deleted=%s is answered %d; the 400 %q names it: %v", tt.value, tt.status, e.Error, named[tt.value])
		}
	}
}

// TestGetOfAnEmptyTopicID: GET /v1/topics/ (a script's empty id) was
// answered by the router's own {"error":"Not Found"}, where every other id
// no topic has is the API's "topic not found"; it is now that 404 too, with
// the query checked as for any id.
func TestGetOfAnEmptyTopicID(t *testing.T) {
	p := startPlugin(t, "")
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/topics/", 404, "topic not found"},
		{"/v1/topics/?sdk_app_id=1400000000", 404, "topic not found"},
		{"/v1/topics/?sdk_app_id=", 404, "topic not found"},
		{"/v1/topics/?sdk_app_id=01400000000", 400, "sdk_app_id must be an SDKAppID"},
		{"/v1/topics/?app=1400000000", 400, `unknown parameter "app"`},
	} {
		var e struct {
			Error string `json:"error"`
		}
		p.GetJSON(t, tt.path, tt.status, &e)
		if !strings.HasPrefix(e.Error, tt.want) {
			t.Errorf("GET %s: %q, want %q", tt.path, e.Error, tt.want)
		}
	}
}
