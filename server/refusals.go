package server

import (
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/internal/logevery"
	"github.com/imcallback/imcallback/protocol"
)

// refusalLogEvery is how often the public listener logs one reason of
// refusal at most.
const refusalLogEvery = time.Minute

// refusalMessage is the public listener's warning of its refusals.
const refusalMessage = "the public listener refused a connection before any handler ran; logged once a minute per reason"

// reasonTLSHandshake is the reason of a connection whose TLS handshake
// failed.
const reasonTLSHandshake = "tls_handshake_failed"

// refusalLog is the public listener's warning of the refusals no handler
// sees, so no access-log line shows: the answers net/http writes itself
// (a malformed request, headers over the limit, an unsupported Expect
// header, transfer encoding or HTTP version) and the connections refused
// beyond IMCALLBACK_MAX_CONNS. One line per reason per refusalLogEvery at
// most, so a flood does not flood the log, with how many came since the
// last line and the peer of the latest: an operator sees that a proxy or
// a client sends what net/http refuses. Nothing of the request is logged
// (its query may hold a Sign). It is safe for concurrent use: the
// connections' goroutines call it at once.
type refusalLog struct {
	log   *zap.Logger
	every time.Duration
	now   func() time.Time

	byReason logevery.Lines[string] // as many keys as the reasons the listener sends
}

func newRefusalLog(log *zap.Logger) *refusalLog {
	return &refusalLog{log: log, every: refusalLogEvery, now: time.Now}
}

// note counts a refusal of pe from remote and writes its reason's warning
// when it is due.
func (r *refusalLog) note(pe *protocol.Error, remote net.Addr) {
	r.write(pe.Reason, remoteIP(remote), zap.Int("error_code", pe.Code), zap.Int("status", pe.Status))
}

// noteHandshake counts a connection from peer (host:port, as net/http
// names it) whose TLS handshake failed with cause, and writes the warning
// when it is due. It has no error code nor status: nothing was answered.
func (r *refusalLog) noteHandshake(peer, cause string) {
	r.write(reasonTLSHandshake, hostOf(peer), zap.String("error", cause))
}

// write counts a refusal of reason from the IP ip and, when its warning is
// due, writes it with the details and the refusals since the last line,
// this one included.
func (r *refusalLog) write(reason, ip string, details ...zap.Field) {
	due, count := r.byReason.Note(reason, r.now(), r.every)
	if !due {
		return
	}
	fields := append([]zap.Field{zap.String("reason", reason)}, details...)
	r.log.Warn(refusalMessage, append(fields, zap.String("remote_ip", ip), zap.Int("count_since_last_line", count))...)
}

// handshakeErrorPrefix starts net/http's log line of a failed TLS
// handshake: "http: TLS handshake error from <host:port>: <cause>".
const handshakeErrorPrefix = "http: TLS handshake error from "

// netHTTPLog is the public listener's net/http error log. Its lines are
// warnings of their own, but for a failed TLS handshake: net/http logs one
// for every connection that closes, or speaks other than TLS, before its
// handshake is done (a load balancer's TCP health check, a port scan, a
// client of plain HTTP), so anyone reaching the port could fill the log.
// Those go to the refusal log, once a minute with the count, and each is
// counted in handshakes (with TLS on).
type netHTTPLog struct {
	log        *zap.Logger
	refusals   *refusalLog
	handshakes prometheus.Counter // nil without TLS: no handshake fails
}

// newHandshakeErrors is imcallback_tls_handshake_errors_total, registered
// on reg.
func newHandshakeErrors(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "imcallback_tls_handshake_errors_total",
		Help: "Connections to the public listener whose TLS handshake failed (a TCP health check, a scan, plain HTTP, a client refusing the certificate).",
	})
	return c, reg.Register(c)
}

// Write takes one line of net/http's log.
func (w *netHTTPLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if rest, ok := strings.CutPrefix(msg, handshakeErrorPrefix); ok {
		if peer, cause, ok := strings.Cut(rest, ": "); ok {
			if w.handshakes != nil {
				w.handshakes.Inc()
			}
			w.refusals.noteHandshake(peer, cause)
			return len(p), nil
		}
	}
	w.log.Warn(msg)
	return len(p), nil
}

// remoteIP is the IP of a connection's peer, without its port.
func remoteIP(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return hostOf(addr.String())
}

// hostOf is the host of a host:port, hostport itself without a port.
func hostOf(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}
