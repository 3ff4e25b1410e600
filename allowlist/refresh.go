package allowlist

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// retryBase is the longest first wait after a failed refresh.
	retryBase = time.Minute
	// retryMax is the longest wait after a failed refresh, whatever the
	// refresh interval: an app without a list refuses every callback until
	// a fetch succeeds, and ImcallbackAllowlistStale needs an error every
	// 3 hours to keep firing while the refresh fails.
	retryMax = time.Hour
	// fetchTimeout bounds one refresh of one app (all its nettypes).
	fetchTimeout = 30 * time.Second
	// jitterFraction spreads the waits by ± this fraction.
	jitterFraction = 0.1
)

// ErrStarted is returned by Start when the Set was started or stopped before.
var ErrStarted = errors.New("allowlist: started or stopped before")

// Start fetches the list of every IPList app once, concurrently, waiting
// at most until ctx is done or, when ctx has a deadline, until half the
// time left to it has passed: an fx start fails when its context ends,
// whatever the hook returns, and the rest of the start needs its share. A
// fetch still running then is cut short, a failure as any other: it is
// logged (and leaves the app with its saved list, or none), not returned.
// Then it refreshes every list in the background until Stop. It returns an
// error only when called twice.
func (s *Set) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return ErrStarted
	}
	s.started = true
	loop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	// The first fetches end with ctx, halfway to its deadline, or with Stop
	// as every refresh does. Bounded by ctx alone, a Tencent that accepts
	// the call and never answers (the fetch's 30 s) failed a start bounded
	// tighter (IMCALLBACK_START_TIMEOUT), although the apps had their
	// saved lists.
	firstCtx, cancelFirst := context.WithCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		cancelFirst()
		firstCtx, cancelFirst = context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)/2))
	}
	defer cancelFirst()
	unlink := context.AfterFunc(loop, cancelFirst)
	defer unlink()
	// The goroutines are added before Stop can wait for them.
	var first sync.WaitGroup
	first.Add(len(s.listed))
	for _, a := range s.listed {
		s.wg.Go(func() { s.run(firstCtx, loop, a, first.Done) })
	}
	done := make(chan struct{})
	s.wg.Go(func() {
		first.Wait()
		close(done)
	})
	s.mu.Unlock()

	select {
	case <-done:
	case <-firstCtx.Done():
		if loop.Err() == nil { // not a Stop
			s.log.Warn("iplist: start ended before every first fetch did", zap.Error(firstCtx.Err()))
		}
	}
	return nil
}

// Stop ends the refresh loop and waits for it, at most until ctx is done;
// a Start still waiting for its first fetches returns, those cut short.
// A Set that was never started stops at once; a stopped Set does not start.
func (s *Set) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("allowlist: stopping the refresh loop: %w", ctx.Err())
	}
}

