package delivery

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names the external tests use for the embedded server, which the package
// keeps to itself.
type (
	EmbeddedOptions = embeddedOptions
	Embedded        = embedded
)

// StartEmbedded is startEmbedded.
var StartEmbedded = startEmbedded

// SetCommands is setCommands.
func (s *Service) SetCommands(commands []string) { s.setCommands(commands) }

// Undead is undead: the work-stream copy of a dead letter.
func (e *Events) Undead(raw *jetstream.RawStreamMsg) *nats.Msg { return e.undead(raw) }

// HeldCounts is how many events have deliveries counted as given back.
func (s *Service) HeldCounts() int {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	return len(s.holds.deferred)
}

// EventsRead is how many message headers the event log's scans have read.
func (s *Service) EventsRead() uint64 { return s.eventsRead.Load() }

// AdminRoutes is apiRoutes.
var AdminRoutes = apiRoutes
