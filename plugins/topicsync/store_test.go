package topicsync_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the migration test
	"github.com/pressly/goose/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/pgtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

const postgresDSNEnv = "IMCALLBACK_TEST_POSTGRES_DSN"

// testApp is the app of the topics the tests write unless they say otherwise.
const testApp = "1400000001"

// backend opens a fresh, empty store for one test; the store is closed in t.Cleanup.
type backend struct {
	name string
	open func(t *testing.T) topicsync.Store
}

func backends() []backend {
	return []backend{
		{name: "sqlite", open: openSQLite},
		{name: "postgres", open: openPostgres},
	}
}

func openSQLite(t *testing.T) topicsync.Store {
	t.Helper()
	s, err := topicsync.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "topics.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

// openPostgres opens a store in a brand-new schema, dropped when the test ends.
func openPostgres(t *testing.T) topicsync.Store {
	t.Helper()
	s, err := topicsync.OpenPostgres(t.Context(), postgresSchemaDSN(t), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

// postgresSchemaDSN creates a schema for this test alone, drops it when the test ends, and
// returns the test DSN with search_path set to it. It skips the test when no server is configured.
func postgresSchemaDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store tests")
	}
	return pgtest.Schema(t, dsn, "imcb_")
}

func closeStore(t *testing.T, s topicsync.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// at is a fixed test instant, sec seconds after the base, already at microsecond precision.
func at(sec int) time.Time {
	return time.Date(2024, 11, 26, 10, 0, sec, 123456000, time.UTC)
}

func ptr[T any](v T) *T { return &v }

// fields builds custom data from key, value pairs.
func fields(kv ...string) []topicsync.CustomField {
	out := make([]topicsync.CustomField, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, topicsync.CustomField{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// newTopic is a fully populated live topic created at created.
func newTopic(groupID, suffix string, created time.Time) topicsync.Topic {
	return topicsync.Topic{
		SdkAppID:        testApp,
		TopicID:         groupID + "@TOPIC#_" + suffix,
		GroupID:         groupID,
		Name:            "Topic " + suffix,
		OwnerAccount:    "u_owner42",
		OperatorAccount: "u_admin01",
		Type:            "Community",
		CustomData:      []topicsync.CustomField{{Key: "Color", Value: "blue"}},
		Introduction:    "intro " + suffix,
		Notification:    "notice " + suffix,
		FaceURL:         "https://img.example.org/" + suffix + ".png",
		CreatedAt:       created,
		UpdatedAt:       created,
	}
}

func mustCreate(t *testing.T, s topicsync.Store, tp topicsync.Topic) {
	t.Helper()
	if err := s.Create(t.Context(), tp); err != nil {
		t.Fatalf("Create(%q): %v", tp.TopicID, err)
	}
}

func mustDestroy(t *testing.T, s topicsync.Store, groupID string, ids []string, when time.Time) {
	t.Helper()
	if err := s.Destroy(t.Context(), testApp, groupID, ids, when); err != nil {
		t.Fatalf("Destroy(%q, %q): %v", groupID, ids, err)
	}
}

func mustGet(t *testing.T, s topicsync.Store, id string) topicsync.Topic {
	t.Helper()
	got, err := s.Get(t.Context(), testApp, id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return got
}

func mustList(t *testing.T, s topicsync.Store, f topicsync.ListFilter) []topicsync.Topic {
	t.Helper()
	got, err := s.List(t.Context(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	if got == nil {
		t.Fatalf("List(%+v) returned a nil slice", f)
	}
	return got
}

// checkTopic compares got with want through their JSON form, which covers every field, tells a
// nil custom_data from an empty one and prints readably; it also requires UTC times.
func checkTopic(t *testing.T, got, want topicsync.Topic) {
	t.Helper()
	times := map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt}
	if got.DeletedAt != nil {
		times["DeletedAt"] = *got.DeletedAt
	}
	for name, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", name, tm.Location())
		}
	}
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("topic mismatch\n got: %s\nwant: %s", gotJSON, wantJSON)
	}
}

func topicIDs(topics []topicsync.Topic) []string {
	ids := make([]string, len(topics))
	for i, tp := range topics {
		ids[i] = tp.TopicID
	}
	return ids
}

func TestStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s topicsync.Store)
	}{
		{"create then get", testCreateThenGet},
		{"custom data stored as sent", testCustomData},
		{"duplicate create keeps the first", testDuplicateCreate},
		{"a create sent again keeps the earlier creation in either order", testCreateResentDatedByArrival},
		{"a create and a destroy both sent again end as in order", testCreateAndDestroyResent},
		{"destroy hides from list", testDestroyHidesFromList},
		{"destroy before create stays deleted", testDestroyBeforeCreate},
		{"destroy twice keeps the earlier deleted_at in either order", testDestroyTwice},
		{"a destroy of a later topic of the id keeps it deleted", testDestroyOfALaterTopic},
		{"destroy unknown and repeated ids", testDestroyUnknownAndRepeated},
		{"info change updates only present fields", testInfoChange},
		{"info change on unknown topic", testInfoChangeUnknown},
		{"info change on tombstone", testInfoChangeTombstone},
		{"info changes out of order end in the newest", testInfoChangesOutOfOrder},
		{"info changes of one time end alike in any order", testInfoChangesOfOneTime},
		{"destroys of overlapping lists in opposite orders", testDestroysInOppositeOrders},
		{"a late create keeps a change made to its tombstone", testCreateKeepsTombstoneChange},
		{"a topic id destroyed and created again", testRecreate},
		{"histories of an id applied in any order end as in order", testShuffledHistories},
		{"short histories of an id applied in every order end as in order", testHistoriesInEveryOrder},
		{"replays keep the timestamps consistent", testReplayTimestamps},
		{"list by group and order", testListFilterAndOrder},
		{"Tencent's sample stored as sent", testTencentSample},
		{"invalid input rejected", testInvalidInput},
		{"concurrent writes", testConcurrentWrites},
		{"get unknown", testGetUnknown},
		{"canceled context", testCanceledContext},
		{"ping", testPing},
		{"closed store", testClosedStore},
		{"apps keep their own topics", testAppsKeepTheirOwnTopics},
		{"list across apps pages without gaps", testListAcrossApps},
		{"a page ends at its byte budget and pages on", testListPageBudget},
		{"list after a position is after its time as given", testListAfterAnyTime},
		{"get without the app", testGetAnyApp},
		{"topics stored before apps were kept adopted by one app", testAdoptUnkeyed},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, b.open(t))
				})
			}
		})
	}
}

func testCreateThenGet(t *testing.T, s topicsync.Store) {
	cst := time.FixedZone("CST", 8*60*60)
	created := time.Date(2024, 11, 26, 18, 0, 1, 123456789, cst) // not UTC, below a microsecond
	in := newTopic("@TGS#_@TGS#aB3dE5fG7", "release-notes", created)
	in.CustomData = []topicsync.CustomField{{Key: "Zeta", Value: "1"}, {Key: "Alpha", Value: "2"}, {Key: "Mid", Value: "3"}}
	in.UpdatedAt = created.Add(time.Hour) // ignored by Create
	in.DeletedAt = ptr(created)           // ignored by Create
	mustCreate(t, s, in)

	want := in
	want.CreatedAt = time.Date(2024, 11, 26, 10, 0, 1, 123456000, time.UTC)
	want.UpdatedAt = want.CreatedAt
	want.DeletedAt = nil
	checkTopic(t, mustGet(t, s, in.TopicID), want)

	listed := mustList(t, s, topicsync.ListFilter{})
	if len(listed) != 1 {
		t.Fatalf("List = %q, want one topic", topicIDs(listed))
	}
	checkTopic(t, listed[0], want)
}

func testCustomData(t *testing.T, s topicsync.Store) {
	tests := []struct {
		name string
		in   []topicsync.CustomField
		want []topicsync.CustomField
	}{
		{name: "nil", in: nil, want: []topicsync.CustomField{}},
		{name: "empty", in: []topicsync.CustomField{}, want: []topicsync.CustomField{}},
		{name: "order kept", in: fields("b", "2", "a", "1", "b", "3"), want: fields("b", "2", "a", "1", "b", "3")},
		{name: "awkward text", in: fields(`q"uote`, "line\nbreak", "emoji", "🙂 <&>", "", ""), want: fields(`q"uote`, "line\nbreak", "emoji", "🙂 <&>", "", "")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newTopic("@TGS#_g", strconv.Itoa(i), at(i))
			in.CustomData = tt.in
			mustCreate(t, s, in)
			want := in
			want.CustomData = tt.want
			checkTopic(t, mustGet(t, s, in.TopicID), want)
		})
	}
}

func testDuplicateCreate(t *testing.T, s topicsync.Store) {
	first := newTopic("@TGS#_g", "dup", at(1))
	second := first
	second.Name = "renamed by a repeated create"
	second.CustomData = []topicsync.CustomField{{Key: "other", Value: "x"}}
	second.CreatedAt = at(5)
	mustCreate(t, s, first)
	mustCreate(t, s, second)
	mustCreate(t, s, first)

	all := mustList(t, s, topicsync.ListFilter{IncludeDeleted: true})
	if len(all) != 1 {
		t.Fatalf("List = %q, want one row", topicIDs(all))
	}
	checkTopic(t, all[0], first)
}

// testCreateResentDatedByArrival: IM's resend of a create without
// EventTime is dated by its arrival, a few seconds after the first. Whichever
// of the two arrives first, the topic is created at the earlier time (its
// position in List): the row used to keep the time of the one that arrived
// first. The resend changes nothing else, in either order: updated_at too is
// as in order (the resend arriving first left it at the resend's time).
func testCreateResentDatedByArrival(t *testing.T, s topicsync.Store) {
	tests := []struct {
		name        string
		destroy     bool       // the topic's destroy arrives first
		change      *time.Time // a rename at this time arrives after the first create
		order       []time.Time
		wantUpdated time.Time
	}{
		{"in order", false, nil, []time.Time{at(1), at(4)}, at(1)},
		{"the resend first", false, nil, []time.Time{at(4), at(1)}, at(1)},
		{"the resend first, each twice", false, nil, []time.Time{at(4), at(1), at(4), at(1)}, at(1)},
		{"after the destroy, the resend first", true, nil, []time.Time{at(4), at(1)}, at(6)},
		{"the resend first, a rename between the two", false, ptr(at(2)), []time.Time{at(4), at(1)}, at(2)},
		{"the resend first, a rename after both", false, ptr(at(5)), []time.Time{at(4), at(1)}, at(5)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic("@TGS#_g", "resent"+strconv.Itoa(i), at(1))
			if tt.destroy {
				mustDestroy(t, s, tp.GroupID, []string{tp.TopicID}, at(6))
			}
			wantName := tp.Name
			for j, when := range tt.order {
				again := tp
				again.CreatedAt = when
				mustCreate(t, s, again)
				if j == 0 && tt.change != nil {
					wantName = "renamed"
					if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: tp.TopicID,
						GroupID: tp.GroupID, Name: &wantName, At: *tt.change}); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := mustGet(t, s, tp.TopicID)
			if !got.CreatedAt.Equal(at(1)) {
				t.Errorf("created_at = %v, want %v (the earlier of the two)", got.CreatedAt, at(1))
			}
			if !got.UpdatedAt.Equal(tt.wantUpdated) {
				t.Errorf("updated_at = %v, want %v, as in order", got.UpdatedAt, tt.wantUpdated)
			}
			if got.Name != wantName || got.Introduction != tp.Introduction || (got.DeletedAt != nil) != tt.destroy {
				t.Errorf("got %+v, want the create's fields, deleted %v", got, tt.destroy)
			}
		})
	}
}

// testCreateAndDestroyResent: a topic's create and its destroy, each sent
// again by IM a few seconds later (dated by their arrival), reach the store
// in any order, and leave the deleted topic as in order: created at the
// earlier create, deleted at the earlier destroy, and updated at the later
// destroy (a destroy sent again counts, a create sent again does not). The
// original create, arriving last after the resent one had completed the
// record, set updated_at back to the earlier destroy, the later one's time
// lost, when only deleted_at (the earlier) was kept.
func testCreateAndDestroyResent(t *testing.T, s topicsync.Store) {
	first := newTopic("@TGS#_g", "x", at(0))
	resent := first
	resent.CreatedAt = at(7)
	create, createAgain := createOf(first), createOf(resent)
	destroy, destroyAgain := destroyAt(testApp, at(1)), destroyAt(testApp, at(5))
	want := first
	want.UpdatedAt, want.DeletedAt = at(5), ptr(at(1))
	for i, writes := range [][]topicWrite{
		{create, destroy, destroyAgain, createAgain},
		{destroyAgain, createAgain, destroy, create},
		{createAgain, destroyAgain, destroy, create},
		{destroyAgain, destroy, createAgain, create},
		{createAgain, destroy, create, destroyAgain},
	} {
		want.TopicID = fmt.Sprintf("@TGS#_g@TOPIC#_resent%d", i)
		names, err := applyAsDelivered(t.Context(), s, want.TopicID, writes)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, want.TopicID); !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("applied as %q: updated_at %v, want %v as in order", names, got.UpdatedAt, want.UpdatedAt)
		} else {
			checkTopic(t, got, want)
		}
	}
}

func testDestroyHidesFromList(t *testing.T, s topicsync.Store) {
	a := newTopic("@TGS#_g", "a", at(1))
	b := newTopic("@TGS#_g", "b", at(2))
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	mustDestroy(t, s, "@TGS#_g", []string{a.TopicID}, at(10))

	wantA := a
	wantA.UpdatedAt = at(10)
	wantA.DeletedAt = ptr(at(10))

	tests := []struct {
		filter topicsync.ListFilter
		want   []topicsync.Topic
	}{
		{filter: topicsync.ListFilter{}, want: []topicsync.Topic{b}},
		{filter: topicsync.ListFilter{GroupID: "@TGS#_g"}, want: []topicsync.Topic{b}},
		{filter: topicsync.ListFilter{IncludeDeleted: true}, want: []topicsync.Topic{wantA, b}},
		{filter: topicsync.ListFilter{GroupID: "@TGS#_g", IncludeDeleted: true}, want: []topicsync.Topic{wantA, b}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.filter), func(t *testing.T) {
			got := mustList(t, s, tt.filter)
			if len(got) != len(tt.want) {
				t.Fatalf("List = %q, want %q", topicIDs(got), topicIDs(tt.want))
			}
			for i := range got {
				checkTopic(t, got[i], tt.want[i])
			}
		})
	}
	checkTopic(t, mustGet(t, s, a.TopicID), wantA)
}

func testDestroyBeforeCreate(t *testing.T, s topicsync.Store) {
	late := newTopic("@TGS#_g", "late", at(1))
	mustDestroy(t, s, late.GroupID, []string{late.TopicID}, at(2))
	mustCreate(t, s, late)

	want := late
	want.UpdatedAt = at(2) // the destroy is the latest change
	want.DeletedAt = ptr(at(2))
	checkTopic(t, mustGet(t, s, late.TopicID), want)
	if live := mustList(t, s, topicsync.ListFilter{}); len(live) != 0 {
		t.Errorf("List = %q, want the late-created topic to stay deleted", topicIDs(live))
	}

	again := late
	again.Name = "a repeated late create"
	mustCreate(t, s, again)
	checkTopic(t, mustGet(t, s, late.TopicID), want)
}

// testDestroyTwice: a destroy sent twice, the second within RecreateMargin
// of the first (IM's resend of one without EventTime, dated by its arrival),
// is one deletion, at the earlier time, whichever arrives first; updated_at
// is the later, as the last write to the row. The row used to keep the
// deletion that arrived first, so the two orders ended apart. A record only
// destroys wrote is dated by that deletion too.
func testDestroyTwice(t *testing.T, s topicsync.Store) {
	tests := []struct {
		name   string
		create bool
		order  []time.Time // the destroys, in the order they arrive
	}{
		{"in order", true, []time.Time{at(2), at(3)}},
		{"the later first", true, []time.Time{at(3), at(2)}},
		{"the later first, each twice", true, []time.Time{at(3), at(2), at(3), at(2)}},
		{"no create, in order", false, []time.Time{at(2), at(3)}},
		{"no create, the later first", false, []time.Time{at(3), at(2)}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic("@TGS#_g", "twice"+strconv.Itoa(i), at(1))
			want := tp
			if tt.create {
				mustCreate(t, s, tp)
			} else {
				want = topicsync.Topic{SdkAppID: testApp, TopicID: tp.TopicID, GroupID: tp.GroupID,
					CustomData: []topicsync.CustomField{}, CreatedAt: at(2)}
			}
			for _, when := range tt.order {
				mustDestroy(t, s, tp.GroupID, []string{tp.TopicID}, when)
			}
			want.UpdatedAt = at(3)
			want.DeletedAt = ptr(at(2))
			checkTopic(t, mustGet(t, s, tp.TopicID), want)
		})
	}
}

