package moderation

import (
	"container/list"
	"slices"
	"sync"
)

// DefaultMaxJoins is the number of memberships Joins holds unless the
// configuration's max_joins sets another. A membership takes about 200
// bytes of heap (measured by BenchmarkJoinsMemory, with IDs of a dozen
// bytes; longer IDs take more), so a full record at the default is about 20 MB, and at the
// largest max_joins, 10,000,000, about 2 GB: count it in GOMEMLIMIT
// (README, "Memory"), or the collector runs all the time.
const DefaultMaxJoins = 100_000

// Joins records group members in memory. A real module would write to its
// database; the point here is the idempotence: recording a member twice
// (IM's retry, a replay) changes nothing.
//
// The record is bounded: it holds at most MaxJoins memberships (a group
// and one of its members) and, when a new one would pass the bound,
// forgets the oldest first, so a service that sees joins for ever does
// not grow for ever. A membership recorded again is not made younger.
type Joins struct {
	mu    sync.Mutex
	max   int
	order *list.List              // of membership, oldest first
	seen  map[membership]struct{} // what order holds, for the idempotence
	byGrp map[string][]string     // members of each group, in join order
}

// membership is one member of one group.
type membership struct{ group, member string }

// NewJoins returns an empty record holding at most cfg.MaxJoins
// memberships (DefaultMaxJoins when it is 0 or less).
func NewJoins(cfg Config) *Joins {
	limit := cfg.MaxJoins
	if limit <= 0 {
		limit = DefaultMaxJoins
	}
	return &Joins{max: limit, order: list.New(), seen: map[membership]struct{}{}, byGrp: map[string][]string{}}
}

// Record adds members to group, ignoring those already recorded, and
// forgets the oldest memberships beyond the bound.
func (j *Joins) Record(group string, members ...string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, m := range members {
		k := membership{group, m}
		if _, ok := j.seen[k]; ok {
			continue
		}
		for j.order.Len() >= j.max {
			j.forgetOldest()
		}
		j.seen[k] = struct{}{}
		j.order.PushBack(k)
		j.byGrp[group] = append(j.byGrp[group], m)
	}
}

// forgetOldest drops the oldest membership. It is also the oldest of its
// group, the first of the group's list; a group left empty is dropped.
func (j *Joins) forgetOldest() {
	k := j.order.Remove(j.order.Front()).(membership)
	delete(j.seen, k)
	members := j.byGrp[k.group]
	members[0] = "" // the array is kept until append moves it: let the string go
	members = members[1:]
	if len(members) == 0 {
		delete(j.byGrp, k.group)
		return
	}
	j.byGrp[k.group] = members
}

// Members returns the recorded members of group, in join order.
func (j *Joins) Members(group string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.byGrp[group])
}

// Len returns the number of memberships recorded, at most the bound.
func (j *Joins) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.order.Len()
}
