package topicsync

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pressly/goose/v3"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/redact"
	"go.uber.org/zap"
)

// CustomField is one UserDefinedDataList entry.
type CustomField struct {
	Key   string `json:"key"`   // the custom field's name (the entry's Key)
	Value string `json:"value"` // its value (the entry's Value)
}

// Topic is one synced community topic.
type Topic struct {
	// SdkAppID is the IM app (SDKAppID) whose callback stored the topic: topics
	// of different apps are kept apart, and one app's callbacks never touch
	// another's topics. "" marks a topic stored before the store kept the app
	// (see LegacyAppID).
	SdkAppID string `json:"sdk_app_id"`
	// TopicID is IM's TopicId, "<GroupId>@TOPIC#_<suffix>" by convention.
	TopicID string `json:"topic_id"`
	// GroupID is the community (GroupId) the topic belongs to.
	GroupID string `json:"group_id"`
	// Name is the topic's name: the create's, or a later info change's.
	Name string `json:"name"`
	// OwnerAccount is the group's owner (Owner_Account) as the create gave
	// it. This and the other fields only a create sets (OperatorAccount,
	// Type, CustomData) are empty on a row only a destroy wrote.
	OwnerAccount string `json:"owner_account"`
	// OperatorAccount is the account that created the topic
	// (Operator_Account).
	OperatorAccount string `json:"operator_account"`
	// Type is the group type the create carried, "Community".
	Type       string        `json:"type"`
	CustomData []CustomField `json:"custom_data"` // never nil when returned: empty slice
	// Introduction is the topic's introduction; empty until an info
	// change sets it.
	Introduction string `json:"introduction"`
	// Notification is the topic's notification; empty until an info
	// change sets it.
	Notification string `json:"notification"`
	// FaceURL is the topic's avatar URL (FaceUrl); empty until an info
	// change sets it.
	FaceURL string `json:"face_url"`
	// CreatedAt is when the topic was created: the create's EventTime, or
	// its arrival without one; a row only a destroy wrote has its deletion
	// time until the create arrives.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is the time of the latest create, info change or destroy
	// applied to the row.
	UpdatedAt time.Time  `json:"updated_at"`
	DeletedAt *time.Time `json:"deleted_at"` // nil when live
}

// InfoChange is a partial update of the topic SdkAppID, TopicID; nil fields
// are unchanged. GroupID is informational: topic ids are unique across the
// groups of one app.
type InfoChange struct {
	SdkAppID, TopicID, GroupID                string    // the topic's app and id, and its group
	Name, Introduction, Notification, FaceURL *string   // the new values; nil leaves a field as it is
	At                                        time.Time // when the change happened (EventTime, else the arrival); zero is now
}

// ListFilter selects topics for List.
type ListFilter struct {
	// SdkAppID, when set, lists only the topics of this app (a pointer to
	// LegacyAppID lists the topics stored before the app was kept); nil lists
	// every app's.
	SdkAppID *string
	// TopicID, when set, lists only the rows of this topic id (one per app
	// that has it).
	TopicID string
	// GroupID, when set, lists only the topics of this group.
	GroupID string
	// IncludeDeleted lists the deleted topics too; without it, live ones only.
	IncludeDeleted bool
	// After, when set, starts the list after this position (keyset
	// pagination: the last topic of the previous page).
	After *Position
	// Limit bounds the topics returned; 0 returns all.
	Limit int

	// page, set by ListPage only, bounds the bytes of the topics a List of
	// this package's stores holds, and takes back whether it stopped for
	// them (pageCut).
	page *pageCut
}

// pageBudget is the byte budget of f's topics: 0 (none) unless ListPage
// set one for a page of a limited size.
func (f ListFilter) pageBudget() int {
	if f.page == nil || f.Limit <= 0 {
		return 0
	}
	return max(f.page.bytes, 1)
}

// Position is a place in List's order (created_at, then sdk_app_id, then topic_id).
type Position struct {
	CreatedAt time.Time // the topic's CreatedAt
	SdkAppID  string    // its SdkAppID
	TopicID   string    // its TopicID
}

// PositionOf is the position of t, to ask for the page after it.
func PositionOf(t Topic) *Position {
	return &Position{CreatedAt: t.CreatedAt, SdkAppID: t.SdkAppID, TopicID: t.TopicID}
}

// LegacyAppID is the app of the topics stored before the store kept the app
// (the migration to version 4 on SQLite, 3 on PostgreSQL, gave them ""). They
// stay readable under this app: Get(ctx, LegacyAppID, id), or List with
// SdkAppID pointing to it. Callbacks always carry their app, so they never
// change these rows; a service configured with a single app hands them to it at its first
// start after the upgrade (AdoptUnkeyed), and an operator who served several can do it with one UPDATE (README,
// "Upgrading to per-app topics").
const LegacyAppID = ""

// MaxAppIDBytes bounds an app id: SDKAppIDs are decimal numbers (ten digits
// today); twenty digits hold any uint64.
const MaxAppIDBytes = 20