// RefreshNow refreshes the list of every IPList app once, concurrently,
// and returns the failures joined (the failed apps keep their last good
// list). A refresh of an app waits for one already running, at most until
// ctx is done: then it fails with ctx's error, and the running one goes on.
func (s *Set) RefreshNow(ctx context.Context) error {
	errs := make([]error, len(s.listed))
	var wg sync.WaitGroup
	for i, a := range s.listed {
		wg.Go(func() { errs[i] = s.refresh(ctx, a) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run is the refresh loop of one app: the first fetch on first (then
// started is called), then one refresh per Refresh, sooner after a failure,
// until loop is done.
func (s *Set) run(first, loop context.Context, a *appState, started func()) {
	failures := 0
	if s.refresh(first, a) != nil {
		failures = 1
	}
	started()
	for {
		t := time.NewTimer(jitter(retryDelay(s.every, failures), rand.Float64()))
		select {
		case <-loop.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s.refresh(loop, a) != nil {
			failures++
		} else {
			failures = 0
		}
	}
}

// retryDelay is the wait before the next refresh after failures
// consecutive failed ones: refresh after a success, else min(refresh,
// retryBase) doubled per failure after the first, at most refresh and at
// most retryMax.
func retryDelay(refresh time.Duration, failures int) time.Duration {
	if failures <= 0 {
		return refresh
	}
	most := min(refresh, retryMax)
	d := min(refresh, retryBase)
	for i := 1; i < failures && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// jitter spreads d by ±10%: u, in [0, 1), picks the point in [0.9d, 1.1d).
func jitter(d time.Duration, u float64) time.Duration {
	return d + time.Duration((2*u-1)*jitterFraction*float64(d))
}

// refresh fetches the app's list and, on success, makes it current and
// saves it. A failure keeps the last good list. A fetch cut short because
// ctx was canceled (Stop, or a caller of RefreshNow that went away) is no
// failure of the list's source: it is not counted, logged as a failure,
// or kept as the app's problem; nor is a wait for the app's refresh
// running that ends with ctx.
func (s *Set) refresh(ctx context.Context, a *appState) error {
	// The slot is taken at once when free, whatever ctx says (the fetch
	// then ends with ctx, as it did under a mutex); only a wait for a
	// refresh running ends with ctx, and that refresh goes on for its
	// caller. One select over both would pick either at random when ctx
	// is done and the slot free.
	select {
	case a.refreshing <- struct{}{}:
	default:
		select {
		case a.refreshing <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("allowlist: app %s: waiting for the refresh running: %w", a.id, ctx.Err())
		}
	}
	defer func() { <-a.refreshing }()
	list, skipped, err := s.fetch(ctx, a)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		s.log.Debug("iplist: refresh cut short", zap.String("app", a.id), zap.Error(err))
		return fmt.Errorf("allowlist: app %s: %w", a.id, err)
	}
	if err != nil {
		s.m.errors.WithLabelValues(a.id).Inc()
		a.withProblem(err.Error())
		prev := a.cur.Load()
		if prev.tencent == nil {
			s.log.Warn("iplist: refresh failed; the app has no list and refuses every callback",
				zap.String("app", a.id), zap.Error(err))
		} else {
			s.log.Warn("iplist: refresh failed; keeping the last good list",
				zap.String("app", a.id), zap.Int("entries", len(prev.tencent)), zap.Time("fetched_at", prev.fetchedAt), zap.Error(err))
		}
		return fmt.Errorf("allowlist: app %s: %w", a.id, err)
	}
	fetchedAt := s.now().UTC().Truncate(time.Second)
	prev := a.cur.Load()
	added, removed := diff(prev.tencent, list)
	// Skipped entries are addresses Tencent says its callbacks come from,
	// refused while the rest applies: the check iplist_refresh names them.
	problem := ""
	if len(skipped) > 0 {
		problem = fmt.Sprintf("the answer held %d unusable entries, refused: %s", len(skipped), strings.Join(examples(skipped), ", "))
	}
	a.cur.Store(a.snapshot(list, fetchedAt, problem))
	s.m.entries.WithLabelValues(a.id).Set(float64(len(list)))
	s.m.lastSuccess.WithLabelValues(a.id).Set(float64(fetchedAt.Unix()))
	fields := []zap.Field{zap.String("app", a.id), zap.Int("entries", len(list)), zap.Int("added", added), zap.Int("removed", removed)}
	if prev.tencent == nil || added > 0 || removed > 0 {
		s.log.Info("iplist: refreshed", fields...)
	} else {
		s.log.Debug("iplist: refreshed, unchanged", fields...)
	}
	if err := save(s.dir, a.id, a.netTypes, list, fetchedAt); err != nil {
		s.m.errors.WithLabelValues(a.id).Inc()
		err = fmt.Errorf("saving the list: %w", err)
		a.withProblem(err.Error())
		s.log.Error("iplist: could not save the list; it applies until a restart", zap.String("app", a.id), zap.Error(err))
		return fmt.Errorf("allowlist: app %s: %w", a.id, err)
	}
	return nil
}

// fetch asks for every nettype of the app: the union of the answers and
// the raw entries skipped, or an error when a call fails, an answer holds
// no usable address, or an answer or the union holds more than maxEntries.
func (s *Set) fetch(ctx context.Context, a *appState) (all []netip.Prefix, allSkipped []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	for _, nt := range a.netTypes {
		raw, err := a.client.GetIPList(ctx, nt)
		if err != nil {
			return nil, nil, fmt.Errorf("GetIPList nettype %d: %w", nt, err)
		}
		if len(raw) > maxEntries {
			return nil, nil, fmt.Errorf("GetIPList nettype %d answered %d entries, more than the %d a list may hold", nt, len(raw), maxEntries)
		}
		list, skipped := parseEntries(raw)
		if len(list) == 0 {
			return nil, nil, fmt.Errorf("GetIPList nettype %d answered no usable address (%d entries, %d unusable)", nt, len(raw), len(skipped))
		}
		if len(skipped) > 0 {
			s.log.Warn("iplist: skipped unusable entries", zap.String("app", a.id), zap.Int("nettype", nt),
				zap.Int("skipped", len(skipped)), zap.Int("entries", len(list)), zap.Strings("examples", examples(skipped)))
		}
		all = append(all, list...)
		allSkipped = append(allSkipped, skipped...)
	}
	all = sortUnique(all)
	if len(all) > maxEntries {
		return nil, nil, fmt.Errorf("GetIPList answered %d entries in all, more than the %d a list may hold", len(all), maxEntries)
	}
	return all, allSkipped, nil
}

// diff counts the entries of next not in prev, and of prev not in next;
// both are sorted.
func diff(prev, next []netip.Prefix) (added, removed int) {
	i, j := 0, 0
	for i < len(prev) && j < len(next) {
		switch c := prev[i].Compare(next[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			removed++
			i++
		default:
			added++
			j++
		}
	}
	return added + len(next) - j, removed + len(prev) - i
}
