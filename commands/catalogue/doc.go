// Package catalogue is the single source of truth about the IM callback
// commands imcallback knows (PROTOCOL.md §4): for each, its name, kind,
// payload and reply types (through its typed descriptor), the custom deny
// codes it accepts, whether it can silently drop, its default fallback
// decision and its natural deduplication key. The dispatcher's rules
// (Module), the sample payloads (Sample) and docs/commands.md are built
// from it.
package catalogue

//go:generate go run ./internal/gen -o ../../docs/commands.md