// CheckAppID reports whether id can be an app of the store: LegacyAppID, or
// 1 to MaxAppIDBytes ASCII digits. The error wraps ErrInvalid.
func CheckAppID(id string) error {
	if len(id) > MaxAppIDBytes {
		return fmt.Errorf("%w: an app id of %d bytes (at most %d digits)", ErrInvalid, len(id), MaxAppIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return fmt.Errorf("%w: app id %q is not a decimal number", ErrInvalid, id)
		}
	}
	return nil
}

// RecreateMargin is how much later than a topic's deletion a create must be to count as a new
// topic of the same id (an app can choose its topic ids, so it can create one again after
// destroying it) rather than a late or reordered create of the deleted topic. Two callbacks sent
// close together can reach the service, and be dated, in the other order; the margin covers that.
// Likewise, a destroy more than the margin earlier than a live topic's creation is a late destroy
// of an earlier topic of that id, and leaves the live one alone; and a destroy more than the margin
// later than a deleted topic's deletion destroys a later topic of the id, whose create has not
// arrived yet, and moves the deletion to its time. A create more than the margin later than a live
// topic's creation is a new topic of the id whose predecessor's destroy has not arrived (or was
// lost), and replaces the live one.
const RecreateMargin = 10 * time.Second

// ErrNotFound reports that no row exists for the topic id.
var ErrNotFound = errors.New("topic: not found")

// ErrInvalid reports input the store refuses to write, such as an empty topic or group id.
var ErrInvalid = errors.New("topic: invalid input")

// ErrClosed reports a call made after Close.
var ErrClosed = errors.New("topic: store closed")

// Store persists topics synced from the topic callbacks. A topic is keyed by
// its app and its topic id: every write names the app, and touches that app's
// topics only.
//
// Times are stored in UTC with microsecond precision (PostgreSQL's), so a time read back equals
// the time written truncated to the microsecond. A zero time in a write means "now".
// Writes are idempotent: a call whose context ends before it returns may still have been
// committed, and repeating it is safe.
type Store interface {
	// Create stores a topic from an AfterCreateTopic event received at t.CreatedAt. Idempotent:
	// the same create twice leaves one row with the same content (a repeated create changes
	// nothing). The fields an info change also sets (name, introduction, notification, face URL)
	// are dated as a change of t.CreatedAt less RecreateMargin would be: an info change later
	// than that wins over them, whether it arrives before or after the create (two callbacks
	// close together can be dated in the other order), and an older one (a late change of an
	// earlier topic of the id) leaves them alone, in either order; so the callbacks of a topic id,
	// applied in any order, leave a topic as applied in order. If the topic already exists
	// only as a tombstone written by Destroy (destroy arrived before create), Create fills in the
	// fields (those fields as dated) but the row STAYS deleted.
	// A create later than a deleted topic's deleted_at by more than RecreateMargin is a new topic
	// of the same id: the row becomes live again with the create's fields and created_at, keeping
	// the fields an info change later than the create less RecreateMargin set, as above. A create
	// within the margin, or earlier, is a late create of the deleted topic, as above; when it is
	// later than the row's created_at by more than RecreateMargin, the row holds an earlier
	// topic's create (it completed the tombstone of this topic's destroy, arriving first), and
	// this one takes the row over as a new topic does, the row staying deleted. So a deleted row
	// ends with its last topic's fields and created_at, whatever order the creates arrive in.
	// A create later than a live topic's created_at by more than RecreateMargin is a new topic of
	// the id too, whose predecessor's destroy was lost or has not arrived yet: it takes the row
	// over the same way (the create's fields and created_at, the fields of later info changes
	// kept), and that destroy, when it comes, is a destroy of a live topic as in Destroy. A create
	// of a live topic within the margin of its creation, or earlier, changes nothing: it is a
	// resend of the topic's create (one without EventTime is dated by its arrival) or a late
	// create of an earlier topic of the id; but a resend, within the margin, moves created_at to
	// the earlier of the two, so that the topic has one creation time whichever arrives first,
	// and updated_at with it when the later one's time was all it held (no later write).
	// t.UpdatedAt and t.DeletedAt are ignored.
	Create(ctx context.Context, t Topic) error
	// Destroy marks each topic of app appID deleted at `at` (deleted_at set once; an already-deleted
	// row deleted within RecreateMargin of `at` was deleted by this destroy, sent again, and keeps
	// the earlier of the two times, whichever arrives first; if `at` is more than RecreateMargin
	// later, it destroys a later topic of the id, whose create has not arrived yet, and deleted_at
	// moves to `at` so that create does not bring the topic back). Unknown topic ids get a tombstone row (group id set,
	// deleted) so a late create cannot resurrect them. A live topic created more than RecreateMargin
	// after `at` is a later topic of the id than the one destroyed, and stays live. All in one
	// transaction.
	// The list is validated as a whole: one id no write would store (empty, over MaxIDBytes, a NUL
	// or invalid UTF-8) makes the call ErrInvalid and destroys none; a caller that wants the other
	// ids destroyed leaves such ids out first, as the Group.CallbackAfterTopicDestroyed handler does.
	Destroy(ctx context.Context, appID, groupID string, topicIDs []string, at time.Time) error
	// ApplyInfoChange updates only the non-nil fields and updated_at. Returns ErrNotFound (wrapped is
	// fine, errors.Is must work) when the topic does not exist, so the caller can retry later.
	ApplyInfoChange(ctx context.Context, c InfoChange) error
	// Get returns the topic topicID of app appID (deleted or not) or ErrNotFound. An app or a
	// topic id no write would store (see CheckAppID, MaxIDBytes; a NUL or invalid UTF-8) is
	// ErrInvalid on both stores; an empty topic id finds no topic (ErrNotFound).
	Get(ctx context.Context, appID, topicID string) (Topic, error)
	// List returns topics ordered by created_at, sdk_app_id then topic_id; deleted ones only when
	// IncludeDeleted; SdkAppID nil means all apps, GroupID "" all groups, TopicID "" all topics;
	// after f.After (its time as given: a zero time is year 1, not "now" as in a write) and at
	// most f.Limit of them when set. A filter or position no write would
	// store is ErrInvalid on both stores, as in Get, but for the length of
	// a position's topic id, which only orders (one over MaxIDBytes sorts
	// after the ids it begins with). List holds every topic
	// it returns: to page through topics that may be large, use ListPage,
	// whose pages this package's stores end once they hold MaxPageBytes.
	// Never returns nil slice (empty slice instead).
	List(ctx context.Context, f ListFilter) ([]Topic, error)
	// Ping reports whether the database answers and takes writes (used by /readyz): SQLite's
	// writes a probe row, PostgreSQL's refuses a standby or a read-only database.
	Ping(ctx context.Context) error
	// Close stops the store and releases its connections. Calls made after Close return ErrClosed.
	Close() error
}

