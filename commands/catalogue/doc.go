// Package catalogue is the single source of truth about the IM callback
// commands imcallback knows (docs/protocol.md §4): for each, its typed
// descriptor (name, kind, payload and reply types), the custom deny codes it
// accepts, whether it can silently drop, and its natural deduplication key.
// The dispatcher's rules (Module), the sample payloads (Sample) and
// docs/commands.md are built from it.
package catalogue

//go:generate go run ./internal/gen -o ../../docs/commands.md