// testDestroyOfALaterTopic: a topic is created, destroyed, created again after the margin and
// destroyed again. Whatever order the four callbacks arrive in, the topic ends deleted at the
// second destroy: a second destroy that reaches an already-deleted row before the re-create
// used to be dropped, and the re-create then brought the destroyed topic back.
func testDestroyOfALaterTopic(t *testing.T, s topicsync.Store) {
	m := topicsync.RecreateMargin
	c1 := at(0)
	d1 := c1.Add(time.Second)
	c2 := d1.Add(m + time.Second)
	d2 := c2.Add(5 * time.Second)
	tests := []struct {
		name  string
		order string // c: first create, d: first destroy, C: second create, D: second destroy
	}{
		{"in order", "cdCD"},
		{"the second destroy before the re-create", "cdDC"},
		{"both destroys first", "dDcC"},
		{"both destroys, then the re-create", "dDC"},
		{"the second destroy first", "DdcC"},
		{"the re-create last", "cDdC"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic("@TGS#_g", "later"+strconv.Itoa(i), c1)
			for _, w := range tt.order {
				switch w {
				case 'c':
					mustCreate(t, s, tp)
				case 'C':
					again := tp
					again.Name, again.CreatedAt = "Second", c2
					mustCreate(t, s, again)
				case 'd':
					mustDestroy(t, s, tp.GroupID, []string{tp.TopicID}, d1)
				case 'D':
					mustDestroy(t, s, tp.GroupID, []string{tp.TopicID}, d2)
				}
			}
			got := mustGet(t, s, tp.TopicID)
			if got.DeletedAt == nil || !got.DeletedAt.Equal(d2) {
				t.Errorf("deleted_at = %v, want %v (the second destroy)", got.DeletedAt, d2)
			}
			if live := mustList(t, s, topicsync.ListFilter{TopicID: tp.TopicID}); len(live) != 0 {
				t.Errorf("List = %q, want the topic destroyed twice to stay deleted", topicIDs(live))
			}
		})
	}
}

func testDestroyUnknownAndRepeated(t *testing.T, s topicsync.Store) {
	known := newTopic("@TGS#_g", "known", at(1))
	mustCreate(t, s, known)
	unknownID := "@TGS#_g@TOPIC#_unknown"
	mustDestroy(t, s, "@TGS#_g", []string{known.TopicID, unknownID, unknownID, known.TopicID}, at(3))
	mustDestroy(t, s, "@TGS#_g", nil, at(4)) // nothing to do

	wantKnown := known
	wantKnown.UpdatedAt = at(3)
	wantKnown.DeletedAt = ptr(at(3))
	checkTopic(t, mustGet(t, s, known.TopicID), wantKnown)

	tombstone := topicsync.Topic{
		SdkAppID:   testApp,
		TopicID:    unknownID,
		GroupID:    "@TGS#_g",
		CustomData: []topicsync.CustomField{},
		CreatedAt:  at(3),
		UpdatedAt:  at(3),
		DeletedAt:  ptr(at(3)),
	}
	checkTopic(t, mustGet(t, s, unknownID), tombstone)

	if all := mustList(t, s, topicsync.ListFilter{IncludeDeleted: true}); len(all) != 2 {
		t.Errorf("List(IncludeDeleted) = %q, want 2 rows", topicIDs(all))
	}
	if live := mustList(t, s, topicsync.ListFilter{}); len(live) != 0 {
		t.Errorf("List = %q, want none", topicIDs(live))
	}
}

func testInfoChange(t *testing.T, s topicsync.Store) {
	tests := []struct {
		name   string
		change topicsync.InfoChange
		edit   func(*topicsync.Topic)
	}{
		{
			name:   "name only",
			change: topicsync.InfoChange{SdkAppID: testApp, Name: ptr("Changelog")},
			edit:   func(tp *topicsync.Topic) { tp.Name = "Changelog" },
		},
		{
			name:   "introduction and notification",
			change: topicsync.InfoChange{SdkAppID: testApp, Introduction: ptr("Weekly product changes"), Notification: ptr("Posting rules updated")},
			edit: func(tp *topicsync.Topic) {
				tp.Introduction = "Weekly product changes"
				tp.Notification = "Posting rules updated"
			},
		},
		{
			name:   "all four",
			change: topicsync.InfoChange{SdkAppID: testApp, Name: ptr("N"), Introduction: ptr("I"), Notification: ptr("No"), FaceURL: ptr("https://img.example.org/topic.png")},
			edit: func(tp *topicsync.Topic) {
				tp.Name, tp.Introduction, tp.Notification, tp.FaceURL = "N", "I", "No", "https://img.example.org/topic.png"
			},
		},
		{
			name:   "set to empty",
			change: topicsync.InfoChange{SdkAppID: testApp, Notification: ptr("")},
			edit:   func(tp *topicsync.Topic) { tp.Notification = "" },
		},
		{
			name:   "nothing but the time",
			change: topicsync.InfoChange{SdkAppID: testApp},
			edit:   func(*topicsync.Topic) {},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic("@TGS#_g", "info"+strconv.Itoa(i), at(1))
			mustCreate(t, s, tp)
			c := tt.change
			c.TopicID, c.GroupID, c.At = tp.TopicID, tp.GroupID, at(7)
			if err := s.ApplyInfoChange(t.Context(), c); err != nil {
				t.Fatalf("ApplyInfoChange: %v", err)
			}
			want := tp
			tt.edit(&want)
			want.UpdatedAt = at(7)
			checkTopic(t, mustGet(t, s, tp.TopicID), want)
		})
	}
}

// testReplayTimestamps replays events from the stream, in any order: a
// replayed create never moves created_at forward, a replayed info change
// never moves updated_at backward, and updated_at never precedes created_at.
func testReplayTimestamps(t *testing.T, s topicsync.Store) {
	tp := newTopic("@TGS#_g", "replay", at(3))
	mustCreate(t, s, tp)
	replayed := tp
	replayed.CreatedAt = at(9) // the replay arrives later
	mustCreate(t, s, replayed)
	change := topicsync.InfoChange{SdkAppID: testApp, TopicID: tp.TopicID, GroupID: tp.GroupID, Name: ptr("late"), At: at(12)}
	if err := s.ApplyInfoChange(t.Context(), change); err != nil {
		t.Fatal(err)
	}
	change.At = at(6) // an older change replayed after the newer one
	if err := s.ApplyInfoChange(t.Context(), change); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, tp.TopicID)
	if !got.CreatedAt.Equal(at(3)) || !got.UpdatedAt.Equal(at(12)) {
		t.Fatalf("created %v updated %v, want %v and %v", got.CreatedAt, got.UpdatedAt, at(3), at(12))
	}
	// A topic first seen through a replayed info change older than its create.
	other := newTopic("@TGS#_g", "replay-old-change", at(20))
	mustCreate(t, s, other)
	if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: other.TopicID, GroupID: other.GroupID, Name: ptr("x"), At: at(15)}); err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, s, other.TopicID)
	if got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("updated %v before created %v", got.UpdatedAt, got.CreatedAt)
	}
}

func testInfoChangeUnknown(t *testing.T, s topicsync.Store) {
	id := "@TGS#_g@TOPIC#_nope"
	err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: id, GroupID: "@TGS#_g", Name: ptr("x"), At: at(1)})
	if !errors.Is(err, topicsync.ErrNotFound) {
		t.Fatalf("ApplyInfoChange error = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(t.Context(), testApp, id); !errors.Is(err, topicsync.ErrNotFound) {
		t.Errorf("Get after failed info change: error = %v, want ErrNotFound", err)
	}
}

func testInfoChangeTombstone(t *testing.T, s topicsync.Store) {
	id := "@TGS#_g@TOPIC#_gone"
	mustDestroy(t, s, "@TGS#_g", []string{id}, at(1))
	if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: id, Name: ptr("x"), At: at(2)}); err != nil {
		t.Fatalf("ApplyInfoChange on a tombstone: %v (the row exists, so a retry would never succeed)", err)
	}
	got := mustGet(t, s, id)
	if got.Name != "x" || got.DeletedAt == nil || !got.DeletedAt.Equal(at(1)) {
		t.Errorf("Get = %+v, want name x and still deleted at %v", got, at(1))
	}
}

// testInfoChangesOutOfOrder: two changes delivered in the wrong order (a
// retried or replayed one after a newer one) end in the newer value of each
// field; a field only the older one carries is still applied.
func testInfoChangesOutOfOrder(t *testing.T, s topicsync.Store) {
	tp := newTopic("@TGS#_g", "reordered", at(1))
	mustCreate(t, s, tp)
	apply := func(c topicsync.InfoChange) {
		t.Helper()
		c.TopicID, c.GroupID = tp.TopicID, tp.GroupID
		if err := s.ApplyInfoChange(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	apply(topicsync.InfoChange{SdkAppID: testApp, Name: ptr("newer"), At: at(12)})
	apply(topicsync.InfoChange{SdkAppID: testApp, Name: ptr("newer"), At: at(12)}) // the same change again
	apply(topicsync.InfoChange{SdkAppID: testApp, Name: ptr("older"), Introduction: ptr("only the older one says this"), At: at(6)})
	got := mustGet(t, s, tp.TopicID)
	if got.Name != "newer" || got.Introduction != "only the older one says this" || !got.UpdatedAt.Equal(at(12)) {
		t.Fatalf("name %q, introduction %q, updated %v; want the newer name, the older introduction, %v",
			got.Name, got.Introduction, got.UpdatedAt, at(12))
	}
}

// testInfoChangesOfOneTime: two different changes of one time, each
// delivered again after the other, end in the same value whatever the
// order (the greater one), instead of the last delivered.
func testInfoChangesOfOneTime(t *testing.T, s topicsync.Store) {
	for _, order := range [][]string{{"A", "B", "A"}, {"B", "A", "B"}} {
		tp := newTopic("@TGS#_g", "same-time-"+strings.Join(order, ""), at(1))
		mustCreate(t, s, tp)
		for _, name := range order {
			if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: tp.TopicID, GroupID: tp.GroupID, Name: ptr(name), At: at(7)}); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustGet(t, s, tp.TopicID).Name; got != "B" {
			t.Errorf("order %v: name %q, want B whatever the order", order, got)
		}
	}
}

// testDestroysInOppositeOrders: concurrent destroys of one list in
// opposite orders all succeed (PostgreSQL locked their rows in the lists'
// orders and aborted one as a deadlock).
func testDestroysInOppositeOrders(t *testing.T, s topicsync.Store) {
	const rounds, n = 30, 40
	for r := range rounds {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("@TGS#_g@TOPIC#_r%d_%02d", r, i)
		}
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, list := range [][]string{ids, reversed} {
			wg.Go(func() { errs <- s.Destroy(t.Context(), testApp, "@TGS#_g", list, at(3)) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
}

// testCreateKeepsTombstoneChange: destroy, then an info change, then the
// create (all delivered in that order): the create completes the row but
// keeps the change's fields, which are newer than the create's.
func testCreateKeepsTombstoneChange(t *testing.T, s topicsync.Store) {
	tp := newTopic("@TGS#_g", "late-create", at(1))
	mustDestroy(t, s, tp.GroupID, []string{tp.TopicID}, at(5))
	if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: tp.TopicID, GroupID: tp.GroupID,
		Name: ptr("renamed"), FaceURL: ptr("https://img.example/f.png"), At: at(4)}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, tp)
	got := mustGet(t, s, tp.TopicID)
	if got.Name != "renamed" || got.FaceURL != "https://img.example/f.png" || got.OwnerAccount != tp.OwnerAccount || got.DeletedAt == nil {
		t.Fatalf("got %+v; want the change's name and face, the create's owner, still deleted", got)
	}
}

// topicWrite is one write of a history, on the topic id it is given; it can run on several ids
// at once.
type topicWrite struct {
	name string
	run  func(ctx context.Context, s topicsync.Store, id string) error
}

func createOf(tp topicsync.Topic) topicWrite {
	return topicWrite{
		name: fmt.Sprintf("create %q of app %s at %s", tp.Name, tp.SdkAppID, tp.CreatedAt.Format(time.RFC3339Nano)),
		run: func(ctx context.Context, s topicsync.Store, id string) error {
			tp := tp // a copy: a write can run on several ids at once
			tp.TopicID = id
			return s.Create(ctx, tp)
		},
	}
}

func destroyAt(app string, when time.Time) topicWrite {
	return topicWrite{
		name: fmt.Sprintf("destroy of app %s at %s", app, when.Format(time.RFC3339Nano)),
		run: func(ctx context.Context, s topicsync.Store, id string) error {
			return s.Destroy(ctx, app, "@TGS#_g", []string{id}, when)
		},
	}
}

func changeOf(c topicsync.InfoChange) topicWrite {
	return topicWrite{
		name: fmt.Sprintf("info change at %s", c.At.Format(time.RFC3339Nano)),
		run: func(ctx context.Context, s topicsync.Store, id string) error {
			c := c // a copy: a write can run on several ids at once
			c.SdkAppID, c.TopicID, c.GroupID = testApp, id, "@TGS#_g"
			return s.ApplyInfoChange(ctx, c)
		},
	}
}

// testRecreate: an app destroys a topic and later creates a topic of the same id. A create
// later than the deletion by more than RecreateMargin is a new topic, which is live; a create
// within the margin, or earlier, is a late create of the deleted one, which stays deleted; a
// destroy earlier than a live topic's creation by more than the margin is a late destroy of an
// earlier topic, and leaves it alone. Each case also runs with every write delivered twice.
func testRecreate(t *testing.T, s topicsync.Store) {
	const sec = time.Second
	m := topicsync.RecreateMargin
	created := at(0)
	deleted := created.Add(sec)
	renewed := deleted.Add(m + sec) // a create after the margin
	lastSecond := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	first := newTopic("@TGS#_g", "first", created)
	// second is the topic an app creates again under the id of first, at when.
	second := func(when time.Time) topicsync.Topic {
		return topicsync.Topic{
			SdkAppID:        testApp,
			GroupID:         "@TGS#_g",
			Name:            "Second topic",
			OwnerAccount:    "u_owner77",
			OperatorAccount: "u_admin02",
			Type:            "Community",
			CustomData:      fields("Color", "red", "Size", "L"),
			Introduction:    "second intro",
			Notification:    "second notice",
			FaceURL:         "https://img.example.org/second.png",
			CreatedAt:       when,
			UpdatedAt:       when,
		}
	}
	// gone is tp deleted at deletedAt, last updated at updated.
	gone := func(tp topicsync.Topic, deletedAt, updated time.Time) topicsync.Topic {
		tp.DeletedAt, tp.UpdatedAt = ptr(deletedAt), updated
		return tp
	}
	edit := func(tp topicsync.Topic, change func(*topicsync.Topic)) topicsync.Topic {
		change(&tp)
		return tp
	}
	tests := []struct {
		name   string
		writes []topicWrite
		want   []topicsync.Topic // every row of the id, as List orders them
	}{
		{
			name:   "destroy then a create after the margin is live with the new fields",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed))},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			name:   "a create one microsecond after the margin is live",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(deleted.Add(m + time.Microsecond)))},
			want:   []topicsync.Topic{second(deleted.Add(m + time.Microsecond))},
		},
		{
			name:   "a tombstone then a create after the margin is live",
			writes: []topicWrite{destroyAt(testApp, deleted), createOf(second(renewed))},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			// The create is more than the margin later than the stored one, so it is not that
			// create again: the row takes its fields and time, as in either order below.
			name:   "a create at the margin leaves the destroyed topic deleted",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(deleted.Add(m)))},
			want:   []topicsync.Topic{gone(second(deleted.Add(m)), deleted, deleted.Add(m))},
		},
		{
			name:   "destroy arriving first, its create within the margin: stays deleted",
			writes: []topicWrite{destroyAt(testApp, deleted), createOf(second(deleted.Add(m)))},
			want:   []topicsync.Topic{gone(second(deleted.Add(m)), deleted, deleted.Add(m))},
		},
		{
			name:   "create arriving first, its destroy within the margin: deleted alike",
			writes: []topicWrite{createOf(second(deleted.Add(m))), destroyAt(testApp, deleted)},
			want:   []topicsync.Topic{gone(second(deleted.Add(m)), deleted, deleted.Add(m))},
		},
		{
			// The destroy between the two creates was lost, or has not arrived yet: the later
			// create is a new topic of the id, with its own fields and creation time.
			name: "a create after the margin reaching a live topic is a new topic of the id",
			writes: []topicWrite{createOf(first), changeOf(topicsync.InfoChange{Name: ptr("renamed first"), At: created.Add(sec / 2)}),
				createOf(second(renewed))},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name:   "a create one microsecond after the margin reaching a live topic is a new topic",
			writes: []topicWrite{createOf(first), createOf(second(created.Add(m + time.Microsecond)))},
			want:   []topicsync.Topic{second(created.Add(m + time.Microsecond))},
		},
		{
			// As a create within the margin of a deletion is a late create of the deleted topic.
			name:   "a create at the margin after a live topic's creation changes nothing",
			writes: []topicWrite{createOf(first), createOf(second(created.Add(m)))},
			want:   []topicsync.Topic{first},
		},
		{
			// IM's resend of a topic's create carries its EventTime: it must not undo what was
			// changed since.
			name: "the same create again keeps the changes made since",
			writes: []topicWrite{createOf(first), changeOf(topicsync.InfoChange{Name: ptr("renamed first"), At: created.Add(sec / 2)}),
				createOf(edit(first, func(tp *topicsync.Topic) { tp.Name = "a resend's name" }))},
			want: []topicsync.Topic{edit(first, func(tp *topicsync.Topic) { tp.Name, tp.UpdatedAt = "renamed first", created.Add(sec/2) })},
		},
		{
			name:   "an earlier create reaching a live topic changes nothing",
			writes: []topicWrite{createOf(second(renewed)), createOf(edit(first, func(tp *topicsync.Topic) { tp.CreatedAt = renewed.Add(-m - sec) }))},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			name:   "the destroy overtaken by the new topic's create leaves the new topic live",
			writes: []topicWrite{createOf(first), createOf(second(renewed)), destroyAt(testApp, deleted)},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			name:   "a destroy within the margin before the new topic's create, arriving after it, deletes",
			writes: []topicWrite{createOf(first), createOf(second(renewed)), destroyAt(testApp, renewed.Add(-m))},
			want:   []topicsync.Topic{gone(second(renewed), renewed.Add(-m), renewed)},
		},
		{
			name: "a change of the new topic applied to the live one before its create is kept",
			writes: []topicWrite{createOf(first),
				changeOf(topicsync.InfoChange{Name: ptr("the new topic renamed"), At: renewed.Add(sec)}),
				changeOf(topicsync.InfoChange{Introduction: ptr("introduced at once"), At: renewed.Add(-sec)}),
				createOf(second(renewed))},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) {
				tp.Name, tp.Introduction, tp.UpdatedAt = "the new topic renamed", "introduced at once", renewed.Add(sec)
			})},
		},
		{
			name: "a late change of the live topic leaves the new one alone",
			writes: []topicWrite{createOf(first), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("Zz the first topic renamed"), FaceURL: ptr("https://img.example.org/old.png"), At: renewed.Add(-m - time.Microsecond)})},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name:   "a create of another app leaves this app's live topic alone",
			writes: []topicWrite{createOf(first), createOf(inApp(second(renewed), otherApp))},
			want:   []topicsync.Topic{first, inApp(second(renewed), otherApp)},
		},
		{
			name:   "a late destroy of the earlier topic leaves the new one live",
			writes: []topicWrite{createOf(second(renewed)), destroyAt(testApp, renewed.Add(-m-time.Microsecond))},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			name:   "a destroy at the margin before the creation deletes",
			writes: []topicWrite{createOf(second(renewed)), destroyAt(testApp, renewed.Add(-m))},
			want:   []topicsync.Topic{gone(second(renewed), renewed.Add(-m), renewed)},
		},
		{
			name:   "the new topic's create arrives before the old topic's create and destroy",
			writes: []topicWrite{createOf(second(renewed)), createOf(first), destroyAt(testApp, deleted)},
			want:   []topicsync.Topic{second(renewed)},
		},
		{
			// The destroy's time plus the margin is past the last time the stores hold.
			name:   "a destroy within the margin of a create in the year 9999 deletes",
			writes: []topicWrite{createOf(second(lastSecond)), destroyAt(testApp, lastSecond.Add(-sec))},
			want:   []topicsync.Topic{gone(second(lastSecond), lastSecond.Add(-sec), lastSecond)},
		},
		{
			name: "a destroy of the new topic deletes it",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				destroyAt(testApp, renewed.Add(5*sec))},
			want: []topicsync.Topic{gone(second(renewed), renewed.Add(5*sec), renewed.Add(5*sec))},
		},
		{
			name: "created a third time after the margin",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				destroyAt(testApp, renewed.Add(5*sec)),
				createOf(edit(first, func(tp *topicsync.Topic) { tp.CreatedAt = renewed.Add(5*sec + m + sec) }))},
			want: []topicsync.Topic{edit(first, func(tp *topicsync.Topic) {
				tp.CreatedAt, tp.UpdatedAt = renewed.Add(5*sec+m+sec), renewed.Add(5*sec+m+sec)
			})},
		},
		{
			name: "an info change newer than the re-create, applied before it, is kept",
			writes: []topicWrite{
				createOf(first),
				changeOf(topicsync.InfoChange{Introduction: ptr("changed before the deletion"), At: created.Add(sec / 2)}),
				destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Notification: ptr("changed while deleted"), At: deleted.Add(sec)}),
				changeOf(topicsync.InfoChange{Name: ptr("renamed after the re-create"), FaceURL: ptr("https://img.example.org/new.png"), At: renewed.Add(2 * sec)}),
				createOf(second(renewed)),
				// Older than the kept change: the kept change keeps its time too.
				changeOf(topicsync.InfoChange{Name: ptr("an older name"), At: renewed.Add(sec)}),
			},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) {
				tp.Name, tp.FaceURL, tp.UpdatedAt = "renamed after the re-create", "https://img.example.org/new.png", renewed.Add(2*sec)
			})},
		},
		{
			name: "a late info change of the destroyed topic leaves the re-created one alone",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("the first topic renamed"), FaceURL: ptr("https://img.example.org/old.png"), At: created.Add(sec / 2)})},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name: "a late info change of the destroyed topic leaves the re-created one alone, after a tombstone",
			writes: []topicWrite{destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Introduction: ptr("the first topic's intro"), At: created.Add(sec / 2)})},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name: "an info change of the re-create's own time, applied before it, ends in the greater name",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Name: ptr("Zed"), At: renewed}), createOf(second(renewed))},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "Zed" })},
		},
		{
			name: "an info change of the re-create's own time, applied after it, ends in the greater name",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("Zed"), At: renewed})},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "Zed" })},
		},
		{
			// A change cannot precede its topic's creation: of the create's own time it is the
			// new topic's, whatever its value, as for a first create.
			name: "a lesser info change of the re-create's own time, applied before it, is kept",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Name: ptr("Abc"), At: renewed}), createOf(second(renewed))},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "Abc" })},
		},
		{
			name: "a lesser info change of the re-create's own time, applied after it, is kept",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("Abc"), At: renewed})},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "Abc" })},
		},
		{
			// Two callbacks sent close together reach the service, and are dated, in the other
			// order: the new topic's rename, dated just before its re-create, is kept whether it
			// is applied before the create (to the deleted row) or after it (a retry).
			name: "a rename dated within the margin before the re-create, applied before it, is kept",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Name: ptr("renamed at once"), FaceURL: ptr("https://img.example.org/at-once.png"), At: renewed.Add(-sec / 10)}),
				createOf(second(renewed))},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) {
				tp.Name, tp.FaceURL = "renamed at once", "https://img.example.org/at-once.png"
			})},
		},
		{
			name: "a rename dated within the margin before the re-create, applied after it, is kept",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("renamed at once"), At: renewed.Add(-m + time.Microsecond)})},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "renamed at once" })},
		},
		{
			name: "a rename dated within the margin before a re-create after a tombstone is kept",
			writes: []topicWrite{destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Introduction: ptr("introduced at once"), At: renewed.Add(-sec)}),
				createOf(second(renewed))},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Introduction = "introduced at once" })},
		},
		{
			// More than the margin before it a change is the destroyed topic's, in either order.
			name: "an info change more than the margin before the re-create, applied before it, leaves the create's fields",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted),
				changeOf(topicsync.InfoChange{Name: ptr("Zz the first topic renamed"), At: renewed.Add(-m - time.Microsecond)}), createOf(second(renewed))},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name: "an info change more than the margin before the re-create, applied after it, leaves the create's fields",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("Zz the first topic renamed"), At: renewed.Add(-m - time.Microsecond)})},
			want: []topicsync.Topic{second(renewed)},
		},
		{
			name: "a change within the margin before a creation is applied",
			writes: []topicWrite{createOf(second(renewed)),
				changeOf(topicsync.InfoChange{Name: ptr("renamed just before"), At: renewed.Add(-m)})},
			want: []topicsync.Topic{edit(second(renewed), func(tp *topicsync.Topic) { tp.Name = "renamed just before" })},
		},
		{
			name:   "a create of another app leaves this app's topic deleted",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(inApp(second(renewed), otherApp))},
			want:   []topicsync.Topic{gone(first, deleted, deleted), inApp(second(renewed), otherApp)},
		},
		{
			name:   "a destroy of another app leaves this app's new topic live",
			writes: []topicWrite{createOf(first), destroyAt(testApp, deleted), createOf(second(renewed)), destroyAt(otherApp, renewed.Add(sec))},
			want: []topicsync.Topic{second(renewed), {SdkAppID: otherApp, GroupID: "@TGS#_g", CustomData: []topicsync.CustomField{},
				CreatedAt: renewed.Add(sec), UpdatedAt: renewed.Add(sec), DeletedAt: ptr(renewed.Add(sec))}},
		},
	}
	for i, tt := range tests {
		for _, times := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/each write %dx", tt.name, times), func(t *testing.T) {
				id := fmt.Sprintf("@TGS#_g@TOPIC#_recreate%d_%d", i, times)
				for _, w := range tt.writes {
					for range times {
						if err := w.run(t.Context(), s, id); err != nil {
							t.Fatalf("%s: %v", w.name, err)
						}
					}
				}
				got := mustList(t, s, topicsync.ListFilter{TopicID: id, IncludeDeleted: true})
				if len(got) != len(tt.want) {
					t.Fatalf("List = %d rows, want %d", len(got), len(tt.want))
				}
				for j, want := range tt.want {
					want.TopicID = id
					checkTopic(t, got[j], want)
				}
			})
		}
	}
}