// sqliteFileName is the database file OpenStore uses inside the data directory.
const sqliteFileName = "topics.db"

// SQLitePath is the SQLite file OpenStore opens for the data directory dataDir when no
// IMCALLBACK_STORE_DSN is set.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, sqliteFileName) }

// migrationTable is goose's version table; it is named for this package because other
// modules may run their own goose migrations in the same PostgreSQL schema.
const migrationTable = "topic_goose_db_version"

// migrationFiles holds one folder of goose SQL migrations per dialect. embed only works on a
// package-level variable; it is read-only.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// OpenOption changes how OpenStore, OpenSQLite and OpenPostgres open a store.
type OpenOption func(*openConfig)

type openConfig struct {
	withoutMigrating bool
}

func openConfigOf(opts []OpenOption) openConfig {
	var c openConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithoutMigrating opens a store without changing its schema, for tools that only read: a store
// whose schema is not exactly this program's (no schema, migrations left to apply, or a newer
// one) is ErrSchema. A SQLite file that does not exist is ErrSchema too, and neither it nor the
// data directory is created.
func WithoutMigrating() OpenOption { return func(c *openConfig) { c.withoutMigrating = true } }

// ErrSchema reports a store opened WithoutMigrating whose schema is not this program's.
var ErrSchema = errors.New("topic: the store's schema is not this program's")

// OpenStore opens the store chosen by dsn and runs the migrations (see OpenOption for opts):
// dsn "" → SQLite file <dataDir>/topics.db (create dataDir with 0o750 if missing);
// "postgres://…" or "postgresql://…" → PostgreSQL; anything else → a clear error naming IMCALLBACK_STORE_DSN.
// Never log or return the DSN password in errors.
func OpenStore(ctx context.Context, dsn, dataDir string, log *zap.Logger, opts ...OpenOption) (Store, error) {
	switch {
	case dsn == "":
		if dataDir == "" {
			return nil, errors.New("topic: open store: IMCALLBACK_STORE_DSN is empty, which selects SQLite in the data directory, but the data directory is empty")
		}
		if !openConfigOf(opts).withoutMigrating { // a read creates nothing (OpenSQLite says why)
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return nil, fmt.Errorf("topic: open store: create data directory: %w", err)
			}
		}
		return OpenSQLite(ctx, SQLitePath(dataDir), log, opts...)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn, log, opts...)
	default:
		// Name only the scheme: the rest of the DSN may hold a password.
		scheme, _, found := strings.Cut(dsn, "://")
		if !found || strings.ContainsAny(scheme, ":@/") {
			return nil, errors.New("topic: open store: IMCALLBACK_STORE_DSN must be empty (SQLite in the data directory) or a postgres:// or postgresql:// URL; it is not a URL")
		}
		return nil, fmt.Errorf("topic: open store: IMCALLBACK_STORE_DSN must be empty (SQLite in the data directory) or a postgres:// or postgresql:// URL, not scheme %q", scheme)
	}
}

// topicColumns are a topic row's columns in the order scanTopic reads them; Create's INSERT
// writes them in this order too, followed by create_received and the dates of the four fields an
// info change sets.
const topicColumns = `sdk_app_id, topic_id, group_id, name, owner_account, operator_account, group_type,
    custom_data, introduction, notification, face_url, created_at, updated_at, deleted_at`

