// Package topicsync is imcallback's first plugin: it syncs community topics
// from Tencent IM's topic callbacks into a store.
//
//   - Group.CallbackAfterCreateTopic stores the topic;
//   - Group.CallbackAfterTopicDestroyed marks its topics deleted (tombstones
//     keep a late create from resurrecting them);
//   - Group.CallbackAfterTopicInfoChanged updates the fields present.
//
// An app can choose its topic ids, so it can destroy a topic and later create
// one of the same id. A create more than RecreateMargin later than the
// deletion is that new topic, and makes the row live again; a create within
// the margin, or earlier, is a late create of the deleted topic, which stays
// deleted. A create more than the margin later than a live topic's creation is
// a new topic whose predecessor's destroy has not arrived, and replaces the live
// one. A destroy more than the margin earlier than a live topic's creation is a
// late destroy of the earlier topic, and leaves the live one alone.
//
// Each field an info change sets keeps the time it was set at, and an older
// change leaves it alone. A create dates the fields it sets RecreateMargin
// before its own time, so that every change of the topic wins over them,
// however late the create arrives or is sent again, and a late change of an
// earlier topic of the id does not: the callbacks of a topic id, applied in
// any order, leave the topic as they do in order (a deleted topic's fields
// aside, which may be an earlier topic's of the id).
//
// Topics are kept per IM app (the request's SdkAppid): one app's callbacks
// never touch another app's topic of the same TopicId.
//
// The store is SQLite under the data directory by default, or PostgreSQL
// when IMCALLBACK_STORE_DSN is a postgres:// URL. The admin listener serves
// the synced topics at /v1/topics. Enable it with one line: topicsync.Module.
package topicsync
