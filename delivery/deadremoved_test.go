package delivery_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/imcallback/imcallback/delivery"
)

// storeMixedDeadLetters stores a dead letter of each work-stream sequence
// from from to to, of testCommand or otherCommand by turns, every third
// for a forward destination (one of two).
func storeMixedDeadLetters(t *testing.T, s started, from, to uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for orig := from; orig <= to; orig++ {
		command := []string{testCommand, otherCommand}[orig%2]
		m := nats.NewMsg(s.Options().DeadPrefix() + ".1400000000." + command)
		m.Header.Set(delivery.HeaderCommand, command)
		if orig%3 == 0 {
			m.Header.Set(delivery.HeaderTarget, fmt.Sprint("dest", orig%2))
		}
		m.Header.Set(delivery.HeaderDeadSeq, fmt.Sprint(orig))
		m.Header.Set(delivery.HeaderDeadMsgID, fmt.Sprint("id-", orig))
		m.Header.Set(delivery.HeaderDeadDeliveries, "1")
		m.Header.Set(delivery.HeaderDeadError, "down")
		if _, err := s.Conn().JS.PublishMsg(ctx, m); err != nil {
			t.Fatalf("dead letter of %d: %v", orig, err)
		}
	}
}

// deadCounts are the dead-letter counts the admin API shows.
type deadCounts struct {
	total, unnamed int
	byDest         map[string]int
	byCommand      map[string]int
}

// countsOf reads the dead-letter counts of s's admin API, and how many
// message headers GET /v1/dead-letters read.
func countsOf(t *testing.T, s started) (deadCounts, uint64) {
	t.Helper()
	get := adminGet(t, s)
	var list struct {
		Total  int            `json:"total"`
		ByDest map[string]int `json:"by_destination"`
	}
	read := get("/v1/dead-letters?limit=1", &list)
	var status struct {
		Commands []delivery.CommandState `json:"commands"`
		Unnamed  int                     `json:"dead_letters_without_command"`
	}
	get("/v1/delivery", &status)
	c := deadCounts{total: list.Total, unnamed: status.Unnamed, byDest: list.ByDest, byCommand: map[string]int{}}
	for _, cmd := range status.Commands {
		if cmd.DeadLetters > 0 {
			c.byCommand[cmd.Command] = cmd.DeadLetters
		}
	}
	return c, read
}

// fullCounts are the dead-letter counts a read of the whole dead-letter
// stream gives: what a service that never read it before shows.
func fullCounts(t *testing.T, s started) deadCounts {
	t.Helper()
	c := deadCounts{byDest: map[string]int{}, byCommand: map[string]int{}}
	for _, d := range deadLetters(t, events(t, s)) {
		c.total++
		if d.Destination != "" {
			c.byDest[d.Destination]++
		}
		if d.Command == "" {
			c.unnamed++
		} else {
			c.byCommand[d.Command]++
		}
	}
	return c
}

func (c deadCounts) equal(o deadCounts) bool {
	return c.total == o.total && c.unnamed == o.unnamed && maps.Equal(c.byDest, o.byDest) && maps.Equal(c.byCommand, o.byCommand)
}

// replayThrough posts body to POST /v1/events/replay of s's admin API and
// fails the test unless it is answered 200.
func replayThrough(t *testing.T, s started, body string) {
	t.Helper()
	replayAnswerOf(t, s, body)
}

// TestAReplayTakesItsLettersOffTheDeadLetterCounts: after the admin API
// replayed dead letters (and so removed them from the dead-letter stream),
// its next read of the dead letters (the console's next poll) read the
// whole stream again: seconds with millions of letters. It takes the
// letters it removed off its counts and reads only the letters stored
// since, and its counts are those a read of the whole stream gives (a
// service that never read it), after a replay of some letters and of all.
func TestAReplayTakesItsLettersOffTheDeadLetterCounts(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	s.SetDeadCacheLetters(10)
	storeMixedDeadLetters(t, s, 1, 300)
	if c, read := countsOf(t, s); c.total != 300 || read < 300 {
		t.Fatalf("the first read: total %d, %d headers read; want 300 and every letter read", c.total, read)
	}

	// 3 and 150 no longer held (in the index), 297 and 299 held; 3, 150
	// and 297 of a destination.
	replayThrough(t, s, `{"dead":true,"seqs":[3,150,297,299]}`)
	storeMixedDeadLetters(t, s, 301, 305)
	got, read := countsOf(t, s)
	if want := 300 - 4 + 5; got.total != want {
		t.Errorf("after the replay: total %d, want %d", got.total, want)
	}
	if read > 5+2 {
		t.Errorf("the listing after the replay read %d message headers, want the 5 letters stored since and the 2 listed at most", read)
	}
	if fresh := fullCounts(t, s); !got.equal(fresh) {
		t.Errorf("after the replay the counts are %+v, a fresh read's %+v", got, fresh)
	}

	replayThrough(t, s, `{"dead":true}`)
	got, read = countsOf(t, s)
	if got.total != 0 || read != 0 {
		t.Errorf("after a replay of every letter: total %d, %d headers read; want 0 and none", got.total, read)
	}
	if fresh := fullCounts(t, s); !got.equal(fresh) {
		t.Errorf("after a replay of every letter the counts are %+v, a fresh read's %+v", got, fresh)
	}
}

// TestALetterRemovedOtherwiseIsReadAgain: a dead letter removed by
// anything but the admin API's own replays (another replica, the offline
// tool, by hand), also alongside one of its replays, has the dead-letter
// stream read whole again, so the counts stay those of a full read.
func TestALetterRemovedOtherwiseIsReadAgain(t *testing.T) {
	for _, tt := range []struct {
		name   string
		replay string // before the removal by hand; "": none
	}{
		{name: "removed by hand"},
		{name: "and replayed", replay: `{"dead":true,"seqs":[4,298]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, backend{name: "embedded"})
			s := start(t, o, nil)
			s.SetDeadCacheLetters(10)
			storeMixedDeadLetters(t, s, 1, 300)
			countsOf(t, s)
			if tt.replay != "" {
				replayThrough(t, s, tt.replay)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := s.Conn().JS.Stream(ctx, o.DeadStream())
			if err != nil {
				t.Fatal(err)
			}
			// Dead-letter sequence 9 is the letter of 9: otherCommand, dest1.
			if err := st.DeleteMsg(ctx, 9); err != nil {
				t.Fatal(err)
			}
			left := len(deadLetters(t, events(t, s)))
			got, read := countsOf(t, s)
			if got.total != left || read < uint64(left) {
				t.Errorf("after a removal by hand: total %d, %d headers read; want %d, every letter read again", got.total, read, left)
			}
			if fresh := fullCounts(t, s); !got.equal(fresh) {
				t.Errorf("the counts are %+v, a fresh read's %+v", got, fresh)
			}
		})
	}
}