// backend is one database under the store: its SQL, run on input the store has already
// validated and normalised (times through storedTime, custom data encoded), while the store is
// open. The store wraps its errors; it reports a missing row as ErrNotFound.
type backend interface {
	// create upserts t with its encoded custom data; created is both created_at and updated_at.
	// A row deleted before deletedBefore (created less RecreateMargin) is created again. The
	// fields an info change sets are dated deletedBefore, as a change of that time. A row whose
	// create was received from deletedBefore to resentUntil (created plus RecreateMargin), and
	// that this create does not renew, is the same create sent again: it keeps the earlier
	// created_at, and everything else.
	create(ctx context.Context, t Topic, custom []byte, created, deletedBefore, resentUntil time.Time) error
	// destroy marks ids (at least one, no repeats, none empty) deleted, in one transaction; a
	// live row created after createdAfter (at plus RecreateMargin) is left alone, a row deleted
	// before deletedBefore (at less RecreateMargin) is deleted again at at, and one deleted from
	// deletedBefore to createdAfter keeps the earlier of its deletion and at. A row no create
	// completed has its deletion as created_at.
	destroy(ctx context.Context, appID, groupID string, ids []string, at, createdAfter, deletedBefore time.Time) error
	// infoChange writes c's non-nil fields and updated_at = at.
	infoChange(ctx context.Context, c InfoChange, at time.Time) error
	get(ctx context.Context, appID, topicID string) (Topic, error)
	// list lists f's topics; with f.pageBudget() it stops adding topics once
	// those it holds reach that many bytes (topicBytes), keeping one at least,
	// and more reports that it stopped so before the topics selected ran out.
	list(ctx context.Context, f ListFilter) (topics []Topic, more bool, err error)
	ping(ctx context.Context) error
	// adoptUnkeyed moves the topics stored before apps were kept (app "") to appID while no
	// topic has an app, and returns how many it moved.
	adoptUnkeyed(ctx context.Context, appID string) (int64, error)
	// close releases the database; the store calls it once.
	close() error
}

