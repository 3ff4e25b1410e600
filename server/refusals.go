package server

import (
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/internal/logevery"
	"github.com/imcallback/imcallback/protocol"
)

// refusalLogEvery is how often the public listener logs one reason of
// refusal at most.
const refusalLogEvery = time.Minute

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

	mu       sync.Mutex
	byReason map[string]*logevery.Line // as many keys as the reasons the listener sends
}

func newRefusalLog(log *zap.Logger) *refusalLog {
	return &refusalLog{log: log, every: refusalLogEvery, now: time.Now, byReason: map[string]*logevery.Line{}}
}

// note counts a refusal of pe from remote and writes its reason's warning
// when it is due.
func (r *refusalLog) note(pe *protocol.Error, remote net.Addr) {
	now := r.now()
	r.mu.Lock()
	line := r.byReason[pe.Reason]
	if line == nil {
		line = &logevery.Line{}
		r.byReason[pe.Reason] = line
	}
	due, count := line.Note(now, r.every)
	r.mu.Unlock()
	if !due {
		return
	}
	r.log.Warn("the public listener refused a connection before any handler ran; logged once a minute per reason",
		zap.String("reason", pe.Reason), zap.Int("error_code", pe.Code), zap.Int("status", pe.Status),
		zap.String("remote_ip", remoteIP(remote)), zap.Int("count_since_last_line", count))
}

// remoteIP is the IP of a connection's peer, without its port.
func remoteIP(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
