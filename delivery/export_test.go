package delivery

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
