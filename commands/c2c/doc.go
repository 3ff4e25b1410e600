// Package c2c holds the typed payloads, reply fields and command
// descriptors of the C2C.* (one-to-one message) callbacks (docs/protocol.md §4.5).
package c2c
