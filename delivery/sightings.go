package delivery

import (
	"errors"
	"sync"
)

// errSetUpLater reports a stream or consumer found missing and left to a
// later check of the supervisor (sightings).
var errSetUpLater = errors.New("missing; set up again at the supervisor's next check")

// sightings remembers what the supervisor's checks found missing, so that a
// stream or the consumer is created only at a check after the one that
// found it gone, at least kickGap later, never in the instant it was found
// missing. NATS takes a deleted stream or consumer out of its lookups
// before it removes its files (a stream's directory is moved away, a
// consumer's removed), and the JetStream API runs requests concurrently: one
// created under the same name while the deletion is still under way has its
// files removed with the old one's. A stream so broken refuses every write
// ("no such file or directory") until the server is restarted; a consumer so
// broken refuses every update of its settings and keeps no state, so a
// restart of the server loses it, acknowledgement floor and all. The server
// tells no one when a deletion has finished (its advisory is sent before
// the lookups let go of the name): the gap between two checks stands for it.
type sightings struct {
	mu       sync.Mutex
	before   map[string]bool // found missing by the check before
	now      map[string]bool // found missing by the check under way
	deferred bool            // the check under way left something to the next
}

// reset forgets every sighting.
func (g *sightings) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.before, g.now, g.deferred = nil, nil, false
}

// nextCheck starts a check: what the check before found missing is what
// this one may create.
func (g *sightings) nextCheck() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.before, g.now, g.deferred = g.now, map[string]bool{}, false
}

// missing notes that the check under way found name missing and reports
// whether it may be created now: the check before found it missing too.
// With a nil g (a start, a restarted embedded server: nothing is being
// deleted under the service) it may always.
func (g *sightings) missing(name string) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.now == nil {
		g.now = map[string]bool{}
	}
	g.now[name] = true
	if !g.before[name] {
		g.deferred = true
	}
	return g.before[name]
}

// leftForNext reports whether the check under way left something missing
// to the next one: the supervisor then checks again as soon as kickGap
// allows.
func (g *sightings) leftForNext() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.deferred
}

// streamKey and consumerKey name a stream and a consumer for sightings.
func streamKey(name string) string { return "stream " + name }

func consumerKey(stream, name string) string { return "consumer " + stream + " " + name }