// store is the Store of every backend: it validates input, refuses calls after Close and
// wraps errors, so that both databases behave and fail alike.
type store struct {
	name string // the backend in Close's error: "sqlite" or "postgres"
	b    backend

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func newStore(name string, b backend) *store { return &store{name: name, b: b} }

// ifOpen runs fn unless the store is closed.
func (s *store) ifOpen(fn func() error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return fn()
}

// Create implements Store.
func (s *store) Create(ctx context.Context, t Topic) error {
	created, err := storedTime(t.CreatedAt)
	if err == nil {
		err = validateCreate(t)
	}
	if err == nil {
		err = s.ifOpen(func() error {
			return s.b.create(ctx, t, encodeCustomData(t.CustomData), created,
				marginFrom(created, -RecreateMargin), marginFrom(created, RecreateMargin))
		})
	}
	if err != nil {
		return fmt.Errorf("topic: create %s of app %s: %w", quotedID(t.TopicID), quotedApp(t.SdkAppID), err)
	}
	return nil
}

// Destroy implements Store.
func (s *store) Destroy(ctx context.Context, appID, groupID string, topicIDs []string, at time.Time) error {
	when, err := storedTime(at)
	var ids []string
	if err == nil {
		ids, err = destroyIDs(appID, groupID, topicIDs)
	}
	if err != nil {
		return fmt.Errorf("topic: destroy %d topics in group %s of app %s: %w", len(topicIDs), quotedID(groupID), quotedApp(appID), err)
	}
	if len(ids) == 0 {
		return nil
	}
	err = s.ifOpen(func() error {
		return s.b.destroy(ctx, appID, groupID, ids, when, marginFrom(when, RecreateMargin), marginFrom(when, -RecreateMargin))
	})
	if err != nil {
		return fmt.Errorf("topic: destroy %d topics in group %s of app %s: %w", len(ids), quotedID(groupID), quotedApp(appID), err)
	}
	return nil
}

// ApplyInfoChange implements Store.
func (s *store) ApplyInfoChange(ctx context.Context, c InfoChange) error {
	when, err := storedTime(c.At)
	if err == nil {
		err = validateInfoChange(c)
	}
	if err == nil {
		err = s.ifOpen(func() error { return s.b.infoChange(ctx, c, when) })
	}
	if err != nil {
		return fmt.Errorf("topic: info change %s of app %s: %w", quotedID(c.TopicID), quotedApp(c.SdkAppID), err)
	}
	return nil
}

// Get implements Store.
func (s *store) Get(ctx context.Context, appID, topicID string) (Topic, error) {
	var t Topic
	err := CheckAppID(appID)
	if err == nil {
		err = checkIDs(topicID)
	}
	if err == nil {
		err = s.ifOpen(func() (err error) {
			t, err = s.b.get(ctx, appID, topicID)
			return err
		})
	}
	if err != nil {
		return Topic{}, fmt.Errorf("topic: get %s of app %s: %w", quotedID(topicID), quotedApp(appID), err)
	}
	return t, nil
}

// List implements Store.
func (s *store) List(ctx context.Context, f ListFilter) ([]Topic, error) {
	var topics []Topic
	var more bool
	err := checkListFilter(f)
	if err == nil {
		err = s.ifOpen(func() (err error) {
			topics, more, err = s.b.list(ctx, f)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("topic: list: %w", err)
	}
	if f.page != nil {
		f.page.more = more
	}
	return topics, nil
}

// AdoptUnkeyed gives the topics stored before topics were kept per app (they have app "") to
// appID, and returns how many it moved. It moves nothing once any topic has an app: then the
// store has served apps of their own, and those topics may be another app's. Run it for a store
// that served one app: the service does, at start, when it is configured with a single app, so
// that after the upgrade its callbacks change those topics again. s must come from OpenStore,
// OpenSQLite or OpenPostgres.
func AdoptUnkeyed(ctx context.Context, s Store, appID string) (int64, error) {
	st, ok := s.(*store)
	if !ok {
		return 0, fmt.Errorf("topic: adopt: %T is not a store this package opened", s)
	}
	if appID == "" {
		return 0, fmt.Errorf("topic: adopt: %w: no app", ErrInvalid)
	}
	if err := CheckAppID(appID); err != nil {
		return 0, fmt.Errorf("topic: adopt: %w", err)
	}
	var n int64
	err := st.ifOpen(func() (err error) {
		n, err = st.b.adoptUnkeyed(ctx, appID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("topic: adopt the topics stored before apps were kept for app %q: %w", appID, err)
	}
	return n, nil
}

// checkListFilter refuses a filter that names what no write would store. PostgreSQL fails on
// a NUL or invalid UTF-8 in a parameter where SQLite matches nothing; both refuse it alike.
func checkListFilter(f ListFilter) error {
	if err := checkIDs(f.TopicID, f.GroupID); err != nil {
		return err
	}
	if f.SdkAppID != nil {
		if err := CheckAppID(*f.SdkAppID); err != nil {
			return err
		}
	}
	if f.After != nil {
		if err := CheckAppID(f.After.SdkAppID); err != nil {
			return err
		}
		if err := checkStoredTime(asStored(f.After.CreatedAt)); err != nil {
			return err
		}
		return checkText(f.After.TopicID)
	}
	return nil
}

// Ping implements Store.
func (s *store) Ping(ctx context.Context) error {
	if err := s.ifOpen(func() error { return s.b.ping(ctx) }); err != nil {
		return fmt.Errorf("topic: ping: %w", err)
	}
	return nil
}

// Close implements Store: calls made from now on return ErrClosed, and the backend is closed once.
func (s *store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.b.close(); err != nil {
			s.closeErr = fmt.Errorf("topic: close %s: %w", s.name, err)
		}
	})
	return s.closeErr
}

// storedTime is the time a write stores for t: t as both backends keep it (asStored), the zero
// time meaning now; a time outside what both hold is ErrInvalid (checkStoredTime).
func storedTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		t = time.Now()
	}
	t = asStored(t)
	return t, checkStoredTime(t)
}

// asStored is t as both backends keep it: UTC, microseconds. A read compares with it as given:
// the zero time is year 1 there, where a cursor's position can be, not now.
func asStored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Times both stores hold and compare alike: years 1 to 9999 (SQLite's text outside them no longer
// sorts as the times do).
var (
	minStoredTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// checkStoredTime refuses a time (as asStored gives it) outside the years 1 to 9999: SQLite's
// text of it no longer sorts as the time does (past 9999 it came before every stored time there,
// after all of them on PostgreSQL), nor reads back as a time, so one such row failed every List.
func checkStoredTime(t time.Time) error {
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return fmt.Errorf("%w: a time outside the years 1 to 9999: %s", ErrInvalid, t.Format(time.RFC3339Nano))
	}
	return nil
}

// marginFrom is t moved by d, the bound of RecreateMargin the writes compare a row's times with.
// It stays within the times both stores hold, so that they compare a row's time with it alike.
func marginFrom(t time.Time, d time.Duration) time.Time {
	switch m := t.Add(d); {
	case m.Before(minStoredTime):
		return minStoredTime
	case m.After(maxStoredTime):
		return maxStoredTime
	default:
		return m
	}
}

func validateCreate(t Topic) error {
	if err := CheckAppID(t.SdkAppID); err != nil {
		return err
	}
	switch {
	case t.TopicID == "":
		return fmt.Errorf("%w: empty topic id", ErrInvalid)
	case t.GroupID == "":
		return fmt.Errorf("%w: empty group id", ErrInvalid)
	}
	if err := checkID("TopicId", t.TopicID); err != nil {
		return err
	}
	if err := checkID("GroupId", t.GroupID); err != nil {
		return err
	}
	for _, f := range []struct{ name, text string }{
		{"Name", t.Name}, {"Owner_Account", t.OwnerAccount}, {"Operator_Account", t.OperatorAccount}, {"Type", t.Type},
		{"Introduction", t.Introduction}, {"Notification", t.Notification}, {"FaceUrl", t.FaceURL},
	} {
		if err := checkField(f.name, f.text); err != nil {
			return err
		}
	}
	for i, f := range t.CustomData {
		if problem := textProblem(f.Key); problem != "" {
			return refuse(fmt.Sprintf("UserDefinedDataList[%d].Key", i), problem)
		}
		if problem := textProblem(f.Value); problem != "" {
			return refuse(fmt.Sprintf("UserDefinedDataList[%d].Value", i), problem)
		}
	}
	return nil
}

// MaxIDBytes bounds a topic or group id. Tencent's are far shorter; a
// longer one would not fit PostgreSQL's index (about 2.7 KB a row) while
// SQLite stored it, so both stores refuse it alike.
const MaxIDBytes = 256

// quotedID is id quoted for a write's error: whole when a store could keep
// it (at most MaxIDBytes), else cut as cutID cuts. The topic handlers log
// these errors, and a callback's id can be as long as its body.
func quotedID(id string) string { return strconv.Quote(cutID(id, MaxIDBytes)) }

// quotedApp is an app id quoted for an error as quotedID quotes a topic
// id: whole when it can be an app (at most MaxAppIDBytes), else cut.
func quotedApp(id string) string { return strconv.Quote(cutID(id, MaxAppIDBytes)) }

// checkIDs refuses ids that are too long, besides what checkText refuses.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if err := checkID("an id", id); err != nil {
			return err
		}
	}
	return nil
}