func testListFilterAndOrder(t *testing.T, s topicsync.Store) {
	// Created out of order; c1 and c2 share a created_at, so topic_id breaks the tie.
	topics := []topicsync.Topic{
		newTopic("@TGS#_g2", "late", at(9)),
		newTopic("@TGS#_g1", "c2", at(5)),
		newTopic("@TGS#_g1", "c1", at(5)),
		newTopic("@TGS#_g2", "early", at(1)),
		newTopic("@TGS#_g1", "first", at(0)),
		newTopic("@TGS#_g1", "gone", at(3)),
	}
	for _, tp := range topics {
		mustCreate(t, s, tp)
	}
	mustDestroy(t, s, "@TGS#_g1", []string{"@TGS#_g1@TOPIC#_gone"}, at(20))

	tests := []struct {
		filter topicsync.ListFilter
		want   []string
	}{
		{
			filter: topicsync.ListFilter{},
			want:   []string{"@TGS#_g1@TOPIC#_first", "@TGS#_g2@TOPIC#_early", "@TGS#_g1@TOPIC#_c1", "@TGS#_g1@TOPIC#_c2", "@TGS#_g2@TOPIC#_late"},
		},
		{
			filter: topicsync.ListFilter{IncludeDeleted: true},
			want:   []string{"@TGS#_g1@TOPIC#_first", "@TGS#_g2@TOPIC#_early", "@TGS#_g1@TOPIC#_gone", "@TGS#_g1@TOPIC#_c1", "@TGS#_g1@TOPIC#_c2", "@TGS#_g2@TOPIC#_late"},
		},
		{
			filter: topicsync.ListFilter{GroupID: "@TGS#_g1"},
			want:   []string{"@TGS#_g1@TOPIC#_first", "@TGS#_g1@TOPIC#_c1", "@TGS#_g1@TOPIC#_c2"},
		},
		{
			filter: topicsync.ListFilter{GroupID: "@TGS#_g1", IncludeDeleted: true},
			want:   []string{"@TGS#_g1@TOPIC#_first", "@TGS#_g1@TOPIC#_gone", "@TGS#_g1@TOPIC#_c1", "@TGS#_g1@TOPIC#_c2"},
		},
		{
			filter: topicsync.ListFilter{GroupID: "@TGS#_g2"},
			want:   []string{"@TGS#_g2@TOPIC#_early", "@TGS#_g2@TOPIC#_late"},
		},
		{
			filter: topicsync.ListFilter{GroupID: "@TGS#_none", IncludeDeleted: true},
			want:   []string{},
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.filter), func(t *testing.T) {
			got := topicIDs(mustList(t, s, tt.filter))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List ids = %q, want %q", got, tt.want)
			}
		})
	}
}

// testTencentSample stores the documented AfterCreateTopic sample: its topic id does not start with
// its group id, and the store must not care.
func testTencentSample(t *testing.T, s topicsync.Store) {
	in := topicsync.Topic{
		SdkAppID:        testApp,
		TopicID:         "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5",
		GroupID:         "@TGS#2J4SZEAEL",
		Name:            "MyFirstTopic",
		OwnerAccount:    "leckie",
		OperatorAccount: "group_root",
		Type:            "Community",
		CustomData:      []topicsync.CustomField{{Key: "UserDefined1", Value: "hello"}, {Key: "UserDefined2", Value: "world"}},
		CreatedAt:       at(0),
		UpdatedAt:       at(0),
	}
	mustCreate(t, s, in)
	checkTopic(t, mustGet(t, s, in.TopicID), in)
	if got := topicIDs(mustList(t, s, topicsync.ListFilter{GroupID: "@TGS#2J4SZEAEL"})); len(got) != 1 || got[0] != in.TopicID {
		t.Errorf("List by the sample group = %q", got)
	}
}

func testInvalidInput(t *testing.T, s topicsync.Store) {
	valid := newTopic("@TGS#_g", "valid", at(1))
	// create is a create of valid as edit changes it.
	create := func(edit func(tp *topicsync.Topic)) func(context.Context) error {
		return func(ctx context.Context) error {
			tp := valid
			edit(&tp)
			return s.Create(ctx, tp)
		}
	}
	tests := []struct {
		name  string
		write func(ctx context.Context) error
	}{
		{"create without topic id", create(func(tp *topicsync.Topic) { tp.TopicID = "" })},
		{"create without group id", create(func(tp *topicsync.Topic) { tp.GroupID = "" })},
		{"destroy without group id", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, "", []string{valid.TopicID}, at(2))
		}},
		{"destroy with an empty topic id", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, valid.GroupID, []string{valid.TopicID, ""}, at(2))
		}},
		{"info change without topic id", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, GroupID: valid.GroupID, Name: ptr("x"), At: at(2)})
		}},
		// PostgreSQL cannot store a NUL in text or jsonb; both stores refuse it alike.
		{"create with a NUL in the name", create(func(tp *topicsync.Topic) { tp.Name = "a\x00b" })},
		{"create with a NUL in custom data", create(func(tp *topicsync.Topic) { tp.CustomData = fields("k", "v\x00") })},
		{"info change with a NUL", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: valid.TopicID, GroupID: valid.GroupID, Notification: ptr("\x00"), At: at(2)})
		}},
		{"destroy with a NUL in an id", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, valid.GroupID, []string{"x\x00"}, at(2))
		}},
		{"destroy with a NUL in the group id", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, "g\x00", []string{valid.TopicID}, at(2))
		}},
		// PostgreSQL's index cannot hold an id of a few KB; both stores refuse one over MaxIDBytes.
		{"create with a long topic id", create(func(tp *topicsync.Topic) { tp.TopicID = strings.Repeat("t", topicsync.MaxIDBytes+1) })},
		{"create with a long group id", create(func(tp *topicsync.Topic) { tp.GroupID = strings.Repeat("g", 4000) })},
		{"destroy with a long id", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, valid.GroupID, []string{strings.Repeat("t", 4000)}, at(2))
		}},
		{"info change with a long topic id", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: strings.Repeat("t", 4000), Name: ptr("x"), At: at(2)})
		}},
		// Nor can PostgreSQL store invalid UTF-8.
		{"create with invalid UTF-8 in the name", create(func(tp *topicsync.Topic) { tp.Name = "a\xffb" })},
		{"info change with invalid UTF-8", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: valid.TopicID, Name: ptr("\xfe"), At: at(2)})
		}},
		// An app is an SDKAppID: decimal digits, at most MaxAppIDBytes of them.
		{"create with a non-numeric app", create(func(tp *topicsync.Topic) { tp.SdkAppID = "14000x" })},
		{"create with a long app", create(func(tp *topicsync.Topic) { tp.SdkAppID = strings.Repeat("1", topicsync.MaxAppIDBytes+1) })},
		{"destroy with a non-numeric app", func(ctx context.Context) error {
			return s.Destroy(ctx, "1400000001 OR 1=1", valid.GroupID, []string{valid.TopicID}, at(2))
		}},
		{"info change with a non-numeric app", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: "-1", TopicID: valid.TopicID, Name: ptr("x"), At: at(2)})
		}},
		{"get with a non-numeric app", func(ctx context.Context) error {
			_, err := s.Get(ctx, "app", valid.TopicID)
			return err
		}},
		{"list with a long app", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{SdkAppID: ptr(strings.Repeat("9", 21))})
			return err
		}},
		// Reads refuse what no store holds alike: PostgreSQL failed on invalid UTF-8 or a NUL
		// (SQLSTATE 22021) where SQLite matched nothing.
		{"get with invalid UTF-8 in the id", func(ctx context.Context) error {
			_, err := s.Get(ctx, testApp, "\xff")
			return err
		}},
		{"get with a NUL in the id", func(ctx context.Context) error {
			_, err := s.Get(ctx, testApp, "a\x00b")
			return err
		}},
		{"get with a long id", func(ctx context.Context) error {
			_, err := s.Get(ctx, testApp, strings.Repeat("t", topicsync.MaxIDBytes+1))
			return err
		}},
		{"list by a group of invalid UTF-8", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{GroupID: "g\xff"})
			return err
		}},
		{"list by a group with a NUL", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{GroupID: "g\x00"})
			return err
		}},
		{"list by a long group", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{GroupID: strings.Repeat("g", topicsync.MaxIDBytes+1)})
			return err
		}},
		{"list after a topic id of invalid UTF-8", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{After: &topicsync.Position{CreatedAt: at(1), SdkAppID: testApp, TopicID: "\xff"}})
			return err
		}},
		{"list after a position of a non-numeric app", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{After: &topicsync.Position{CreatedAt: at(1), SdkAppID: "\x00", TopicID: "t"}})
			return err
		}},
		// SQLite stored a time past the year 9999 as text it could not read back: every List of
		// the store failed on that row, while PostgreSQL kept it.
		{"create past the year 9999", create(func(tp *topicsync.Topic) { tp.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"create before the year 1", create(func(tp *topicsync.Topic) { tp.CreatedAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) })},
		{"destroy past the year 9999", func(ctx context.Context) error {
			return s.Destroy(ctx, testApp, valid.GroupID, []string{valid.TopicID}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"info change past the year 9999", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: valid.TopicID, GroupID: valid.GroupID, Name: ptr("x"), At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		}},
		// SQLite's text of a time past the year 9999 sorts before the stored ones, so it listed
		// every topic there while PostgreSQL listed none.
		{"list after a position past the year 9999", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{After: &topicsync.Position{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), SdkAppID: testApp, TopicID: "t"}})
			return err
		}},
		{"list after a position before the year 1", func(ctx context.Context) error {
			_, err := s.List(ctx, topicsync.ListFilter{After: &topicsync.Position{CreatedAt: time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), SdkAppID: testApp, TopicID: "t"}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write(t.Context())
			if !errors.Is(err, topicsync.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			if all := mustList(t, s, topicsync.ListFilter{IncludeDeleted: true}); len(all) != 0 {
				t.Errorf("rejected write left rows %q", topicIDs(all))
			}
		})
	}
}

