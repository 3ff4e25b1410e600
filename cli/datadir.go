package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imcallback/imcallback/config"
)

// dataDirLockName is the file in the data directory whose lock a running
// serve holds (see lockDataDir).
const dataDirLockName = "serve.lock"

// errDataDirInUse is serve's error on a data directory another serve holds.
var errDataDirInUse = errors.New("the data directory is in use by another imcallback serve")

// errLocked is lockFile's error on a file another open description holds.
var errLocked = errors.New("locked")

// usesDataDir reports whether the service of cfg keeps a store in its data
// directory: the SQLite topic store (IMCALLBACK_STORE_DSN empty) or the
// embedded JetStream (durable delivery without IMCALLBACK_NATS_URL). With
// PostgreSQL and a NATS cluster it holds no more than the iplist cache,
// which its writes replace whole, and which several services may share.
func usesDataDir(cfg *config.Config) bool {
	return cfg.StoreDSN == "" || cfg.Delivery == config.DeliveryDurable && cfg.NATSURL == ""
}

// lockDataDir takes the data directory of cfg for this serve, before the
// service is built and anything in the directory opened: an exclusive lock
// on dataDirLockName, which release gives back once the service has
// stopped. A second serve on the directory fails at once, naming it and
// the holder's pid: it opened the SQLite topic store, and ran its
// migrations, before the embedded JetStream's own lock refused it (with a
// newer binary, under the running older one), and with inline delivery
// nothing refused it at all. A data directory the service keeps no store
// in (usesDataDir) is not locked. Where flock(2) is missing (Windows)
// nothing is locked.
func lockDataDir(cfg *config.Config) (release func(), err error) {
	if !usesDataDir(cfg) {
		return func() {}, nil
	}
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%s %s: %w", config.EnvName("data_dir"), dir, err)
	}
	path := filepath.Join(dir, dataDirLockName)
	release, pid, err := lockFile(path)
	if errors.Is(err, errLocked) {
		holder := ""
		if pid > 0 {
			holder = fmt.Sprintf(" (pid %d)", pid)
		}
		return nil, fmt.Errorf("%w%s: %s %s (its lock %s is held); this one left the stores there untouched. "+
			"Stop the other one first, or give each service a data directory of its own",
			errDataDirInUse, holder, config.EnvName("data_dir"), dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: lock: %w", config.EnvName("data_dir"), dir, err)
	}
	return release, nil
}