// checkID is checkIDs of one id, whose error calls it field.
func checkID(field, id string) error { return refuse(field, idProblem(id)) }

// idProblem is what checkID refuses in id, said after the field's name,
// or "" when nothing.
func idProblem(id string) string {
	if len(id) > MaxIDBytes {
		return fmt.Sprintf("of %d bytes (at most %d)", len(id), MaxIDBytes)
	}
	return textProblem(id)
}

// checkText refuses a NUL character (JSON's \u0000) and invalid UTF-8 in
// any text: PostgreSQL cannot store either in text or jsonb, so both stores
// refuse them alike.
func checkText(texts ...string) error {
	for _, s := range texts {
		if err := checkField("a text", s); err != nil {
			return err
		}
	}
	return nil
}

// checkField is checkText of one text, whose error calls it field (a
// write names the callback's field, so its refusal leads to it).
func checkField(field, text string) error { return refuse(field, textProblem(text)) }

// refuse is the ErrInvalid of field for problem (what idProblem or
// textProblem found), or nil when problem is "".
func refuse(field, problem string) error {
	if problem == "" {
		return nil
	}
	return fmt.Errorf("%w: %s %s", ErrInvalid, field, problem)
}

// textProblem is what checkText refuses in text, said after the field's
// name, or "" when nothing.
func textProblem(text string) string {
	if strings.IndexByte(text, 0) >= 0 {
		return "contains a NUL character (\\u0000)"
	}
	if !utf8.ValidString(text) {
		return "is not valid UTF-8"
	}
	return ""
}

