package allowlist

// Internals the external tests check.
var (
	Jitter     = jitter
	RetryDelay = retryDelay
)