// testConcurrentWrites mixes 300 creates with info changes that fail, so on SQLite failing and
// succeeding writes share batches.
func testConcurrentWrites(t *testing.T, s topicsync.Store) {
	const creates, misses = 300, 40
	var wg sync.WaitGroup
	createErrs := make(chan error, creates)
	missErrs := make(chan error, misses)
	for i := range creates {
		wg.Go(func() {
			createErrs <- s.Create(t.Context(), newTopic("@TGS#_g", "c"+strconv.Itoa(i), at(i%60)))
		})
	}
	for i := range misses {
		wg.Go(func() {
			missErrs <- s.ApplyInfoChange(t.Context(), topicsync.InfoChange{SdkAppID: testApp, TopicID: "@TGS#_g@TOPIC#_missing" + strconv.Itoa(i), Name: ptr("x")})
		})
	}
	wg.Wait()
	close(createErrs)
	close(missErrs)
	for err := range createErrs {
		if err != nil {
			t.Errorf("Create: %v", err)
		}
	}
	for err := range missErrs {
		if !errors.Is(err, topicsync.ErrNotFound) {
			t.Errorf("ApplyInfoChange on a missing topic: error = %v, want ErrNotFound", err)
		}
	}
	if all := mustList(t, s, topicsync.ListFilter{IncludeDeleted: true}); len(all) != creates {
		t.Errorf("List returned %d rows, want %d", len(all), creates)
	}
}

func testGetUnknown(t *testing.T, s topicsync.Store) {
	// An empty id is no topic either, as Store.Get says: both stores find nothing.
	for _, id := range []string{"@TGS#_g@TOPIC#_nope", ""} {
		if _, err := s.Get(t.Context(), testApp, id); !errors.Is(err, topicsync.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

func testCanceledContext(t *testing.T, s topicsync.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tp := newTopic("@TGS#_g", "canceled", at(1))
	if err := s.Create(ctx, tp); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a canceled context: error = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), testApp, tp.TopicID); !errors.Is(err, topicsync.ErrNotFound) {
		t.Errorf("Get after canceled Create: error = %v, want ErrNotFound", err)
	}
}

func testPing(t *testing.T, s topicsync.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClosedStore(t *testing.T, s topicsync.Store) {
	tp := newTopic("@TGS#_g", "closed", at(1))
	mustCreate(t, s, tp)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return s.Create(ctx, newTopic("@TGS#_g", "after", at(2))) }},
		{"Destroy", func() error { return s.Destroy(ctx, testApp, tp.GroupID, []string{tp.TopicID}, at(2)) }},
		{"ApplyInfoChange", func() error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: tp.TopicID, Name: ptr("x")})
		}},
		{"Get", func() error { _, err := s.Get(ctx, testApp, tp.TopicID); return err }},
		{"List", func() error { _, err := s.List(ctx, topicsync.ListFilter{}); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, topicsync.ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", c.name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSQLiteWritesRacingCloseReturn: writes in flight while the store
// closes each return, committed or ErrClosed; none is left waiting for a
// writer that has stopped, also one still queued for it.
func TestSQLiteWritesRacingCloseReturn(t *testing.T) {
	s, err := topicsync.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "topics.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	const writers = 64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				// No deadline: only the store can end the wait.
				err := s.Create(context.Background(), newTopic("@TGS#_g", fmt.Sprintf("racing-%d-%d", w, i), at(1)))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // writes commit and queue up
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("writes racing Close still wait 10 s after it")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, topicsync.ErrClosed) {
			t.Errorf("a write racing Close: %v, want ErrClosed", err)
		}
	}
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "topics.db")
	tp := newTopic("@TGS#_g", "kept", at(1))
	for round := range 3 {
		s, err := topicsync.OpenSQLite(t.Context(), path, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("open #%d: %v", round+1, err)
		}
		if round == 0 {
			mustCreate(t, s, tp)
		}
		checkTopic(t, mustGet(t, s, tp.TopicID), tp)
		closeStore(t, s)
	}

	// Each migration is recorded once however often the store is opened.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions, distinct int
	err = db.QueryRowContext(t.Context(),
		`SELECT count(*), count(DISTINCT version_id) FROM topic_goose_db_version WHERE version_id > 0`,
	).Scan(&versions, &distinct)
	if err != nil {
		t.Fatalf("read migration versions: %v", err)
	}
	if versions == 0 || versions != distinct {
		t.Errorf("migration rows = %d, distinct versions = %d: want each version recorded exactly once", versions, distinct)
	}
}

