// Package logevery holds a warning that a flood can repeat (an unknown
// command, a refused request) back to one line per interval, and counts
// what it held back for the next line's count_since_last_line.
package logevery

import (
	"sync"
	"time"
)

// Line is the state of one warning: when it was last written and how many
// events came since. It is not safe for concurrent use: its owner guards
// it with its own lock. The zero value has written no line yet.
type Line struct {
	loggedAt time.Time // zero until the first line
	count    int       // events since the last line
}

// Note counts one event at now and reports whether the warning is due (it
// was never written, or not in the last every), with the events since the
// last line, this one included; count is 0 when the line is not due.
func (l *Line) Note(now time.Time, every time.Duration) (due bool, count int) {
	l.count++
	if !l.loggedAt.IsZero() && now.Sub(l.loggedAt) < every {
		return false, 0
	}
	count = l.count
	l.loggedAt, l.count = now, 0
	return true, count
}

// Lines is one Line per key (a command, a reason, a destination and a
// command), safe for concurrent use. Its keys must be bounded by its
// owner: each one seen is kept for good. The zero value is ready to use.
type Lines[K comparable] struct {
	mu    sync.Mutex
	lines map[K]*Line
}

// Note counts one event of key at now and reports whether key's warning is
// due, with its events since the last line: Line.Note, per key.
func (ls *Lines[K]) Note(key K, now time.Time, every time.Duration) (due bool, count int) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	line := ls.lines[key]
	if line == nil {
		if ls.lines == nil {
			ls.lines = make(map[K]*Line)
		}
		line = &Line{}
		ls.lines[key] = line
	}
	return line.Note(now, every)
}
