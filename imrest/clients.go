package imrest

import (
	"fmt"
	"io"
	"maps"
	"slices"
)

// Clients are the REST clients of several apps, by SdkAppID: the apps
// configured with a secret key. The service provides them through fx, so a
// handler calls IM as the administrator of its event's app:
//
//	func NewEcho(clients *imrest.Clients) dispatcher.Command {
//		return bot.OnC2CMessageCommand.Handle(func(ctx context.Context, ev *dispatcher.Event[bot.OnC2CMessage]) error {
//			c, err := clients.For(ev.AppID)
//			if err != nil {
//				return err
//			}
//			msg := … // the reply, MsgSeq and MsgRandom from ev (README, "REST client")
//			return c.Call(ctx, "v4/openim/sendmsg", msg, nil) // an error: durable delivery retries
//		})
//	}
type Clients struct {
	byApp map[string]*Client
}

// NewClients builds a client per config; every SdkAppID may appear once.
func NewClients(configs ...Config) (*Clients, error) {
	cs := &Clients{byApp: make(map[string]*Client, len(configs))}
	for _, cfg := range configs {
		if _, dup := cs.byApp[cfg.SdkAppID]; dup {
			return nil, fmt.Errorf("%w: SdkAppID %s twice", ErrInvalidArgument, cfg.SdkAppID)
		}
		c, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("imrest: app %s: %w", cfg.SdkAppID, err)
		}
		cs.byApp[cfg.SdkAppID] = c
	}
	return cs, nil
}

// For is the client of app id; an app without a secret key has none.
func (cs *Clients) For(id string) (*Client, error) {
	if c, ok := cs.byApp[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("imrest: app %s has no REST client: configure its secret_key (IMCALLBACK_APP_%s_SECRET_KEY)", id, id)
}

// CloseIdleConnections closes every client's kept-alive connections
// (Client.CloseIdleConnections); the service does so when it stops.
func (cs *Clients) CloseIdleConnections() {
	for _, c := range cs.byApp {
		c.CloseIdleConnections()
	}
}

// String lists the SdkAppIDs the clients call for, nothing of their keys
// or UserSigs.
func (cs *Clients) String() string {
	return fmt.Sprintf("imrest.Clients{SdkAppIDs:%v}", slices.Sorted(maps.Keys(cs.byApp)))
}

// Format writes String for every verb: fmt would otherwise print a verb it
// has no use for on a pointer (%s or %q of the map's *Client) as the
// Client's fields, secret key and cached UserSig included.
func (cs *Clients) Format(f fmt.State, _ rune) { io.WriteString(f, cs.String()) }