func TestOpenStoreSQLiteInDataDir(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "state", "imcallback")
	s, err := topicsync.OpenStore(t.Context(), "", dataDir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	info, err := os.Stat(dataDir)
	if err != nil {
		t.Fatalf("data directory: %v", err)
	}
	if perm := info.Mode().Perm(); perm&^0o750 != 0 {
		t.Errorf("data directory mode = %v, want at most 0750", perm)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "topics.db")); err != nil {
		t.Errorf("database file: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenStoreRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		dataDir string
	}{
		{name: "mysql", dsn: "mysql://x"},
		{name: "sqlite url", dsn: "sqlite:///var/lib/imcallback/topics.db"},
		{name: "postgres keyword form", dsn: "host=localhost user=postgres password=s3cr3t-pw"},
		{name: "upper-case scheme", dsn: "POSTGRES://u:s3cr3t-pw@localhost/db"},
		{name: "no data dir", dsn: "", dataDir: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topicsync.OpenStore(t.Context(), tt.dsn, tt.dataDir, zaptest.NewLogger(t))
			if err == nil {
				closeStore(t, s)
				t.Fatal("OpenStore succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "IMCALLBACK_STORE_DSN") {
				t.Errorf("error %q does not name IMCALLBACK_STORE_DSN", err)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

// TestOpenSQLiteRefusesAnInMemoryDatabase: SQLite gives each connection an
// in-memory database of its own (a temporary one for the empty URI), and the
// store reads on connections other than its writer's, so its reads found no
// table where its writes had succeeded. Such a path is refused at open.
func TestOpenSQLiteRefusesAnInMemoryDatabase(t *testing.T) {
	for _, path := range []string{":memory:", "file::memory:", "file:"} {
		t.Run(path, func(t *testing.T) {
			s, err := topicsync.OpenSQLite(t.Context(), path, zaptest.NewLogger(t))
			if err == nil {
				tp := newTopic("@TGS#_g", "memory", at(0))
				createErr := s.Create(t.Context(), tp)
				_, getErr := s.Get(t.Context(), testApp, tp.TopicID)
				closeStore(t, s)
				t.Fatalf("OpenSQLite(%q) succeeded (then Create: %v, Get: %v), want ErrInvalid", path, createErr, getErr)
			}
			if !errors.Is(err, topicsync.ErrInvalid) {
				t.Errorf("OpenSQLite(%q) = %v, want ErrInvalid", path, err)
			}
		})
	}
}

// TestPostgresReplicasMigrateTogether opens several stores on one fresh schema at once, as
// replicas starting together would: the migration lock must let every one of them succeed.
func TestPostgresReplicasMigrateTogether(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	const replicas = 3
	stores := make([]topicsync.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = topicsync.OpenPostgres(t.Context(), dsn, zaptest.NewLogger(t))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: OpenPostgres: %v", i, err)
			continue
		}
		t.Cleanup(func() { closeStore(t, stores[i]) })
	}
	if t.Failed() {
		return
	}
	tp := newTopic("@TGS#_g", "shared", at(1))
	mustCreate(t, stores[0], tp)
	checkTopic(t, mustGet(t, stores[replicas-1], tp.TopicID), tp)
}

// TestPostgresWritesOfReplicasAtOnceOnASerializableDatabase: on a database whose transactions
// are serializable by default (default_transaction_isolation, as a DBA may set it for the
// database or the role), PostgreSQL aborts a write of a row another transaction changed since the
// write's snapshot (SQLSTATE 40001); two replicas writing one topic at once then failed one
// write, which durable delivery retried later (an error, and a dead letter once the retries ran
// out) and an inline callback answered 503. Each write is one statement that reads the row as it
// writes it, so the store runs it again, and every write applies as if it came after the other.
func TestPostgresWritesOfReplicasAtOnceOnASerializableDatabase(t *testing.T) {
	u, err := url.Parse(postgresSchemaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("default_transaction_isolation", "serializable")
	u.RawQuery = q.Encode()
	var replicas [2]topicsync.Store
	for i := range replicas {
		if replicas[i], err = topicsync.OpenPostgres(t.Context(), u.String(), zaptest.NewLogger(t)); err != nil {
			t.Fatalf("replica %d: OpenPostgres: %v", i, err)
		}
		t.Cleanup(func() { closeStore(t, replicas[i]) })
	}
	const group = "@TGS#_serializable"
	ids := []string{group + "@TOPIC#_a", group + "@TOPIC#_b", group + "@TOPIC#_c"}
	changed := newTopic(group, "changed", at(0))
	mustCreate(t, replicas[0], changed)
	const writes = 48
	errs := make([]error, writes*3)
	var wg sync.WaitGroup
	for i := range writes {
		s := replicas[i%len(replicas)]
		wg.Go(func() {
			errs[3*i] = s.ApplyInfoChange(t.Context(), topicsync.InfoChange{
				SdkAppID: testApp, TopicID: changed.TopicID, Name: ptr(fmt.Sprintf("name %02d", i)), At: at(1 + i),
			})
		})
		wg.Go(func() {
			tp := newTopic(group, string(rune('a'+i%len(ids))), at(i%2))
			errs[3*i+1] = s.Create(t.Context(), tp)
		})
		wg.Go(func() { errs[3*i+2] = s.Destroy(t.Context(), testApp, group, ids, at(30+i%2)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got, want := mustGet(t, replicas[1], changed.TopicID).Name, fmt.Sprintf("name %02d", writes-1); got != want {
		t.Errorf("name = %q, want %q (the latest change)", got, want)
	}
	for _, id := range ids {
		if got := mustGet(t, replicas[1], id); got.DeletedAt == nil || !got.DeletedAt.Equal(at(30)) || got.Name == "" {
			t.Errorf("%s = deleted at %v, name %q; want deleted at %v, with its create's fields", id, got.DeletedAt, got.Name, at(30))
		}
	}
}

// TestPostgresLockWaitNamesTheHolder: a start that cannot take the migration
// lock says so, and names the session that holds it (another replica
// migrating, or a session left holding it, which pg_terminate_backend ends),
// instead of only "failed to initialize: context deadline exceeded", which
// the start's error sent to check IMCALLBACK_STORE_DSN.
func TestPostgresLockWaitNamesTheHolder(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	app := "imcb_lock_" + randomHex(t)
	cfg, err := pgx.ParseConfig(os.Getenv(postgresDSNEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	holder, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	var pid int
	if err := holder.QueryRow(t.Context(), `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) AS locked`,
		topicsync.PostgresMigrationLockID).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	s, err := topicsync.OpenPostgres(ctx, dsn, zaptest.NewLogger(t))
	if err == nil {
		closeStore(t, s)
		t.Fatal("OpenPostgres took the migration lock another session held")
	}
	for _, want := range []string{"migration lock", "pid " + strconv.Itoa(pid), app} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("OpenPostgres = %v, want an error naming %q", err, want)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenPostgres = %v, want it to wrap context.DeadlineExceeded", err)
	}
	t.Logf("error: %v", err)
}

// TestPostgresEveryQueryExecMode: a DSN may choose how pgx sends its statements
// (default_query_exec_mode, which pgx reads from the URL like pool_max_conns); poolers and proxies
// that cannot keep prepared statements need simple_protocol or exec. Every write and read then works
// and ends as with pgx's default: before, the custom data went as bytes, which those modes send
// as bytea text, so every create failed ("invalid input syntax for type json") while the store
// pinged fine, and each was retried until dead-lettered.
func TestPostgresEveryQueryExecMode(t *testing.T) {
	run := func(t *testing.T, s topicsync.Store) []topicsync.Topic {
		t.Helper()
		tp := newTopic("@TGS#_g", "a", at(0))
		tp.CustomData = fields("Color", "bleu \"é\" \\ 🙂", "empty", "", "ctl", "a\tb\u0001")
		mustCreate(t, s, tp)
		mustCreate(t, s, tp) // a repeat changes nothing
		if err := s.ApplyInfoChange(t.Context(), topicsync.InfoChange{
			SdkAppID: testApp, TopicID: tp.TopicID, Name: ptr("renamed 话题"), FaceURL: ptr(""), At: at(5),
		}); err != nil {
			t.Fatalf("ApplyInfoChange: %v", err)
		}
		mustDestroy(t, s, "@TGS#_g", []string{tp.TopicID, "@TGS#_g@TOPIC#_b"}, at(30))
		mustCreate(t, s, newTopic("@TGS#_g", "b", at(10))) // a late create of a destroyed topic
		mustCreate(t, s, newTopic("@TGS#_g", "c", at(40)))
		// A page's statement (ListPage's, which ends at a byte budget) too.
		page, err := topicsync.ListPage(t.Context(), s, topicsync.ListFilter{IncludeDeleted: true, Limit: 2})
		if err != nil || len(page.Topics) != 2 || page.NextCursor == "" {
			t.Errorf("a page of 2: %d topics, cursor %q, %v; want 2 and a cursor", len(page.Topics), page.NextCursor, err)
		}
		return mustList(t, s, topicsync.ListFilter{IncludeDeleted: true,
			After: &topicsync.Position{CreatedAt: time.Time{}, SdkAppID: testApp, TopicID: "@"}})
	}
	want := run(t, openPostgres(t))
	if len(want) != 3 {
		t.Fatalf("the default mode lists %d topics, want 3", len(want))
	}
	for _, mode := range []string{"simple_protocol", "exec", "describe_exec", "cache_describe", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			s, err := topicsync.OpenPostgres(t.Context(), postgresSchemaDSN(t)+"&default_query_exec_mode="+mode, zaptest.NewLogger(t))
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			t.Cleanup(func() { closeStore(t, s) })
			got := run(t, s)
			if len(got) != len(want) {
				t.Fatalf("listed %d topics, want %d", len(got), len(want))
			}
			for i := range want {
				gotJSON, err := json.Marshal(got[i])
				if err != nil {
					t.Fatal(err)
				}
				wantJSON, err := json.Marshal(want[i])
				if err != nil {
					t.Fatal(err)
				}
				if string(gotJSON) != string(wantJSON) {
					t.Errorf("topic %d is\n%s\nwant\n%s", i, gotJSON, wantJSON)
				}
			}
		})
	}
}

// TestPostgresSendsOnlyThePage: PostgreSQL ends a page of ListPage at its byte
// budget itself, so it sends the page's rows only. The store ended it after
// reading them, and pgx reads a result to its end even when its rows are
// closed early: every other row of the page's LIMIT was still sent, read and
// dropped, hundreds of megabytes a page when paging through large topics.
func TestPostgresSendsOnlyThePage(t *testing.T) {
	s := openPostgres(t)
	for i := range 6 {
		tp := newTopic("@TGS#_g", fmt.Sprint(i), at(i))
		tp.Name = strings.Repeat("n", 2000)
		mustCreate(t, s, tp)
	}
	const budget = 5000
	defer topicsync.SetPageBytes(budget)()
	f := topicsync.ListFilter{Limit: 5}
	page, err := topicsync.ListPage(t.Context(), s, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Topics) != 3 || page.NextCursor == "" {
		t.Fatalf("the page holds %d topics, cursor %q; want 3 of 2 kB in a budget of %d bytes, and a cursor",
			len(page.Topics), page.NextCursor, budget)
	}
	sent, err := topicsync.PostgresPageRows(t.Context(), s, f, budget)
	if err != nil {
		t.Fatal(err)
	}
	if sent != len(page.Topics) {
		t.Errorf("PostgreSQL sent %d rows for a page of %d topics", sent, len(page.Topics))
	}
}

// TestOpenPostgresRefusesADatabaseThatAltersUTF8: a database that does not give back the UTF-8
// text it is sent is refused at open, naming its encoding, before the migrations touch it. On one
// that opened, the writes of topics named in Chinese or with an emoji failed (retried until
// dead-lettered) while the others were stored. Each case creates a database of its own.
func TestOpenPostgresRefusesADatabaseThatAltersUTF8(t *testing.T) {
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store tests")
	}
	// dsnOf is the test DSN on database db ("" keeps the test's own) with params added.
	dsnOf := func(db string, params url.Values) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", postgresDSNEnv, err)
		}
		if db != "" {
			u.Path = "/" + db
		}
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	// query runs sql on database db and scans its row, if any, into dest.
	query := func(db, sql string, dest ...any) error {
		conn, err := pgx.Connect(t.Context(), dsnOf(db, nil))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		if len(dest) == 0 {
			_, err = conn.Exec(t.Context(), sql)
			return err
		}
		return conn.QueryRow(t.Context(), sql).Scan(dest...)
	}
	tests := []struct {
		name, encoding string
		params         url.Values
		want           string
	}{
		{name: "EUC_CN", encoding: "EUC_CN", want: "server_encoding EUC_CN"},
		{name: "LATIN1 read as UTF8", encoding: "LATIN1", params: url.Values{"client_encoding": {"UTF8"}}, want: "server_encoding LATIN1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := "imcb_enc_" + randomHex(t)
			err := query("", "CREATE DATABASE "+db+" ENCODING '"+tt.encoding+"' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" {
				t.Skipf("the test user may not create databases: %v", err)
			}
			if err != nil {
				t.Fatalf("create database: %v", err)
			}
			t.Cleanup(func() {
				if err := query("", "DROP DATABASE "+db); err != nil {
					t.Errorf("drop database %s: %v", db, err)
				}
			})
			s, err := topicsync.OpenPostgres(t.Context(), dsnOf(db, tt.params), zaptest.NewLogger(t))
			if err == nil {
				closeStore(t, s)
				t.Fatal("OpenPostgres succeeded, want an error naming the encoding")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ENCODING 'UTF8'") {
				t.Errorf("error %q does not say %q and ask for ENCODING 'UTF8'", err, tt.want)
			}
			var migrated bool
			if err := query(db, "SELECT to_regclass('topics') IS NOT NULL", &migrated); err != nil {
				t.Fatal(err)
			}
			if migrated {
				t.Error("the migrations ran on the refused database")
			}
		})
	}
}

// TestOpenPostgresHidesPassword needs no server: the DSNs fail to parse or point at a closed port.
func TestOpenPostgresHidesPassword(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct {
		name string
		dsn  string
	}{
		{name: "unreachable", dsn: "postgres://imcb:" + password + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"},
		{name: "password parameter", dsn: "postgresql://imcb@127.0.0.1:1/test?sslmode=disable&password=" + password},
		{name: "bad port", dsn: "postgres://imcb:" + password + "@127.0.0.1:notaport/test"},
		{name: "bad escape", dsn: "postgres://imcb:" + password + "%zz@127.0.0.1/test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			s, err := topicsync.OpenStore(ctx, tt.dsn, t.TempDir(), zap.New(core))
			if err == nil {
				closeStore(t, s)
				t.Fatal("OpenStore succeeded, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %v", err)
			}
			for _, entry := range logs.All() {
				line := entry.Message + fmt.Sprint(entry.ContextMap())
				if strings.Contains(line, password) {
					t.Errorf("log line leaks the password: %s", line)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

// BenchmarkDiskSync is the disk's part of one SQLite commit with
// synchronous=FULL, without SQLite: a 64 KiB write (about the WAL frames of
// one batch) at one of 100 offsets of a file in the temporary directory,
// then fsync. docs/performance.md compares it with the fsync of a commit
// under load.
func BenchmarkDiskSync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range 100 {
		if _, err := f.WriteAt(buf, int64(i*len(buf))); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := f.WriteAt(buf, int64(i%100*len(buf))); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStore opens a SQLite store for a benchmark, closed at its end, and
// gives a maker of unique topics, safe for concurrent use.
func benchStore(b *testing.B) (topicsync.Store, func() topicsync.Topic) {
	b.Helper()
	s, err := topicsync.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "topics.db"), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var next atomic.Int64
	created := time.Now()
	return s, func() topicsync.Topic {
		return newTopic("@TGS#_bench", strconv.FormatInt(next.Add(1), 10), created)
	}
}

// BenchmarkSQLiteCreateParallel measures group commit: many concurrent callers, unique topics,
// every Create answered only after its transaction is durably committed.
func BenchmarkSQLiteCreateParallel(b *testing.B) {
	s, newBenchTopic := benchStore(b)
	b.SetParallelism(16) // callbacks arrive from many HTTP requests at once
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			tp := newBenchTopic()
			if err := s.Create(ctx, tp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestPostgresPingFailsOnAReadOnlyDatabase: a PostgreSQL store that answers
// but refuses every write (a standby the DSN reaches after a failover, or a
// database made read-only, as managed services do when its storage is full)
// fails the readiness ping, as the SQLite store's does on a read-only file or
// a full disk: before, the ping only asked the server to answer, so
// topic_store said ok while every topic write failed.
func TestPostgresPingFailsOnAReadOnlyDatabase(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	closeStore(t, mustOpenPostgres(t, dsn)) // migrates
	s := mustOpenPostgres(t, dsn+"&default_transaction_read_only=on", topicsync.WithoutMigrating())
	defer closeStore(t, s)
	if err := s.Create(t.Context(), newTopic("@TGS#_g", "a", at(0))); err == nil {
		t.Fatal("Create on a read-only database succeeded; the test does not make it read-only")
	}
	err := s.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Ping of a read-only database = %v, want an error saying it is read-only", err)
	}
	t.Logf("ping: %v", err)
}

// TestPostgresPingAfterAFullDisk: a PostgreSQL server whose data disk is
// full stays up and writable in principle (transactions are not read-only,
// it is no standby): only a write that needs a new page fails, with SQLSTATE
// 53100 disk_full ("could not extend file"). The readiness ping, which asks
// only whether the database refuses every write, passed while every topic
// create failed. A topic write that failed for a full disk now fails the
// ping until a topic write commits (or for 30 s with none tried), as the
// SQLite store's does. The test raises 53100 from a trigger of its own
// schema rather than filling the shared server's disk.
func TestPostgresPingAfterAFullDisk(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	s := mustOpenPostgres(t, dsn)
	defer closeStore(t, s)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `
CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.topic_id LIKE '%full%' THEN
		RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = 'disk_full';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER full_disk BEFORE INSERT ON topics FOR EACH ROW EXECUTE FUNCTION full_disk()`); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before any write failed: %v", err)
	}
	err = s.Create(t.Context(), newTopic("@TGS#_g", "full", at(0)))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "53100" {
		t.Fatalf("Create = %v, want the disk_full the trigger raises", err)
	}
	if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "full disk") {
		t.Errorf("Ping after a create failed for a full disk = %v, want an error naming the full disk", err)
	} else {
		t.Logf("ping: %v", err)
	}
	if err := s.Create(t.Context(), newTopic("@TGS#_g", "room", at(1))); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after a create committed = %v, want nil", err)
	}
}

func mustOpenPostgres(t *testing.T, dsn string, opts ...topicsync.OpenOption) topicsync.Store {
	t.Helper()
	s, err := topicsync.OpenPostgres(t.Context(), dsn, zaptest.NewLogger(t), opts...)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s
}

// TestSQLitePingFailsOnAFullDisk fills the filesystem under a SQLite store:
// writes fail and the readiness ping says so; once space is freed, writes
// and the ping succeed again without reopening the store. With a
// write-ahead log grown over a checkpoint, as a running store's has, a
// failed commit leaves the log's file longer than what it committed, and
// the probe, written there before, fitted again while every create failed
// for the full disk.
func TestSQLitePingFailsOnAFullDisk(t *testing.T) {
	tests := []struct {
		name   string
		mib    int // the filesystem's size
		stored int // topics written before the disk is filled
	}{
		{"fresh store", 4, 1},
		// More pages than the log's automatic checkpoint (1,000): the log
		// starts again from its beginning over a file that keeps its length.
		{"grown log", 8, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := imtest.TmpFS(t, tt.mib)
			ctx := context.Background()
			s, err := topicsync.OpenStore(ctx, "", dir, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			create := func(i int) error {
				return s.Create(ctx, topicsync.Topic{SdkAppID: testApp, TopicID: fmt.Sprintf("@TGS#_full@TOPIC#_%06d", i),
					GroupID: "@TGS#_full", Name: strings.Repeat("n", 200), CreatedAt: time.Now()})
			}
			for i := range tt.stored {
				if err := create(i); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("ping before the disk is full: %v", err)
			}
			free := imtest.Fill(t, dir)
			i, writeErr := tt.stored, error(nil)
			for ; i < 100000 && writeErr == nil; i++ {
				writeErr = create(i)
			}
			if writeErr == nil {
				t.Fatal("writes kept succeeding on a full disk")
			}
			t.Logf("write on the full disk: %v", writeErr)
			for k := range 3 {
				if err := create(i + k); err == nil {
					t.Skipf("a create succeeded again on the full disk (%d): the filesystem gave room back", k)
				}
				if err := s.Ping(ctx); err == nil {
					t.Fatalf("ping %d said ok while creates fail for a full disk (%v)", k, writeErr)
				}
			}
			free()
			// A topic write commits again (the delivery's retry), and with it the check.
			if err := create(200000); err != nil {
				t.Fatalf("write after the space was freed: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("ping after the space was freed: %v", err)
			}
		})
	}
}

// TestSQLitePingAfterAFullDisk: a topic write that failed for a full disk
// fails the readiness check until a topic write commits, or for
// SQLiteFullHold after it when none is tried (a store out of service must
// not stay out for good); the check's own probe does not clear it.
func TestSQLitePingAfterAFullDisk(t *testing.T) {
	tests := []struct {
		name     string
		ago      time.Duration // when the write failed
		thenOK   bool          // whether a topic write commits before the check
		wantFail bool
	}{
		{"just failed", 0, false, true},
		{"failed within the hold", topicsync.SQLiteFullHold / 2, false, true},
		{"failed before the hold", topicsync.SQLiteFullHold + time.Second, false, false},
		{"a write committed since", 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := topicsync.OpenStore(ctx, "", t.TempDir(), zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			topicsync.SetDiskFullAt(s, time.Now().Add(-tt.ago))
			if tt.thenOK {
				if err := s.Create(ctx, topicsync.Topic{SdkAppID: testApp, TopicID: "@TGS#_hold@TOPIC#_1", GroupID: "@TGS#_hold", CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			for k := range 2 { // the probe's own commit does not clear it
				err := s.Ping(ctx)
				if (err != nil) != tt.wantFail {
					t.Fatalf("ping %d: %v, want failing %v", k, err, tt.wantFail)
				}
				if err != nil && !strings.Contains(err.Error(), "full disk") {
					t.Errorf("ping %d: %v, want it to name the full disk", k, err)
				}
			}
		})
	}
}

// otherApp is the second app of the several-apps tests.
const otherApp = "1400000002"

// inApp is tp as app stores it.
func inApp(tp topicsync.Topic, app string) topicsync.Topic {
	tp.SdkAppID = app
	return tp
}

// testAppsKeepTheirOwnTopics: app B's callbacks for a TopicId that app A
// also holds (a create, info changes, destroys) touch B's row alone; before
// topics were kept per app, B's destroy deleted A's topic and B's change
// renamed it.
func testAppsKeepTheirOwnTopics(t *testing.T, s topicsync.Store) {
	ctx := t.Context()
	a := newTopic("@TGS#_shared", "same-id", at(1)) // app testApp
	mustCreate(t, s, a)
	other := newTopic("@TGS#_shared", "other", at(2))
	mustCreate(t, s, other)

	steps := []struct {
		name  string
		write func() error
		// wantErr is the error B's write must give (nil for none).
		wantErr error
	}{
		{"B changes the id's name before B has it", func() error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: otherApp, TopicID: a.TopicID, Name: ptr("hijacked"), At: at(3)})
		}, topicsync.ErrNotFound},
		{"B destroys the id", func() error {
			return s.Destroy(ctx, otherApp, a.GroupID, []string{a.TopicID, other.TopicID}, at(4))
		}, nil},
		{"B creates the id", func() error {
			tp := inApp(a, otherApp)
			tp.Name, tp.OwnerAccount, tp.CustomData = "B's topic", "u_b", fields("app", "B")
			tp.CreatedAt = at(5)
			return s.Create(ctx, tp)
		}, nil},
		{"B changes the id it now holds", func() error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: otherApp, TopicID: a.TopicID, Name: ptr("renamed by B"),
				Introduction: ptr("B"), At: at(6)})
		}, nil},
		{"the legacy app's destroy of the id", func() error {
			return s.Destroy(ctx, topicsync.LegacyAppID, a.GroupID, []string{a.TopicID}, at(7))
		}, nil},
	}
	for _, st := range steps {
		if err := st.write(); !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
			t.Fatalf("%s: error = %v, want %v", st.name, err, st.wantErr)
		}
		// A's topics are as A created them after every one of B's writes.
		checkTopic(t, mustGet(t, s, a.TopicID), a)
		checkTopic(t, mustGet(t, s, other.TopicID), other)
	}

	wantB := inApp(a, otherApp)
	wantB.Name, wantB.OwnerAccount, wantB.CustomData, wantB.Introduction = "renamed by B", "u_b", fields("app", "B"), "B"
	wantB.CreatedAt, wantB.UpdatedAt, wantB.DeletedAt = at(5), at(6), ptr(at(4)) // destroyed before its create: stays deleted
	gotB, err := s.Get(ctx, otherApp, a.TopicID)
	if err != nil {
		t.Fatalf("Get(B, %q): %v", a.TopicID, err)
	}
	checkTopic(t, gotB, wantB)

	// Listed with their apps: every app's by default, one app's on asking.
	key := func(topics []topicsync.Topic) []string {
		out := make([]string, len(topics))
		for i, tp := range topics {
			out[i] = tp.SdkAppID + "/" + strings.TrimPrefix(tp.TopicID, "@TGS#_shared@TOPIC#_")
		}
		return out
	}
	tests := []struct {
		filter topicsync.ListFilter
		want   []string
	}{
		{topicsync.ListFilter{}, []string{testApp + "/same-id", testApp + "/other"}},
		{topicsync.ListFilter{IncludeDeleted: true}, []string{testApp + "/same-id", testApp + "/other",
			otherApp + "/other", otherApp + "/same-id", "/same-id"}},
		{topicsync.ListFilter{SdkAppID: ptr(testApp), IncludeDeleted: true}, []string{testApp + "/same-id", testApp + "/other"}},
		{topicsync.ListFilter{SdkAppID: ptr(otherApp), IncludeDeleted: true}, []string{otherApp + "/other", otherApp + "/same-id"}},
		{topicsync.ListFilter{SdkAppID: ptr(topicsync.LegacyAppID), IncludeDeleted: true}, []string{"/same-id"}},
		{topicsync.ListFilter{SdkAppID: ptr("1400000003"), IncludeDeleted: true}, []string{}},
		{topicsync.ListFilter{TopicID: a.TopicID, IncludeDeleted: true}, []string{testApp + "/same-id", otherApp + "/same-id", "/same-id"}},
		{topicsync.ListFilter{TopicID: a.TopicID, SdkAppID: ptr(otherApp), GroupID: a.GroupID, IncludeDeleted: true}, []string{otherApp + "/same-id"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.filter), func(t *testing.T) {
			if got := key(mustList(t, s, tt.filter)); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List = %q, want %q", got, tt.want)
			}
		})
	}
}

// testListAcrossApps pages one topic at a time through topics of several
// apps that share their TopicIds and created_at: each shows exactly once,
// in (created_at, app, topic id) order.
func testListAcrossApps(t *testing.T, s topicsync.Store) {
	var want []string
	for _, app := range []string{topicsync.LegacyAppID, testApp, otherApp} {
		for _, suffix := range []string{"x", "y"} {
			tp := inApp(newTopic("@TGS#_g", suffix, at(1)), app)
			mustCreate(t, s, tp)
			want = append(want, app+"/"+tp.TopicID)
		}
	}
	var got []string
	f := topicsync.ListFilter{Limit: 1}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("more than %d pages: %q", len(want), got)
		}
		page, err := topicsync.ListPage(t.Context(), s, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range page.Topics {
			got = append(got, tp.SdkAppID+"/"+tp.TopicID)
		}
		if page.NextCursor == "" {
			break
		}
		if f.After, err = topicsync.DecodeCursor(page.NextCursor); err != nil {
			t.Fatalf("DecodeCursor(%q): %v", page.NextCursor, err)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages = %q, want %q", got, want)
	}
}

// testListPageBudget: a page of ListPage ends once its topics hold the byte
// budget (topicsync.MaxPageBytes; here a few kilobytes), keeping one at
// least, and still answers the cursor of the next page, so that paging on
// lists every topic once; a topic larger than the budget comes alone. A page
// held f.Limit topics whatever their size: up to a gigabyte for a page of
// 1,000 topics of a megabyte each.
func testListPageBudget(t *testing.T, s topicsync.Store) {
	const budget = 5000
	large := func(suffix string, n int, sec int) topicsync.Topic {
		tp := newTopic("@TGS#_g", suffix, at(sec))
		tp.Name = strings.Repeat("n", n/2)
		tp.CustomData = fields("k", strings.Repeat("v", n/2))
		return tp
	}
	var want []string
	var huge topicsync.Topic
	for i := range 12 {
		var tp topicsync.Topic
		switch {
		case i == 0 || i == 9:
			tp = newTopic("@TGS#_g", fmt.Sprint(i), at(i)) // small
		case i == 5:
			tp = large(fmt.Sprint(i), 3*budget, i) // larger than the budget alone
			huge = tp
		default:
			tp = large(fmt.Sprint(i), budget/3, i)
		}
		mustCreate(t, s, tp)
		want = append(want, tp.TopicID)
	}
	if all, err := topicsync.ListPage(t.Context(), s, topicsync.ListFilter{Limit: 100}); err != nil || len(all.Topics) != len(want) || all.NextCursor != "" {
		t.Fatalf("with the default budget: %d topics, cursor %q, %v; want all %d on one page", len(all.Topics), all.NextCursor, err, len(want))
	}
	defer topicsync.SetPageBytes(budget)()

	// held is the bytes a page holds before its last topic, which must be under the budget.
	held := func(topics []topicsync.Topic) int {
		n := 0
		for _, tp := range topics[:len(topics)-1] {
			n += topicsync.TopicBytes(tp)
		}
		return n
	}
	var got []string
	f := topicsync.ListFilter{Limit: 100}
	for pages := 1; ; pages++ {
		if pages > len(want) {
			t.Fatalf("more than %d pages: %q", len(want), got)
		}
		page, err := topicsync.ListPage(t.Context(), s, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Topics) == 0 {
			t.Fatalf("page %d is empty, after %q", pages, got)
		}
		if n := held(page.Topics); n >= budget {
			t.Errorf("page %d holds %d bytes before its last topic, at least the budget of %d", pages, n, budget)
		}
		for _, tp := range page.Topics {
			got = append(got, tp.TopicID)
		}
		if page.NextCursor == "" {
			if pages == 1 {
				t.Errorf("one page of %d topics, no cursor: the budget of %d bytes did not end it", len(page.Topics), budget)
			}
			break
		}
		if f.After, err = topicsync.DecodeCursor(page.NextCursor); err != nil {
			t.Fatalf("DecodeCursor(%q): %v", page.NextCursor, err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the pages list\n%q\nwant each topic once, in order:\n%q", got, want)
	}

	// The page that starts at the topic larger than the budget holds it alone, and goes on.
	before := mustGet(t, s, want[4])
	page, err := topicsync.ListPage(t.Context(), s, topicsync.ListFilter{Limit: 100, After: topicsync.PositionOf(before)})
	if err != nil {
		t.Fatal(err)
	}
	if got := topicIDs(page.Topics); !slices.Equal(got, []string{huge.TopicID}) || page.NextCursor == "" {
		t.Errorf("the page from the topic of %d bytes: %q, cursor %q; want it alone, with a cursor",
			topicsync.TopicBytes(huge), got, page.NextCursor)
	}
	// A page the limit ends before the budget pages on as before.
	page, err = topicsync.ListPage(t.Context(), s, topicsync.ListFilter{Limit: 1})
	if err != nil || len(page.Topics) != 1 || page.NextCursor == "" {
		t.Errorf("a page of 1: %d topics, cursor %q, %v; want 1 and a cursor", len(page.Topics), page.NextCursor, err)
	}
	// List itself is not bounded: it returns what it is asked for.
	if got := mustList(t, s, topicsync.ListFilter{Limit: 100}); len(got) != len(want) {
		t.Errorf("List returned %d topics, want all %d", len(got), len(want))
	}
}

// testGetAnyApp: without an app, an id held by one app is found, by none is
// not found, by several is ambiguous.
// testListAfterAnyTime: a position's time is the place to list after, even
// at year 1, the zero time.Time, which a write takes for "now" but a cursor
// of DecodeCursor can hold: it listed the topics after now, none of them.
func testListAfterAnyTime(t *testing.T, s topicsync.Store) {
	for _, suffix := range []string{"a", "b"} {
		mustCreate(t, s, newTopic("@TGS#_g", suffix, at(1)))
	}
	yearOne := topicsync.EncodeCursor(&topicsync.Position{CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), SdkAppID: testApp, TopicID: "x"})
	fromCursor, err := topicsync.DecodeCursor(yearOne)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		after topicsync.Position
		want  []string
	}{
		{"year 1", topicsync.Position{SdkAppID: testApp, TopicID: "x"}, []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}},
		{"a cursor of year 1", *fromCursor, []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}},
		{"year 1 in another zone", topicsync.Position{CreatedAt: time.Date(1, 1, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)), SdkAppID: testApp, TopicID: "x"},
			[]string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}},
		{"a microsecond after year 1", topicsync.Position{CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), SdkAppID: testApp, TopicID: "x"},
			[]string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}},
		{"the first topic", *topicsync.PositionOf(mustGet(t, s, "@TGS#_g@TOPIC#_a")), []string{"@TGS#_g@TOPIC#_b"}},
		{"the last topic", *topicsync.PositionOf(mustGet(t, s, "@TGS#_g@TOPIC#_b")), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := tt.after
			got := topicIDs(mustList(t, s, topicsync.ListFilter{After: &after}))
			if !slices.Equal(got, tt.want) {
				t.Errorf("after %+v: %q, want %q", tt.after, got, tt.want)
			}
		})
	}
}