// destroyIDs validates a destroy and returns its topic ids without
// repeats, sorted: two destroys of overlapping lists then lock their rows
// in one order, so PostgreSQL cannot deadlock them.
func destroyIDs(appID, groupID string, topicIDs []string) ([]string, error) {
	if err := CheckAppID(appID); err != nil {
		return nil, err
	}
	if groupID == "" {
		return nil, fmt.Errorf("%w: empty group id", ErrInvalid)
	}
	if err := checkID("GroupId", groupID); err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, len(topicIDs))
	ids := make([]string, 0, len(topicIDs))
	for i, id := range topicIDs {
		if id == "" {
			return nil, fmt.Errorf("%w: empty topic id in the list", ErrInvalid)
		}
		if problem := idProblem(id); problem != "" {
			return nil, refuse(fmt.Sprintf("TopicIdList[%d]", i), problem)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func validateInfoChange(c InfoChange) error {
	if err := CheckAppID(c.SdkAppID); err != nil {
		return err
	}
	if c.TopicID == "" {
		return fmt.Errorf("%w: empty topic id", ErrInvalid)
	}
	if err := checkID("TopicId", c.TopicID); err != nil {
		return err
	}
	if err := checkID("GroupId", c.GroupID); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		text *string
	}{{"Name", c.Name}, {"Introduction", c.Introduction}, {"Notification", c.Notification}, {"FaceUrl", c.FaceURL}} {
		if f.text == nil {
			continue
		}
		if err := checkField(f.name, *f.text); err != nil {
			return err
		}
	}
	return nil
}

// encodeCustomData writes fields as the JSON array the stores keep, [{"key":…,"value":…},…],
// which decodeCustomData reads back. It appends by hand rather than through json.Marshal: an
// inline after-handler runs on a new goroutine, and the reflection encoder's deep calls made that
// goroutine's stack grow (copied) on every stored callback, about 7 % of the service's CPU in the
// inline SQLite row's profile.
func encodeCustomData(fields []CustomField) []byte {
	n := 2
	for _, f := range fields {
		n += len(`{"key":"","value":""},`) + len(f.Key) + len(f.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendJSONString(b, f.Key)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, f.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string: quotes and backslashes escaped, control
// characters as \u00XX, and each byte of invalid UTF-8 as U+FFFD, as encoding/json decodes it.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func decodeCustomData(raw []byte) ([]CustomField, error) {
	fields := []CustomField{}
	if len(raw) == 0 {
		return fields, nil
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("decode custom data: %w", err)
	}
	if fields == nil { // the JSON was null
		fields = []CustomField{}
	}
	return fields, nil
}

// migrate brings the schema behind db up to date with the embedded migrations in dir.
// It does not close db.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, log *zap.Logger, o openConfig, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return fmt.Errorf("migrations %s: %w", dir, err)
	}
	opts = append([]goose.ProviderOption{
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
	}, opts...)
	provider, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if o.withoutMigrating {
		// goose creates its version table when it reads versions: look first.
		var exists bool
		query := `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1`
		if dialect == goose.DialectPostgres {
			query = `SELECT to_regclass($1) IS NOT NULL` // in the search_path, as goose finds it
		}
		if err := db.QueryRowContext(ctx, query, migrationTable).Scan(&exists); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		if !exists {
			return fmt.Errorf("%w: no topic store here; has the service run on this store?", ErrSchema)
		}
		current, target, err := provider.GetVersions(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("%w: %w", ErrSchema, err)
		case current < target:
			return fmt.Errorf("%w: the store's schema is at version %d, this program's at %d: start the service once (it migrates), then read", ErrSchema, current, target)
		case current > target:
			return fmt.Errorf("%w: the store's schema (version %d) is newer than this program's (%d): use the service's own binary", ErrSchema, current, target)
		}
		return nil
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		log.Info("topic store migration applied",
			zap.String("dialect", string(dialect)),
			zap.Int64("version", r.Source.Version),
			zap.String("file", path.Base(r.Source.Path)),
			zap.Duration("took", r.Duration),
		)
	}
	// A schema a later version migrated (this one was rolled back to) is left as it is, and goose
	// says nothing: this version may run on it, as the versions of a rolling upgrade do, but its
	// writes can fail there with a database error that does not say why.
	current, target, err := provider.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if current > target {
		log.Warn("the topic store's schema is newer than this program's: a later version migrated it; "+
			"if topic writes fail, run that version again (docs/deploy.md, Upgrades)",
			zap.String("dialect", string(dialect)),
			zap.Int64("schema_version", current),
			zap.Int64("program_version", target),
		)
	}
	return nil
}

// redactDSN returns err with every spelling of the DSN's password replaced, for errors from
// drivers that may quote the DSN (a URL parse error does). It is replaced where it stands as the
// password (passwordAt); a password whose text is no part of what config.Redact shows of the DSN
// is replaced wherever it stands apart from letters and digits too (apart), as a driver that
// misread a DSN may quote it anywhere. One that is, a short or common password that is also the
// user, the database or part of the host ("postgres", "1"), is replaced only as the password, so
// that the user, database and host the error names stay readable. The result does not unwrap to
// the driver's error, which may carry the DSN in a field; only a context error stays reachable.
func redactDSN(dsn string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	// What an error may show of the DSN: config.Redact's text less the placeholder it writes for
	// each secret, which is no text of the DSN's.
	shown := strings.ReplaceAll(config.Redact(dsn, false), redact.Mark, " ")
	for _, pw := range config.Secrets(dsn, false) {
		for _, spelling := range []string{pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("", pw).String()[1:]} {
			switch {
			case spelling == "":
			case strings.Contains(shown, spelling):
				msg = replaceWhere(msg, spelling, "xxxxx", passwordAt)
			default:
				msg = replaceWhere(msg, spelling, "xxxxx", func(before, after string) bool {
					return apart(before, after) || passwordAt(before, after)
				})
			}
		}
	}
	var cause error
	switch {
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, ErrSchema):
		cause = ErrSchema
	}
	return &redactedError{msg: msg, cause: cause}
}

// replaceWhere is s with each occurrence of old for which at, given the text before and after
// it, reports true replaced by mark.
func replaceWhere(s, old, mark string, at func(before, after string) bool) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], old)
		if j < 0 {
			break
		}
		j += i
		if !at(s[:j], s[j+len(old):]) {
			i = j + 1
			continue
		}
		b.WriteString(s[last:j] + mark)
		last = j + len(old)
		i = last
	}
	b.WriteString(s[last:])
	return b.String()
}

// passwordAt reports whether text between before and after stands as a password: in a DSN's user
// info (after the user's ':', before the '@'), or as the value of a password or sslpassword
// parameter (?password=…, password=… or password='…' of the keyword form), its key in any case
// and percent-escaped or not, as the driver reads it.
func passwordAt(before, after string) bool {
	if strings.HasSuffix(before, ":") && strings.HasPrefix(after, "@") {
		return true
	}
	before, ok := strings.CutSuffix(strings.TrimSuffix(before, "'"), "=")
	if !ok {
		return false
	}
	key := before[strings.LastIndexAny(before, " ?&`'\"(\t\n;")+1:]
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return strings.EqualFold(key, "password") || strings.EqualFold(key, "sslpassword")
}

