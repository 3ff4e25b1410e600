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
// Topics are kept per IM app (the request's SdkAppid): one app's callbacks
// never touch another app's topic of the same TopicId.
//
// The store is SQLite under the data directory by default, or PostgreSQL
// when IMCALLBACK_STORE_DSN is a postgres:// URL. The admin listener serves
// the synced topics at /v1/topics. Enable it with one line: topicsync.Module.
package topicsync
