package server

import (
	"context"
	"crypto/tls"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// certificateCheckEvery is how often the public listener looks whether
// its certificate's files changed: a renewal (cert-manager, certbot, a
// Secret's new version) written over them is served within it.
const certificateCheckEvery = time.Minute

// certificates serves the public listener's certificate and picks up a
// renewed one written over its files, without a restart. A pair that does
// not load (a key for another certificate, a file half written, a key the
// service's user cannot read) is logged once, and the certificate served
// until then stays; the expiry gauge keeps its expiry, so the expiry alert
// fires if the renewal never loads. It is loaded again at each look until
// it loads: a fix in place (chmod, chown) changes no stamp.
type certificates struct {
	certFile, keyFile string
	log               *zap.Logger
	expiry            prometheus.Gauge

	current atomic.Pointer[tls.Certificate]

	mu     sync.Mutex
	loaded fileStamps // the files as they were when current was read
	failed fileStamps // the files whose pair last failed to load, logged once
}

// fileStamps tells a change of the certificate's and the key's files: a
// file written over, renamed over, or a mounted Secret's new version.
type fileStamps struct {
	cert, key fileStamp
}

// fileStamp is what a file's stat says of its content.
type fileStamp struct {
	size    int64
	modTime time.Time
	missing bool
}

// stampOf is path's fileStamp; a file that cannot be read is missing.
func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{missing: true}
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}
}

// stamps are the certificate's and the key's files as they are now.
func (c *certificates) stamps() fileStamps {
	return fileStamps{cert: stampOf(c.certFile), key: stampOf(c.keyFile)}
}

// newCertificates loads the public listener's certificate, exposes its
// expiry as imcallback_tls_certificate_expiry_timestamp_seconds on reg and
// warns when it expires soon (reportCertificateExpiry).
func newCertificates(reg prometheus.Registerer, log *zap.Logger, certFile, keyFile string) (*certificates, error) {
	c := &certificates{certFile: certFile, keyFile: keyFile, log: log}
	c.loaded = c.stamps()
	cert, err := config.LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if c.expiry, err = reportCertificateExpiry(reg, log, certFile, cert, time.Now()); err != nil {
		return nil, err
	}
	c.current.Store(&cert)
	return c, nil
}

// getCertificate is tls.Config's GetCertificate: the certificate loaded
// last.
func (c *certificates) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// check loads the pair again when its files changed since it was loaded,
// and serves it once it loads; a pair that does not load is logged once
// per change of the files, and the current certificate kept.
func (c *certificates) check() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.stamps()
	if now == c.loaded {
		return
	}
	cert, err := config.LoadKeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.loadFailed(now, "the TLS certificate's files changed, but the pair does not load; the previous certificate is served", err)
		return
	}
	leaf, err := leafOf(cert)
	if err != nil { // LoadKeyPair parsed it: not seen
		c.loadFailed(now, "the TLS certificate's files changed, but the certificate does not parse; the previous one is served", err)
		return
	}
	c.loaded, c.failed = now, fileStamps{}
	c.current.Store(&cert)
	c.expiry.Set(float64(leaf.NotAfter.Unix()))
	c.log.Info("TLS certificate reloaded", zap.String("file", c.certFile),
		zap.String("not_after", leaf.NotAfter.UTC().Format(time.RFC3339)))
	warnCertificateExpiry(c.log, c.certFile, leaf, time.Now())
}

// loadFailed logs msg and err unless the files, as now, were logged
// already. Callers hold c.mu.
func (c *certificates) loadFailed(now fileStamps, msg string, err error) {
	if now == c.failed {
		return
	}
	c.failed = now
	c.log.Error(msg, zap.String("file", c.certFile), zap.Error(err))
}

// hook checks the files every certificateCheckEvery while the service
// runs.
func (c *certificates) hook() fx.Hook {
	stop := make(chan struct{})
	var done sync.WaitGroup
	return fx.Hook{
		OnStart: func(context.Context) error {
			done.Go(func() {
				t := time.NewTicker(certificateCheckEvery)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						c.check()
					}
				}
			})
			return nil
		},
		OnStop: func(context.Context) error {
			close(stop)
			done.Wait()
			return nil
		},
	}
}