// apart reports whether text between before and after stands apart from letters and digits: no
// letter or digit touches it on either side.
func apart(before, after string) bool {
	last, _ := utf8.DecodeLastRuneInString(before)
	first, _ := utf8.DecodeRuneInString(after)
	word := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	return (before == "" || !word(last)) && (after == "" || !word(first))
}

// redactedError carries a scrubbed message and, at most, the context error or ErrSchema behind
// it.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.cause }

// listQuery builds List's statement; placeholder returns the n-th (1-based)
// parameter marker of the dialect and timeArg a time as the dialect stores it.
func listQuery(f ListFilter, placeholder func(n int) string, timeArg func(time.Time) any) (string, []any) {
	var where []string
	var args []any
	if f.SdkAppID != nil {
		args = append(args, *f.SdkAppID)
		where = append(where, "sdk_app_id = "+placeholder(len(args)))
	}
	if f.TopicID != "" {
		args = append(args, f.TopicID)
		where = append(where, "topic_id = "+placeholder(len(args)))
	}
	if f.GroupID != "" {
		args = append(args, f.GroupID)
		where = append(where, "group_id = "+placeholder(len(args)))
	}
	if !f.IncludeDeleted {
		where = append(where, "deleted_at IS NULL")
	}
	if f.After != nil {
		args = append(args, timeArg(asStored(f.After.CreatedAt)), f.After.SdkAppID, f.After.TopicID)
		where = append(where, "(created_at, sdk_app_id, topic_id) > ("+
			placeholder(len(args)-2)+", "+placeholder(len(args)-1)+", "+placeholder(len(args))+")")
	}
	query := `SELECT ` + topicColumns + ` FROM topics`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY created_at, sdk_app_id, topic_id`
	if f.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	return query, args
}

// rowScanner is what both drivers' rows offer (*sql.Row, *sql.Rows, pgx.Row, pgx.Rows).
type rowScanner interface {
	Scan(dest ...any) error
}

// rowSet is what both drivers' result sets offer.
type rowSet interface {
	rowScanner
	Next() bool
	Err() error
}

// scanTopic reads one row of topicColumns, and into extra the columns that follow them. The
// dialect's driver scans the times into T (NULL deleted_at into a nil *T) and toTime turns a T
// into a UTC time.
func scanTopic[T any](row rowScanner, toTime func(T) (time.Time, error), extra ...any) (Topic, error) {
	var (
		t                Topic
		custom           []byte
		created, updated T
		deleted          *T
	)
	err := row.Scan(append([]any{&t.SdkAppID, &t.TopicID, &t.GroupID, &t.Name, &t.OwnerAccount, &t.OperatorAccount, &t.Type,
		&custom, &t.Introduction, &t.Notification, &t.FaceURL, &created, &updated, &deleted}, extra...)...)
	if err != nil {
		return Topic{}, err
	}
	if t.CustomData, err = decodeCustomData(custom); err != nil {
		return Topic{}, fmt.Errorf("topic %q: %w", t.TopicID, err)
	}
	if t.CreatedAt, err = toTime(created); err != nil {
		return Topic{}, fmt.Errorf("topic %q: created_at: %w", t.TopicID, err)
	}
	if t.UpdatedAt, err = toTime(updated); err != nil {
		return Topic{}, fmt.Errorf("topic %q: updated_at: %w", t.TopicID, err)
	}
	if deleted != nil {
		d, err := toTime(*deleted)
		if err != nil {
			return Topic{}, fmt.Errorf("topic %q: deleted_at: %w", t.TopicID, err)
		}
		t.DeletedAt = &d
	}
	return t, nil
}

// collectTopics scans the rows of rows; never returns a nil slice. With a budget (bytes > 0) it
// stops adding topics once those it holds reach it (topicBytes), keeping one at least; more
// then reports that another row follows, which the driver has read but which is not scanned
// nor kept: the topics returned hold less than the budget before the last of them, however
// large the topics after it.
func collectTopics(rows rowSet, scan func(rowScanner) (Topic, error), budget int) (topics []Topic, more bool, err error) {
	topics = []Topic{}
	held := 0
	for rows.Next() {
		if budget > 0 && len(topics) > 0 && held >= budget {
			return topics, true, nil
		}
		t, err := scan(rows)
		if err != nil {
			return nil, false, err
		}
		held += topicBytes(t)
		topics = append(topics, t)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return topics, false, nil
}

// topicBytes is the text t holds, and fieldBytes for each custom field: what a page of ListPage
// counts against its budget.
func topicBytes(t Topic) int {
	n := len(t.SdkAppID) + len(t.TopicID) + len(t.GroupID) + len(t.Name) + len(t.OwnerAccount) +
		len(t.OperatorAccount) + len(t.Type) + len(t.Introduction) + len(t.Notification) + len(t.FaceURL)
	for _, f := range t.CustomData {
		n += fieldBytes + len(f.Key) + len(f.Value)
	}
	return n
}

// fieldBytes is what a custom field counts beside its text, so that a topic of many empty ones
// (a body of them holds tens of thousands) counts too: its two strings' headers take 32 bytes,
// and its JSON, as either store keeps it, more than 20 ({"key":"","value":""}).
const fieldBytes = 20
