package allowlist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// maxFile bounds a list file New reads.
const maxFile = 4 << 20

// listFile is the saved last good list of an app: Dir/iplist/<app>.json.
type listFile struct {
	App       string `json:"app"`
	FetchedAt string `json:"fetched_at"` // RFC 3339
	// NetTypes are the nettypes whose union the entries are, sorted; a
	// file without them (written before they were saved) is taken as the
	// list of the configured ones.
	NetTypes []int    `json:"nettypes,omitempty"`
	Entries  []string `json:"entries"`
}

// path is the file of app id under dir.
func path(dir, id string) string { return filepath.Join(dir, "iplist", id+".json") }

// load reads the app's saved list into its snapshot. A missing file is
// not an error: the app has no list. A file that cannot be used, or that
// is the list of other nettypes than the app's, is an error, kept as the
// snapshot's problem; skipped are the entries of a usable file that did
// not parse.
func (a *appState) load(dir string, now time.Time) (skipped []string, err error) {
	list, fetchedAt, skipped, err := readList(path(dir, a.id), a.id, a.netTypes, now)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		a.cur.Store(a.snapshot(nil, time.Time{}, err.Error()))
		return nil, err
	}
	a.cur.Store(a.snapshot(list, fetchedAt, ""))
	return skipped, nil
}

// maxAhead is how far a saved list's fetched_at may be ahead of the clock
// (a small step back of the clock since it was saved).
const maxAhead = 5 * time.Minute

// readList reads and checks the list file name of app id, whose list is
// the union of netTypes, at now. A fetched_at not after 1970 or more than
// maxAhead after now makes the file unusable: the list's age is unknown,
// and its last-success metric would keep ImcallbackAllowlistStale from
// ever firing while the refresh fails.
func readList(name, id string, netTypes []int, now time.Time) (list []netip.Prefix, fetchedAt time.Time, skipped []string, err error) {
	// Only a regular file: opening a FIFO left at the path would wait for a
	// writer, and the start with it.
	fi, err := os.Stat(name)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, nil, fmt.Errorf("%s is not a regular file (%s)", name, fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxFile {
		return nil, time.Time{}, nil, fmt.Errorf("%s is larger than %d bytes", name, maxFile)
	}
	var lf listFile
	if err := json.Unmarshal(data, &lf); err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("%s: not a list file: %w", name, err)
	}
	if lf.App != id {
		return nil, time.Time{}, nil, fmt.Errorf("%s holds the list of app %q, not %s", name, lf.App, id)
	}
	// A list of other nettypes (the setting changed since) may hold
	// addresses the app no longer accepts: it waits for a fetch instead.
	if saved, want := sortedInts(uniqueInts(lf.NetTypes)), sortedInts(netTypes); lf.NetTypes != nil && !slices.Equal(saved, want) {
		return nil, time.Time{}, nil, fmt.Errorf("%s holds the list of nettypes %v, not of the configured %v", name, saved, want)
	}
	if fetchedAt, err = time.Parse(time.RFC3339, lf.FetchedAt); err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("%s: fetched_at %q is not an RFC 3339 time", name, lf.FetchedAt)
	}
	if len(lf.Entries) > maxEntries {
		return nil, time.Time{}, nil, fmt.Errorf("%s holds %d entries, more than the %d a list may hold", name, len(lf.Entries), maxEntries)
	}
	list, skipped = parseEntries(lf.Entries)
	if len(list) == 0 {
		return nil, time.Time{}, nil, fmt.Errorf("%s holds no usable entry (%d entries)", name, len(lf.Entries))
	}
	if fetchedAt.Unix() <= 0 {
		return nil, time.Time{}, nil, fmt.Errorf("%s: fetched_at %s is not after 1970", name, lf.FetchedAt)
	}
	if fetchedAt.After(now.Add(maxAhead)) {
		return nil, time.Time{}, nil, fmt.Errorf("%s: fetched_at %s is in the future (the clock says %s)",
			name, lf.FetchedAt, now.UTC().Format(time.RFC3339))
	}
	return list, fetchedAt.UTC(), skipped, nil
}

// save writes the app's list, the union of netTypes, to its file
// atomically: a temporary file in the same directory, synced, then renamed
// over the old one, then iplist/ and dir synced (best effort).
func save(dir, id string, netTypes []int, list []netip.Prefix, fetchedAt time.Time) error {
	lf := listFile{App: id, FetchedAt: fetchedAt.UTC().Format(time.RFC3339), NetTypes: sortedInts(netTypes),
		Entries: make([]string, 0, len(list))}
	for _, p := range list {
		lf.Entries = append(lf.Entries, formatEntry(p))
	}
	data, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	name := path(dir, id)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+id+".json.tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	// Make the rename durable, and iplist/'s own entry in dir, which
	// MkdirAll may have just made: without it a crash could lose the
	// directory with the list. Best effort.
	_ = syncDir(filepath.Dir(name))
	_ = syncDir(dir)
	return nil
}

// syncDir syncs the directory name, making the entries changed in it
// durable; a variable so that the tests see which directories are synced.
var syncDir = func(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sortedInts returns a sorted copy of ns.
func sortedInts(ns []int) []int {
	out := slices.Clone(ns)
	slices.Sort(out)
	return out
}