func testGetAnyApp(t *testing.T, s topicsync.Store) {
	one := newTopic("@TGS#_g", "one", at(1))
	mustCreate(t, s, one)
	both := newTopic("@TGS#_g", "both", at(1))
	mustCreate(t, s, both)
	mustCreate(t, s, inApp(both, otherApp))
	tests := []struct {
		name    string
		app     *string
		id      string
		wantApp string
		wantErr error
	}{
		{"held by one app", nil, one.TopicID, testApp, nil},
		{"held by two apps", nil, both.TopicID, "", topicsync.ErrAmbiguous},
		{"held by two apps, one named", ptr(otherApp), both.TopicID, otherApp, nil},
		{"held by none", nil, "@TGS#_g@TOPIC#_none", "", topicsync.ErrNotFound},
		{"not held by the app named", ptr(otherApp), one.TopicID, "", topicsync.ErrNotFound},
		// An empty id names no topic: it must not select every app's every topic.
		{"empty id", nil, "", "", topicsync.ErrNotFound},
		{"empty id, app named", ptr(testApp), "", "", topicsync.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := topicsync.GetAnyApp(t.Context(), s, tt.app, tt.id)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.SdkAppID != tt.wantApp || got.TopicID != tt.id {
				t.Fatalf("got %s/%s, %v; want %s/%s", got.SdkAppID, got.TopicID, err, tt.wantApp, tt.id)
			}
		})
	}
}

// TestMigrationKeepsRowsOfThePreviousSchema builds a database at the schema
// before topics were kept per app, stores a topic there, then opens it with
// the store: the topic is kept, under the legacy app "", and the same id can
// now be stored for an app beside it.
func TestMigrationKeepsRowsOfThePreviousSchema(t *testing.T) {
	tests := []struct {
		name string
		// driver, dir, dialect and oldVersion build the previous schema with goose; insert
		// stores a row in it; open opens the store (migrating) on the database dsn names.
		driver, dir string
		dialect     goose.Dialect
		oldVersion  int64
		dsn         func(t *testing.T) string
		insert      string
		open        func(ctx context.Context, dsn string) (topicsync.Store, error)
	}{
		{
			name: "sqlite", driver: "sqlite", dir: "migrations/sqlite", dialect: goose.DialectSQLite3, oldVersion: 3,
			dsn: func(t *testing.T) string { return filepath.Join(t.TempDir(), "topics.db") },
			insert: `INSERT INTO topics (topic_id, group_id, name, custom_data, created_at, updated_at, create_received, name_changed_at)
				VALUES ('@TGS#_old@TOPIC#_kept', '@TGS#_old', 'kept name', '[{"key":"k","value":"v"}]',
				'2024-11-26T10:00:01.123456Z', '2024-11-26T10:00:02.123456Z', 1, '2024-11-26T10:00:02.123456Z')`,
			open: func(ctx context.Context, dsn string) (topicsync.Store, error) {
				return topicsync.OpenSQLite(ctx, dsn, zap.NewNop())
			},
		},
		{
			name: "postgres", driver: "pgx", dir: "migrations/postgres", dialect: goose.DialectPostgres, oldVersion: 2,
			dsn: postgresSchemaDSN,
			insert: `INSERT INTO topics (topic_id, group_id, name, custom_data, created_at, updated_at, create_received, name_changed_at)
				VALUES ('@TGS#_old@TOPIC#_kept', '@TGS#_old', 'kept name', '[{"key":"k","value":"v"}]',
				'2024-11-26T10:00:01.123456Z', '2024-11-26T10:00:02.123456Z', true, '2024-11-26T10:00:02.123456Z')`,
			open: func(ctx context.Context, dsn string) (topicsync.Store, error) {
				return topicsync.OpenPostgres(ctx, dsn, zap.NewNop())
			},
		},
	}
	const id = "@TGS#_old@TOPIC#_kept"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := tt.dsn(t)
			previousSchema(t, tt.driver, tt.dialect, tt.dir, dsn, tt.oldVersion, tt.insert)

			s, err := tt.open(ctx, dsn)
			if err != nil {
				t.Fatalf("open the previous schema's database: %v", err)
			}
			t.Cleanup(func() { closeStore(t, s) })
			want := topicsync.Topic{
				SdkAppID: topicsync.LegacyAppID, TopicID: id, GroupID: "@TGS#_old", Name: "kept name",
				CustomData: fields("k", "v"), CreatedAt: at(1), UpdatedAt: at(2),
			}
			got, err := s.Get(ctx, topicsync.LegacyAppID, id)
			if err != nil {
				t.Fatalf("Get(legacy app, %q): %v", id, err)
			}
			checkTopic(t, got, want)
			if _, err := s.Get(ctx, testApp, id); !errors.Is(err, topicsync.ErrNotFound) {
				t.Errorf("Get(%s, %q) error = %v, want ErrNotFound: the old row belongs to no app", testApp, id, err)
			}
			if got, err := topicsync.GetAnyApp(ctx, s, nil, id); err != nil || got.SdkAppID != "" {
				t.Errorf("GetAnyApp(%q) = app %q, %v; want the legacy row", id, got.SdkAppID, err)
			}

			// The same id for an app now sits beside it, and a destroy of that app's leaves it alone.
			mine := topicsync.Topic{SdkAppID: testApp, TopicID: id, GroupID: "@TGS#_old", Name: "app's", CreatedAt: at(3)}
			mustCreate(t, s, mine)
			mustDestroy(t, s, "@TGS#_old", []string{id}, at(4))
			got, err = s.Get(ctx, topicsync.LegacyAppID, id)
			if err != nil {
				t.Fatal(err)
			}
			checkTopic(t, got, want)
			all := mustList(t, s, topicsync.ListFilter{IncludeDeleted: true})
			if len(all) != 2 || all[0].SdkAppID != "" || all[1].SdkAppID != testApp {
				t.Errorf("List = %+v, want the legacy row then the app's", all)
			}
			if _, err := topicsync.GetAnyApp(ctx, s, nil, id); !errors.Is(err, topicsync.ErrAmbiguous) {
				t.Errorf("GetAnyApp(%q) error = %v, want ErrAmbiguous", id, err)
			}
		})
	}
}

