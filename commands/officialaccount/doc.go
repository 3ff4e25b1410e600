// Package officialaccount holds the typed payloads, reply fields and
// command descriptors of the OfficialAccount.* callbacks (docs/protocol.md
// §4.9).
package officialaccount
