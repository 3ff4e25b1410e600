package moderation

import (
	"slices"
	"sync"
)

// Joins records group members in memory. A real module would write to its
// database; the point here is the idempotence: recording a member twice
// (IM's retry, a replay) changes nothing.
type Joins struct {
	mu      sync.Mutex
	members map[string][]string
}

// NewJoins returns an empty record.
func NewJoins() *Joins { return &Joins{members: map[string][]string{}} }

// Record adds members to group, ignoring those already recorded.
func (j *Joins) Record(group string, members ...string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, m := range members {
		if !slices.Contains(j.members[group], m) {
			j.members[group] = append(j.members[group], m)
		}
	}
}

// Members returns the recorded members of group, in join order.
func (j *Joins) Members(group string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.members[group])
}