// TestMigrationDatesTheFieldsOfEarlierCreates builds a database at the
// schema before creates dated the fields they set, stores rows there as
// that version did (a create's fields with no date), then opens it with the
// store. The rows load as they were, and behave as rows this version
// stored: the fields a create set are dated its creation less
// RecreateMargin, so a change of an earlier topic of the id, older, leaves
// them alone, a later one (or one dated within the margin before) sets
// them, and the create sent again changes nothing. A row only a destroy
// wrote keeps undated fields, which its create fills in.
func TestMigrationDatesTheFieldsOfEarlierCreates(t *testing.T) {
	tests := []struct {
		name        string
		driver, dir string
		dialect     goose.Dialect
		oldVersion  int64
		dsn         func(t *testing.T) string
		insert      []string
		open        func(ctx context.Context, dsn string) (topicsync.Store, error)
	}{
		{
			name: "sqlite", driver: "sqlite", dir: "migrations/sqlite", dialect: goose.DialectSQLite3, oldVersion: 4,
			dsn: func(t *testing.T) string { return filepath.Join(t.TempDir(), "topics.db") },
			insert: []string{
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, name, introduction, notification, face_url, custom_data,
					created_at, updated_at, create_received, name_changed_at)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_live', '@TGS#_old', 'renamed', 'old intro', 'old notice', 'old face',
					'[{"key":"k","value":"v"}]', '2024-11-26T10:00:20.123456Z', '2024-11-26T10:00:25.123456Z', 1,
					'2024-11-26T10:00:25.123456Z')`,
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, created_at, updated_at, deleted_at, create_received)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_gone', '@TGS#_old', '2024-11-26T10:00:30.123456Z',
					'2024-11-26T10:00:30.123456Z', '2024-11-26T10:00:30.123456Z', 0)`,
				// Created in the year 1's first ten seconds: its date is the first instant the stores hold.
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, name, created_at, updated_at, create_received)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_early', '@TGS#_old', 'early', '0001-01-01T00:00:03.000000Z',
					'0001-01-01T00:00:03.000000Z', 1)`,
			},
			open: func(ctx context.Context, dsn string) (topicsync.Store, error) {
				return topicsync.OpenSQLite(ctx, dsn, zap.NewNop())
			},
		},
		{
			name: "postgres", driver: "pgx", dir: "migrations/postgres", dialect: goose.DialectPostgres, oldVersion: 3,
			dsn: postgresSchemaDSN,
			insert: []string{
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, name, introduction, notification, face_url, custom_data,
					created_at, updated_at, create_received, name_changed_at)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_live', '@TGS#_old', 'renamed', 'old intro', 'old notice', 'old face',
					'[{"key":"k","value":"v"}]', '2024-11-26T10:00:20.123456Z', '2024-11-26T10:00:25.123456Z', true,
					'2024-11-26T10:00:25.123456Z')`,
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, created_at, updated_at, deleted_at, create_received)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_gone', '@TGS#_old', '2024-11-26T10:00:30.123456Z',
					'2024-11-26T10:00:30.123456Z', '2024-11-26T10:00:30.123456Z', false)`,
				`INSERT INTO topics (sdk_app_id, topic_id, group_id, name, created_at, updated_at, create_received)
				VALUES ('1400000001', '@TGS#_old@TOPIC#_early', '@TGS#_old', 'early', '0001-01-01T00:00:03.000000Z',
					'0001-01-01T00:00:03.000000Z', true)`,
			},
			open: func(ctx context.Context, dsn string) (topicsync.Store, error) {
				return topicsync.OpenPostgres(ctx, dsn, zap.NewNop())
			},
		},
	}
	const (
		live  = "@TGS#_old@TOPIC#_live"
		gone  = "@TGS#_old@TOPIC#_gone"
		early = "@TGS#_old@TOPIC#_early"
	)
	m := topicsync.RecreateMargin
	yearOne := time.Date(1, 1, 1, 0, 0, 3, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := tt.dsn(t)
			previousSchema(t, tt.driver, tt.dialect, tt.dir, dsn, tt.oldVersion, tt.insert...)

			s, err := tt.open(ctx, dsn)
			if err != nil {
				t.Fatalf("open the previous schema's database: %v", err)
			}
			t.Cleanup(func() { closeStore(t, s) })
			want := topicsync.Topic{
				SdkAppID: testApp, TopicID: live, GroupID: "@TGS#_old", Name: "renamed", Introduction: "old intro",
				Notification: "old notice", FaceURL: "old face", CustomData: fields("k", "v"), CreatedAt: at(20), UpdatedAt: at(25),
			}
			checkTopic(t, mustGet(t, s, live), want)
			if got := mustGet(t, s, early); got.Name != "early" || !got.CreatedAt.Equal(yearOne) {
				t.Errorf("the year 1's topic = %+v, want it as stored", got)
			}
			// The dates the migration gave, as the database holds them.
			db, err := sql.Open(tt.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// dated is how the check below shows a date: NULL for none.
			dated := func(when *time.Time) string {
				if when == nil {
					return "NULL"
				}
				return when.UTC().Format(time.RFC3339Nano)
			}
			first := ptr(yearOne.Add(-3 * time.Second)) // the first instant the stores hold
			for id, want := range map[string][4]*time.Time{
				live:  {ptr(at(25)), ptr(at(20).Add(-m)), ptr(at(20).Add(-m)), ptr(at(20).Add(-m))}, // the name a change set keeps its date
				early: {first, first, first, first},
				gone:  {nil, nil, nil, nil},
			} {
				var got [4]sql.Null[any]
				err := db.QueryRowContext(ctx, `SELECT name_changed_at, introduction_changed_at, notification_changed_at, face_url_changed_at
					FROM topics WHERE topic_id = $1`, id).Scan(&got[0], &got[1], &got[2], &got[3])
				if err != nil {
					t.Fatal(err)
				}
				for i, g := range got {
					var when *time.Time
					switch v := g.V.(type) {
					case nil:
					case time.Time:
						when = &v
					case string:
						parsed, err := time.Parse("2006-01-02T15:04:05.000000Z", v)
						if err != nil {
							t.Fatalf("%s: field %d dated %q: %v", id, i, v, err)
						}
						when = &parsed
					default:
						t.Fatalf("%s: field %d dated %T %v", id, i, v, v)
					}
					if dated(when) != dated(want[i]) {
						t.Errorf("%s: field %d dated %s, want %s", id, i, dated(when), dated(want[i]))
					}
				}
			}

			change := func(id string, c topicsync.InfoChange) {
				t.Helper()
				c.SdkAppID, c.TopicID, c.GroupID = testApp, id, "@TGS#_old"
				if err := s.ApplyInfoChange(ctx, c); err != nil {
					t.Fatalf("ApplyInfoChange(%q): %v", id, err)
				}
			}
			// A change of an earlier topic of the id, delivered late: older than the create's fields.
			change(live, topicsync.InfoChange{Introduction: ptr("an earlier topic's"), Name: ptr("an earlier topic's"),
				At: at(20).Add(-m - time.Microsecond)})
			// Two callbacks close together can be dated in the other order: a change dated within
			// the margin before the create is the topic's own.
			change(live, topicsync.InfoChange{Notification: ptr("changed at once"), At: at(20).Add(-m + time.Microsecond)})
			change(live, topicsync.InfoChange{FaceURL: ptr("changed since"), At: at(21)})
			// The create sent again changes nothing.
			mustCreate(t, s, topicsync.Topic{SdkAppID: testApp, TopicID: live, GroupID: "@TGS#_old", Name: "resent",
				Introduction: "resent", Notification: "resent", FaceURL: "resent", CreatedAt: at(20)})
			want.Notification, want.FaceURL = "changed at once", "changed since"
			checkTopic(t, mustGet(t, s, live), want)

			// The row only a destroy wrote takes its create's fields, and stays deleted; a
			// change older than that create then leaves them alone.
			mustCreate(t, s, topicsync.Topic{SdkAppID: testApp, TopicID: gone, GroupID: "@TGS#_old", Name: "late create",
				Introduction: "late intro", CreatedAt: at(29)})
			change(gone, topicsync.InfoChange{Name: ptr("an earlier topic's"), At: at(29).Add(-m - time.Microsecond)})
			got := mustGet(t, s, gone)
			if got.Name != "late create" || got.Introduction != "late intro" || got.DeletedAt == nil {
				t.Errorf("the destroyed topic = %+v, want its create's name and introduction, still deleted", got)
			}

			// The down migration leaves the rows as they are, for the previous version to read.
			closeStore(t, s)
			if _, err := topicMigrations(t, tt.dialect, db, tt.dir).DownTo(ctx, tt.oldVersion); err != nil {
				t.Fatalf("migrate down to version %d: %v", tt.oldVersion, err)
			}
			var name string
			if err := db.QueryRowContext(ctx, `SELECT name FROM topics WHERE topic_id = $1`, live).Scan(&name); err != nil || name != "renamed" {
				t.Errorf("after the down migration the topic's name = %q, %v; want it as it was", name, err)
			}
		})
	}
}

func testAdoptUnkeyed(t *testing.T, s topicsync.Store) {
	ctx := t.Context()
	l1 := inApp(newTopic("@TGS#_g", "l1", at(1)), topicsync.LegacyAppID)
	l2 := inApp(newTopic("@TGS#_g", "l2", at(2)), topicsync.LegacyAppID)
	for _, tp := range []topicsync.Topic{l1, l2} {
		mustCreate(t, s, tp)
	}
	if err := s.Destroy(ctx, topicsync.LegacyAppID, l2.GroupID, []string{l2.TopicID}, at(3)); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []string{"", "14000x", "123456789012345678901"} {
		if _, err := topicsync.AdoptUnkeyed(ctx, s, bad); !errors.Is(err, topicsync.ErrInvalid) {
			t.Errorf("AdoptUnkeyed(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if n, err := topicsync.AdoptUnkeyed(ctx, s, testApp); err != nil || n != 2 {
		t.Fatalf("AdoptUnkeyed = %d, %v; want 2 (l1 and the deleted l2)", n, err)
	}
	if got := mustGet(t, s, l1.TopicID); got.Name != l1.Name {
		t.Errorf("l1 under the app = %+v", got)
	}
	if got := mustGet(t, s, l2.TopicID); got.DeletedAt == nil {
		t.Errorf("l2 adopted live, want it deleted as it was")
	}
	if err := s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: testApp, TopicID: l1.TopicID, Name: ptr("renamed"), At: at(4)}); err != nil {
		t.Errorf("the app's change of an adopted topic: %v", err)
	}

	// Once topics have apps, topics without one may be any app's: none is moved.
	l3 := inApp(newTopic("@TGS#_g", "l3", at(5)), topicsync.LegacyAppID)
	mustCreate(t, s, l3)
	if n, err := topicsync.AdoptUnkeyed(ctx, s, otherApp); err != nil || n != 0 {
		t.Errorf("AdoptUnkeyed with topics of an app = %d, %v; want 0", n, err)
	}
	legacy := topicsync.LegacyAppID
	if left := mustList(t, s, topicsync.ListFilter{SdkAppID: &legacy, IncludeDeleted: true}); len(left) != 1 || left[0].TopicID != l3.TopicID {
		t.Errorf("left without an app: %q, want l3", topicIDs(left))
	}
}

// TestOpenWarnsOfANewerSchema: a store whose schema a later version of the
// program migrated (a rollback to this one) opens, as the versions that share
// a schema need, but says so at warn: goose applies nothing and said
// nothing, and the writes of an older version can fail on the newer schema
// (the per-app key refused every write of the version before it) with a
// database error that does not tell the operator why.
func TestOpenWarnsOfANewerSchema(t *testing.T) {
	tests := []struct {
		name string
		dsn  func(t *testing.T) string
		exec func(t *testing.T, dsn, dir, query string)
	}{
		{"sqlite", func(*testing.T) string { return "" }, func(t *testing.T, _, dir, query string) {
			db, err := sql.Open("sqlite", topicsync.SQLitePath(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), query); err != nil {
				t.Fatal(err)
			}
		}},
		{"postgres", postgresSchemaDSN, func(t *testing.T, dsn, _, query string) {
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(t.Context(), query); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, dir := tt.dsn(t), t.TempDir()
			open := func(log *zap.Logger) {
				t.Helper()
				s, err := topicsync.OpenStore(t.Context(), dsn, dir, log)
				if err != nil {
					t.Fatalf("OpenStore: %v", err)
				}
				closeStore(t, s)
			}
			open(zaptest.NewLogger(t))
			tt.exec(t, dsn, dir, `INSERT INTO topic_goose_db_version (version_id, is_applied) VALUES (999, true)`)
			core, logs := observer.New(zapcore.WarnLevel)
			open(zap.New(core))
			warned := logs.FilterMessageSnippet("newer").All()
			if len(warned) != 1 || warned[0].ContextMap()["schema_version"] != int64(999) {
				t.Errorf("logged %v at warn, want one line saying the schema (version 999) is newer", logs.All())
			}
		})
	}
}

// TestOpenWithoutMigrating: a tool that only reads opens a store whose
// schema is this program's and changes nothing; a store without the schema
// is ErrSchema, and no table is created for it.
func TestOpenWithoutMigrating(t *testing.T) {
	type openCase struct {
		name   string
		open   func(t *testing.T, opts ...topicsync.OpenOption) (topicsync.Store, error)
		tables func(t *testing.T) int // tables the store's database holds now
	}
	path := filepath.Join(t.TempDir(), "topics.db")
	tests := []openCase{{"sqlite",
		func(t *testing.T, opts ...topicsync.OpenOption) (topicsync.Store, error) {
			return topicsync.OpenSQLite(t.Context(), path, zaptest.NewLogger(t), opts...)
		},
		func(t *testing.T) int {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}}}
	if os.Getenv(postgresDSNEnv) != "" {
		dsn := postgresSchemaDSN(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		schema := u.Query().Get("search_path")
		tests = append(tests, openCase{"postgres",
			func(t *testing.T, opts ...topicsync.OpenOption) (topicsync.Store, error) {
				return topicsync.OpenPostgres(t.Context(), dsn, zaptest.NewLogger(t), opts...)
			},
			func(t *testing.T) int {
				conn, err := pgx.Connect(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(t.Context())
				var n int
				if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}})
	} else {
		tests = append(tests, openCase{name: "postgres"}) // skipped, naming the variable
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.open == nil {
				t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store tests")
			}
			if _, err := tt.open(t, topicsync.WithoutMigrating()); !errors.Is(err, topicsync.ErrSchema) {
				t.Fatalf("opening an empty database without migrating: %v, want ErrSchema", err)
			}
			if n := tt.tables(t); n != 0 {
				t.Fatalf("opening it without migrating left %d tables", n)
			}
			s, err := tt.open(t) // migrates
			if err != nil {
				t.Fatal(err)
			}
			mustCreate(t, s, newTopic("@TGS#_g", "kept", at(1)))
			closeStore(t, s)
			s, err = tt.open(t, topicsync.WithoutMigrating())
			if err != nil {
				t.Fatalf("opening a migrated store without migrating: %v", err)
			}
			defer closeStore(t, s)
			if got := mustList(t, s, topicsync.ListFilter{}); len(got) != 1 {
				t.Errorf("read %d topics, want the one stored", len(got))
			}
		})
	}
}

// TestOpenWithoutMigratingLeavesNoFile: a store opened WithoutMigrating
// where none is (a mistyped data directory or path) is ErrSchema and leaves
// nothing behind; OpenStore created the data directory and an empty
// topics.db there, which the next read found as a store.
func TestOpenWithoutMigratingLeavesNoFile(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "mistyped")
	path := filepath.Join(t.TempDir(), "topics.db")
	for _, tt := range []struct {
		name  string
		open  func() (topicsync.Store, error)
		wants string // the path that must not exist afterwards
	}{
		{"OpenStore", func() (topicsync.Store, error) {
			return topicsync.OpenStore(t.Context(), "", dataDir, zaptest.NewLogger(t), topicsync.WithoutMigrating())
		}, dataDir},
		{"OpenSQLite", func() (topicsync.Store, error) {
			return topicsync.OpenSQLite(t.Context(), path, zaptest.NewLogger(t), topicsync.WithoutMigrating())
		}, path},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.open()
			if err == nil {
				closeStore(t, s)
			}
			if !errors.Is(err, topicsync.ErrSchema) {
				t.Errorf("opening a missing store without migrating: %v, want ErrSchema", err)
			}
			if _, err := os.Stat(tt.wants); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("opening a missing store without migrating left %s behind (stat: %v)", tt.wants, err)
			}
		})
	}
}

// TestStoresAgreeOnOneSequence applies one pseudo-random sequence of creates, destroys and info
// changes (repeated, out of order, of equal times, across apps, ids and names that sort
// differently by bytes and by locale) to a SQLite and a PostgreSQL store: after every write both
// give the same outcome, and every few writes both list the same rows. The sequence is fixed by
// its seed, so a failure repeats.
func TestStoresAgreeOnOneSequence(t *testing.T) {
	lite, pg := openSQLite(t), openPostgres(t)
	stores := []topicsync.Store{lite, pg}
	r := mrand.New(mrand.NewPCG(20241126, 1))
	pick := func(from []string) string { return from[r.IntN(len(from))] }
	apps := []string{testApp, otherApp, topicsync.LegacyAppID}
	ids := []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_B", "@TGS#_g@TOPIC#_é", "@TGS#_g@TOPIC#_z", "@TGS#_h@TOPIC#_a b"}
	groups := []string{"@TGS#_g", "@TGS#_h", "@TGS#_é"}
	texts := []string{"", "a", "B", "b", "é", "e\u0301", "Ω", "话题", "zz", "A"}
	outcome := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, topicsync.ErrNotFound):
			return "not found"
		default:
			return "error: " + err.Error()
		}
	}
	filters := []topicsync.ListFilter{
		{IncludeDeleted: true},
		{},
		{GroupID: "@TGS#_é", IncludeDeleted: true},
		{SdkAppID: ptr(otherApp), IncludeDeleted: true, Limit: 3},
		{After: &topicsync.Position{CreatedAt: at(2), SdkAppID: testApp, TopicID: "@TGS#_g@TOPIC#_B"}, IncludeDeleted: true},
	}
	// Times fall in three spells of six seconds, each RecreateMargin after the one before, so
	// that some creates come more than the margin after a deletion (a re-create) or a live
	// topic's creation (a new topic of the id whose predecessor's destroy has not come), some
	// exactly at it, and some destroys more than the margin before a creation (a late destroy).
	spell := int(topicsync.RecreateMargin / time.Second)
	var recreates, replacements, lateDestroys int
	// stateNow reports whether the SQLite store has the topic, whether it is deleted, and when it
	// was created.
	stateNow := func(app, id string) (found, deleted bool, created time.Time) {
		tp, err := lite.Get(t.Context(), app, id)
		if errors.Is(err, topicsync.ErrNotFound) {
			return false, false, time.Time{}
		}
		if err != nil {
			t.Fatal(err)
		}
		return true, tp.DeletedAt != nil, tp.CreatedAt
	}
	for step := range 1500 {
		app, id, when := pick(apps), pick(ids), at(r.IntN(3)*(spell+5)+r.IntN(6))
		var write func(s topicsync.Store) error
		kind := r.IntN(3)
		switch kind {
		case 0:
			tp := topicsync.Topic{SdkAppID: app, TopicID: id, GroupID: pick(groups), Name: pick(texts), OwnerAccount: pick(texts),
				CustomData: fields(pick(texts), pick(texts)), Introduction: pick(texts), CreatedAt: when}
			write = func(s topicsync.Store) error { return s.Create(t.Context(), tp) }
		case 1:
			group, list := pick(groups), []string{id, pick(ids), id}
			write = func(s topicsync.Store) error { return s.Destroy(t.Context(), app, group, list, when) }
		default:
			c := topicsync.InfoChange{SdkAppID: app, TopicID: id, At: when}
			for _, f := range []**string{&c.Name, &c.Introduction, &c.Notification, &c.FaceURL} {
				if r.IntN(2) == 0 {
					*f = ptr(pick(texts))
				}
			}
			write = func(s topicsync.Store) error { return s.ApplyInfoChange(t.Context(), c) }
		}
		foundBefore, deletedBefore, createdBefore := stateNow(app, id)
		liteOut, pgOut := outcome(write(lite)), outcome(write(pg))
		if liteOut != pgOut {
			t.Fatalf("step %d: sqlite %s, postgres %s", step, liteOut, pgOut)
		}
		switch _, deletedAfter, createdAfter := stateNow(app, id); {
		case kind == 0 && deletedBefore && !deletedAfter:
			recreates++
		case kind == 0 && foundBefore && !deletedBefore && !createdAfter.Equal(createdBefore):
			replacements++
		case kind == 1 && foundBefore && !deletedBefore && !deletedAfter:
			lateDestroys++
		}
		if step%100 != 99 {
			continue
		}
		for _, f := range filters {
			var got [2]string
			for i, s := range stores {
				b, err := json.Marshal(mustList(t, s, f))
				if err != nil {
					t.Fatal(err)
				}
				got[i] = string(b)
			}
			if got[0] != got[1] {
				t.Fatalf("step %d: List(%+v) differs\nsqlite:   %s\npostgres: %s", step, f, got[0], got[1])
			}
		}
	}
	// The sequence is fixed: these only check that it still holds each kind of write.
	if recreates == 0 || replacements == 0 || lateDestroys == 0 {
		t.Errorf("the sequence made %d re-creates, %d creates replacing a live topic and %d late destroys, want some of each",
			recreates, replacements, lateDestroys)
	}
}

// testShuffledHistories: the topic callbacks of one id reach the store in
// any order, some twice, as durable delivery may hand them over. A history
// is one to three topics created under the id one after another, each
// renamed and otherwise changed while it lives and destroyed (all but
// perhaps the last), the next created more than RecreateMargin after the
// destroy. Applied in any order at all (an info change that finds no row is
// tried again at the end, as its handler's retry would be), even one that
// starts the row with a later topic's create, or in which a topic's create
// overtakes its predecessor's destroy, it must leave the row as the same
// history applied in order does: deleted as the last topic is, at its
// destroy's time, or live, with the last topic's fields. The seed is fixed,
// so that a run repeats the last; -topicsync.seed picks another (0: one
// from the clock), and a failure names it.
func testShuffledHistories(t *testing.T, s topicsync.Store) {
	seed := *historySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-topicsync.seed)", seed)
	rnd := mrand.New(mrand.NewPCG(seed, 0x5eed))
	ctx := context.Background()
	const histories = 150
	for h := range histories {
		writes := randomHistory(rnd)
		inOrder, shuffled := fmt.Sprintf("@TGS#_g@TOPIC#_ordered%03d", h), fmt.Sprintf("@TGS#_g@TOPIC#_shuffled%03d", h)
		if _, err := applyAsDelivered(ctx, s, inOrder, writes); err != nil {
			t.Fatalf("history %d in order: %v", h, err)
		}
		names, err := applyAsDelivered(ctx, s, shuffled, shuffledWrites(rnd, writes))
		if err != nil {
			t.Fatalf("history %d shuffled: %v", h, err)
		}
		want, err := s.Get(ctx, testApp, inOrder)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, testApp, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if diff := endDiff(got, want); diff != "" {
			t.Fatalf("history %d applied as %q: %s", h, names, diff)
		}
	}
}

// applyAsDelivered applies writes to the topic id in their order, as the
// handlers would: an info change that finds no row is tried again after the
// others (the handler's retry). It returns the writes in the order they
// took effect.
func applyAsDelivered(ctx context.Context, s topicsync.Store, id string, writes []topicWrite) ([]string, error) {
	order := slices.Clone(writes)
	var names []string
	for tries := 0; len(order) > 0; tries++ {
		if tries > 10*len(writes) {
			return names, fmt.Errorf("after %q, writes %d keep finding no row", names, len(order))
		}
		w := order[0]
		order = order[1:]
		err := w.run(ctx, s, id)
		if errors.Is(err, topicsync.ErrNotFound) {
			order = append(order, w) // the handler's retry
			continue
		}
		if err != nil {
			return names, fmt.Errorf("%s: %w", w.name, err)
		}
		names = append(names, w.name)
	}
	return names, nil
}

// endDiff says how got, the row a history left applied in some order,
// differs from want, the row it leaves applied in order, or "" when it does
// not (topic ids aside). A deleted row is compared whole too: its fields and
// creation time are its last topic's, however late an earlier topic's create
// comes (a late create completed the row a later topic's destroy left with
// its own fields, which the later topic's create then left alone).
func endDiff(got, want topicsync.Topic) string {
	switch {
	case (got.DeletedAt == nil) != (want.DeletedAt == nil):
		return fmt.Sprintf("the row is deleted %v, want %v", got.DeletedAt != nil, want.DeletedAt != nil)
	case want.DeletedAt != nil && !got.DeletedAt.Equal(*want.DeletedAt):
		return fmt.Sprintf("the row is deleted at %v, want %v", *got.DeletedAt, *want.DeletedAt)
	}
	got.TopicID, want.TopicID = "", ""
	gotJSON, err := json.Marshal(got)
	if err != nil {
		return err.Error()
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return err.Error()
	}
	if string(gotJSON) != string(wantJSON) {
		return fmt.Sprintf("the row is\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	return ""
}

// testHistoriesInEveryOrder: each short history of one topic id, applied in
// every order its callbacks can arrive in (an info change that finds no row
// tried again after the others, as its handler's retry is), ends as the
// history applied in order does. A create dates the fields it sets
// RecreateMargin before its own time, so that a change of the topic, made
// after its create, wins over it however late the create arrives, or is
// sent again; and a change of an earlier topic of the id, older than that,
// arriving after a later topic's create, leaves that create's fields alone.
func testHistoriesInEveryOrder(t *testing.T, s topicsync.Store) {
	const sec = time.Second
	m := topicsync.RecreateMargin
	c0 := at(0)
	d0 := c0.Add(3 * sec)
	c1 := d0.Add(m + 2*sec) // a new topic of the id
	d1 := c1.Add(3 * sec)
	c2 := d1.Add(m + 2*sec) // a third, whose predecessor's destroy was lost
	first := newTopic("@TGS#_g", "first", c0)
	second := newTopic("@TGS#_g", "second", c1)
	second.OwnerAccount, second.CustomData = "u_owner77", fields("Color", "red", "Size", "L")
	third := newTopic("@TGS#_g", "third", c2)
	rename := func(name string, when time.Time) topicWrite {
		return changeOf(topicsync.InfoChange{Name: &name, At: when})
	}
	introduce := func(text string, when time.Time) topicWrite {
		return changeOf(topicsync.InfoChange{Introduction: &text, At: when})
	}
	edit := func(tp topicsync.Topic, change func(*topicsync.Topic)) topicsync.Topic {
		change(&tp)
		return tp
	}
	tests := []struct {
		name   string
		writes []topicWrite // in the order they happen
		want   topicsync.Topic
	}{
		{
			name:   "create, rename, the create sent again",
			writes: []topicWrite{createOf(first), rename("renamed", c0.Add(sec)), createOf(first)},
			want:   edit(first, func(tp *topicsync.Topic) { tp.Name, tp.UpdatedAt = "renamed", c0.Add(sec) }),
		},
		{
			// Two callbacks sent close together can be dated in the other order.
			name:   "a rename dated just before its topic's create",
			writes: []topicWrite{rename("renamed at once", c0.Add(-sec)), createOf(first), introduce("introduced", c0.Add(sec))},
			want: edit(first, func(tp *topicsync.Topic) {
				tp.Name, tp.Introduction, tp.UpdatedAt = "renamed at once", "introduced", c0.Add(sec)
			}),
		},
		{
			name:   "create, change, destroy, re-create",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), destroyAt(testApp, d0), createOf(second)},
			want:   second,
		},
		{
			name: "create, change, destroy, re-create, rename the new topic",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), destroyAt(testApp, d0), createOf(second),
				rename("the second renamed", c1.Add(sec))},
			want: edit(second, func(tp *topicsync.Topic) { tp.Name, tp.UpdatedAt = "the second renamed", c1.Add(sec) }),
		},
		{
			name: "create, change, destroy, re-create, the first create sent again",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), destroyAt(testApp, d0), createOf(second),
				createOf(first)},
			want: second,
		},
		{
			name: "create, change, destroy, re-create, destroy again",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), destroyAt(testApp, d0), createOf(second),
				destroyAt(testApp, d1)},
			want: edit(second, func(tp *topicsync.Topic) { tp.DeletedAt, tp.UpdatedAt = ptr(d1), d1 }),
		},
		{
			name: "create, destroy, a rename of the new topic dated just before its re-create",
			writes: []topicWrite{createOf(first), destroyAt(testApp, d0), rename("renamed at once", c1.Add(-sec)), createOf(second),
				createOf(second)},
			want: edit(second, func(tp *topicsync.Topic) { tp.Name = "renamed at once" }),
		},
		{
			name: "create, change, re-create with the destroy lost, rename the new topic",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), createOf(second),
				rename("the second renamed", c1.Add(sec))},
			want: edit(second, func(tp *topicsync.Topic) { tp.Name, tp.UpdatedAt = "the second renamed", c1.Add(sec) }),
		},
		{
			name: "three topics of the id",
			writes: []topicWrite{createOf(first), introduce("the first topic's", c0.Add(sec)), destroyAt(testApp, d0), createOf(second),
				introduce("the second topic's", c1.Add(sec)), createOf(third)},
			want: third,
		},
	}
	ctx := t.Context()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			want.TopicID = fmt.Sprintf("@TGS#_g@TOPIC#_every%d_ordered", i)
			if _, err := applyAsDelivered(ctx, s, want.TopicID, tt.writes); err != nil {
				t.Fatalf("in order: %v", err)
			}
			checkTopic(t, mustGet(t, s, want.TopicID), want)
			orders := permutations(len(tt.writes))
			// Orders apart are independent topics: a few at once, so that SQLite commits them together.
			var (
				next     atomic.Int64
				wg       sync.WaitGroup
				mu       sync.Mutex
				failures []string
			)
			for range 8 {
				wg.Go(func() {
					for p := int(next.Add(1)) - 1; p < len(orders); p = int(next.Add(1)) - 1 {
						writes := make([]topicWrite, len(orders[p]))
						for j, w := range orders[p] {
							writes[j] = tt.writes[w]
						}
						id := fmt.Sprintf("@TGS#_g@TOPIC#_every%d_%04d", i, p)
						names, err := applyAsDelivered(ctx, s, id, writes)
						var diff string
						if err == nil {
							var got topicsync.Topic
							if got, err = s.Get(ctx, testApp, id); err == nil {
								diff = endDiff(got, want)
							}
						}
						if err != nil {
							diff = err.Error()
						}
						if diff != "" {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("order %v, applied as %q: %s", orders[p], names, diff))
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			slices.Sort(failures)
			for _, f := range failures[:min(len(failures), 5)] {
				t.Error(f)
			}
			if len(failures) > 0 {
				t.Errorf("%d of the %d orders end otherwise than in order", len(failures), len(orders))
			}
		})
	}
}

// permutations is every order of the indexes 0 to n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			out = append(out, slices.Insert(slices.Clone(p), i, n-1))
		}
	}
	return out
}

// historySeed is testShuffledHistories' seed.
var historySeed = flag.Uint64("topicsync.seed", 20261202, "seed of the random topic histories (0: from the clock)")

// randomHistory is the callbacks of one to three topics created one after
// another under one id (the writes take the id), in the order they happen.
func randomHistory(rnd *mrand.Rand) []topicWrite {
	const sec = time.Second
	var writes []topicWrite
	when := at(0)
	lives := 1 + rnd.IntN(3)
	for life := range lives {
		tp := newTopic("@TGS#_g", fmt.Sprintf("life%d", life), when)
		writes = append(writes, createOf(tp))
		for c := range rnd.IntN(4) {
			when = when.Add(sec)
			change := topicsync.InfoChange{At: when}
			text := fmt.Sprintf("life %d change %d", life, c)
			switch rnd.IntN(4) {
			case 0:
				change.Name = &text
			case 1:
				change.Introduction = &text
			case 2:
				change.Notification = &text
			default:
				change.Name, change.FaceURL = &text, ptr("https://img.example.org/"+strconv.Itoa(c)+".png")
			}
			writes = append(writes, changeOf(change))
		}
		if life < lives-1 || rnd.IntN(2) == 0 {
			when = when.Add(sec)
			writes = append(writes, destroyAt(testApp, when))
		}
		when = when.Add(topicsync.RecreateMargin + time.Duration(1+rnd.IntN(5))*sec)
	}
	return writes
}

// shuffledWrites is writes in a random order, a write or two of them
// twice.
func shuffledWrites(rnd *mrand.Rand, writes []topicWrite) []topicWrite {
	order := make([]int, len(writes))
	for i := range order {
		order[i] = i
	}
	for range rnd.IntN(3) { // a write or two delivered twice
		order = append(order, rnd.IntN(len(writes)))
	}
	rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	out := make([]topicWrite, len(order))
	for i, w := range order {
		out[i] = writes[w]
	}
	return out
}

// topicMigrations is the store's goose provider for the migrations in dir
// (a folder of this package) on db.
func topicMigrations(t *testing.T, dialect goose.Dialect, db *sql.DB, dir string) *goose.Provider {
	t.Helper()
	provider, err := goose.NewProvider(dialect, db, os.DirFS(dir),
		goose.WithTableName("topic_goose_db_version"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return provider
}

// previousSchema builds the database dsn names at the schema version of
// the migrations in dir, and runs inserts there, as an earlier version of
// the store would have left it.
func previousSchema(t *testing.T, driver string, dialect goose.Dialect, dir, dsn string, version int64, inserts ...string) {
	t.Helper()
	ctx := t.Context()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := topicMigrations(t, dialect, db, dir).UpTo(ctx, version); err != nil {
		t.Fatalf("migrate to the previous schema (version %d): %v", version, err)
	}
	for _, insert := range inserts {
		if _, err := db.ExecContext(ctx, insert); err != nil {
			t.Fatalf("insert a row of the previous schema: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestErrorsBoundTheIDsTheyQuote: an error names the topic and the app as
// cut to what a store keeps, never a whole id as long as a callback's body
// (the handlers log these errors). Get quoted its topic id whole, and every
// call its app.
func TestErrorsBoundTheIDsTheyQuote(t *testing.T) {
	s := openSQLite(t)
	long := "@TGS#_g@TOPIC#_" + strings.Repeat("t", 100_000)
	longApp := strings.Repeat("9", 100_000)
	valid := newTopic("@TGS#_g", "valid", at(1))
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"get of a long topic id", func(ctx context.Context) error {
			_, err := s.Get(ctx, testApp, long)
			return err
		}},
		{"get under a long app", func(ctx context.Context) error {
			_, err := s.Get(ctx, longApp, valid.TopicID)
			return err
		}},
		{"create under a long app", func(ctx context.Context) error {
			return s.Create(ctx, inApp(valid, longApp))
		}},
		{"destroy under a long app", func(ctx context.Context) error {
			return s.Destroy(ctx, longApp, valid.GroupID, []string{valid.TopicID}, at(2))
		}},
		{"info change under a long app", func(ctx context.Context) error {
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: longApp, TopicID: valid.TopicID, Name: ptr("x"), At: at(2)})
		}},
		{"adopt for a long app", func(ctx context.Context) error {
			_, err := topicsync.AdoptUnkeyed(ctx, s, longApp)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			if !errors.Is(err, topicsync.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Errorf("the error is %d bytes long, want at most 1024: %.200s…", n, err)
			}
		})
	}
}

// TestInvalidInputNamesItsField: a write the store refuses for one field
// (a NUL, invalid UTF-8, an id over MaxIDBytes) says which field, by its
// name in the callback, so the log line of the refusal leads to it.
func TestInvalidInputNamesItsField(t *testing.T) {
	const groupID = "@TGS#_g"
	const topicID = groupID + "@TOPIC#_a"
	long := strings.Repeat("x", topicsync.MaxIDBytes+1)
	// create and change write a valid topic, or info change, after edit
	// spoils one of its fields.
	create := func(edit func(*topicsync.Topic)) func(topicsync.Store) error {
		return func(s topicsync.Store) error {
			tp := topicsync.Topic{SdkAppID: testApp, TopicID: topicID, GroupID: groupID, Name: "n", CreatedAt: at(1),
				CustomData: []topicsync.CustomField{{Key: "k", Value: "v"}, {Key: "k2", Value: "v2"}}}
			edit(&tp)
			return s.Create(t.Context(), tp)
		}
	}
	change := func(edit func(*topicsync.InfoChange)) func(topicsync.Store) error {
		return func(s topicsync.Store) error {
			c := topicsync.InfoChange{SdkAppID: testApp, TopicID: topicID, GroupID: groupID, At: at(2)}
			edit(&c)
			return s.ApplyInfoChange(t.Context(), c)
		}
	}
	tests := []struct {
		name  string
		write func(topicsync.Store) error
		want  string // in the error
	}{
		{"create, TopicId too long", create(func(tp *topicsync.Topic) { tp.TopicID = long }), "TopicId of 257 bytes"},
		{"create, GroupId with a NUL", create(func(tp *topicsync.Topic) { tp.GroupID = "g\x00" }), "GroupId contains a NUL"},
		{"create, Name with a NUL", create(func(tp *topicsync.Topic) { tp.Name = "a\x00b" }), "Name contains a NUL"},
		{"create, Owner_Account invalid UTF-8", create(func(tp *topicsync.Topic) { tp.OwnerAccount = "\xff" }), "Owner_Account is not valid UTF-8"},
		{"create, Operator_Account with a NUL", create(func(tp *topicsync.Topic) { tp.OperatorAccount = "\x00" }), "Operator_Account contains a NUL"},
		{"create, Type with a NUL", create(func(tp *topicsync.Topic) { tp.Type = "\x00" }), "Type contains a NUL"},
		{"create, Introduction with a NUL", create(func(tp *topicsync.Topic) { tp.Introduction = "\x00" }), "Introduction contains a NUL"},
		{"create, Notification with a NUL", create(func(tp *topicsync.Topic) { tp.Notification = "\x00" }), "Notification contains a NUL"},
		{"create, FaceUrl with a NUL", create(func(tp *topicsync.Topic) { tp.FaceURL = "\x00" }), "FaceUrl contains a NUL"},
		{"create, a custom data key with a NUL", create(func(tp *topicsync.Topic) { tp.CustomData[1].Key = "\x00" }), "UserDefinedDataList[1].Key contains a NUL"},
		{"create, a custom data value of invalid UTF-8", create(func(tp *topicsync.Topic) { tp.CustomData[0].Value = "\xff" }), "UserDefinedDataList[0].Value is not valid UTF-8"},
		{"destroy, GroupId with a NUL", func(s topicsync.Store) error {
			return s.Destroy(t.Context(), testApp, "g\x00", []string{topicID}, at(3))
		}, "GroupId contains a NUL"},
		{"destroy, a listed id too long", func(s topicsync.Store) error {
			return s.Destroy(t.Context(), testApp, groupID, []string{topicID, long}, at(3))
		}, "TopicIdList[1] of 257 bytes"},
		{"info change, TopicId invalid UTF-8", change(func(c *topicsync.InfoChange) { c.TopicID = "\xff" }), "TopicId is not valid UTF-8"},
		{"info change, GroupId too long", change(func(c *topicsync.InfoChange) { c.GroupID = long }), "GroupId of 257 bytes"},
		{"info change, Name with a NUL", change(func(c *topicsync.InfoChange) { c.Name = ptr("\x00") }), "Name contains a NUL"},
		{"info change, Introduction with a NUL", change(func(c *topicsync.InfoChange) { c.Introduction = ptr("\x00") }), "Introduction contains a NUL"},
		{"info change, Notification invalid UTF-8", change(func(c *topicsync.InfoChange) { c.Notification = ptr("\xff") }), "Notification is not valid UTF-8"},
		{"info change, FaceUrl with a NUL", change(func(c *topicsync.InfoChange) { c.FaceURL = ptr("\x00") }), "FaceUrl contains a NUL"},
	}
	s := openSQLite(t) // the checks come before either store's SQL
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write(s)
			if !errors.Is(err, topicsync.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to name the field: %q", err, tt.want)
			}
		})
	}
}
