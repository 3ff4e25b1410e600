package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imsend"
	"github.com/imcallback/imcallback/internal/plainjson"
)

// sampleSource returns the sample body of a command, and lists the commands that have one.
type sampleSource interface {
	Sample(command string) ([]byte, bool)
	Commands() []string
}

// sendFlags are the flags of `imcallback send`.
type sendFlags struct {
	url, appID, token, command, file, platform string
	sample, list, unique                       bool
	repeat, concurrency                        int
	timeout                                    time.Duration
	// trustCert is the certificate file of the configured TLS listener
	// that url was built for (IMCALLBACK_TLS_CERT, or the file's
	// tls_cert), trusted beside the system's roots; "" without one.
	trustCert string
	// prog is the command line's name, in the command noAnswer names.
	prog string
}

// errRejected makes `send` exit non-zero when the answer is a rejection.
var errRejected = errors.New("the callback was rejected")

// errInterrupted is the error of a run a stop signal or the caller's
// context ended before it was done: send's --repeat run before every
// request was sent, events replay's requests before the last.
var errInterrupted = errors.New("interrupted")

func newSendCmd(g *globalFlags, samples sampleSource) *cobra.Command {
	f := sendFlags{prog: g.name}
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a callback the way Tencent IM does (signed), and print the answer",
		Long: "send builds the callback URL with SdkAppid, CallbackCommand, contenttype, ClientIP and OptPlatform,\n" +
			"appended to the query string --url may carry (which may not set any of them, nor Sign or RequestTime),\n" +
			"signs it like IM when a token is given, posts the body and prints the answer.\n" +
			"It exits non-zero when the answer is a rejection (HTTP status other than 200, or ActionStatus FAIL), is not IM's JSON envelope, or none comes.\n" +
			"With --repeat it counts the requests by outcome (accepted, rejected, without an answer) and HTTP status,\n" +
			"gives requests/s and latency over the answered ones, and exits non-zero when any request failed.\n" +
			"Without --url it posts to the public listener the service would open: IMCALLBACK_LISTEN and IMCALLBACK_PATH\n" +
			"(with --config, that file's), over https:// trusting IMCALLBACK_TLS_CERT's certificate when it is set.",
		Example: "  " + g.name + " send --command Group.CallbackAfterCreateTopic --sample\n" +
			"  " + g.name + " send --url http://127.0.0.1:8080/im/callback --appid 1400000000 --token T \\\n" +
			"      --command C2C.CallbackBeforeSendMsg --file body.json --repeat 1000 --concurrency 16\n" +
			"  " + g.name + " send --list",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.list {
				// It sends nothing: any other flag of send's would be ignored.
				var other string
				c.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
					if fl.Name != "list" && other == "" && c.Flags().Changed(fl.Name) {
						other = fl.Name
					}
				})
				if other != "" {
					return fmt.Errorf("--%s does not apply to --list, which prints every command's sample and sends nothing", other)
				}
				return listSamples(c.OutOrStdout(), samples)
			}
			if g.configFile != "" {
				if err := f.fromConfig(g, c.Flags().Changed); err != nil {
					return err
				}
				return runSend(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), f, samples)
			}
			// Unless given (even as ""), the app id and token come from the
			// environment here, not as flag defaults: --help never prints a token.
			if !c.Flags().Changed("appid") {
				id, err := firstOf("sdkappid", "1400000000")
				if err != nil {
					return err
				}
				f.appID = id
			}
			if !c.Flags().Changed("token") {
				token, err := envToken(f.appID)
				if err != nil {
					return err
				}
				f.token = token
			}
			if !c.Flags().Changed("url") {
				if err := f.urlFromEnv(); err != nil {
					return err
				}
			}
			return runSend(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), f, samples)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "callback URL, http:// or https://; a query string of its own is kept, the callback parameters appended to it, and may not name one of them "+
		"(default: the public listener the service would open, IMCALLBACK_LISTEN and IMCALLBACK_PATH, or with --config that file's with the environment over it, "+
		"https:// trusting the certificate when IMCALLBACK_TLS_CERT (tls_cert) is set; unset, http://127.0.0.1:8080/im/callback)")
	fl.StringVar(&f.appID, "appid", "", "SdkAppid to send (default: the first accepted app of --config, else of IMCALLBACK_SDKAPPID, else 1400000000)")
	fl.StringVar(&f.token, "token", "", "callback token to sign with; --token \"\" sends unsigned (default: the app's own first token, else the first global one; from --config with the environment over it, or from IMCALLBACK_APP_<appid>_TOKENS, else IMCALLBACK_TOKENS)")
	fl.StringVar(&f.command, "command", "", "CallbackCommand, e.g. Group.CallbackAfterCreateTopic")
	fl.StringVar(&f.file, "file", "", "file with the JSON body; - reads standard input")
	fl.BoolVar(&f.sample, "sample", false, "send the catalogue's sample body of --command")
	fl.StringVar(&f.platform, "platform", "RESTAPI", "OptPlatform to send")
	fl.IntVar(&f.repeat, "repeat", 1, "send the callback N times and report the outcomes, and requests/s and latency of the answered requests")
	fl.IntVar(&f.concurrency, "concurrency", 1, "with --repeat, how many requests are in flight at once")
	fl.BoolVar(&f.unique, "unique", false, "with --repeat, make each body unique, in this run and against earlier runs: id fields (…Id, …Key) get a _<run>_<n> suffix and EventTime a fresh value (a body without an id field gets ImcallbackSendSeq: \"<run>_<n>\"), so durable delivery stores every request instead of deduplicating them")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each request; 0: no timeout")
	fl.BoolVar(&f.list, "list", false, "list the commands that have a sample, with the sample")
	return cmd
}

// fromConfig takes the flags that were not given from the configuration
// of --config (with the environment over it), as the service built from it
// would verify: the first accepted app, its own first token else the
// first global one, and the public listener's callback URL.
func (f *sendFlags) fromConfig(g *globalFlags, given func(flag string) bool) error {
	cfg, _, err := g.load()
	if err != nil {
		return g.readsTheService("send --config", err)
	}
	if !given("appid") {
		f.appID = cfg.SdkAppIDs[0]
	}
	if !given("token") {
		f.token = cfg.SigningToken(f.appID)
	}
	if !given("url") {
		return f.listenerURL(cfg.Listen, cfg.Path, cfg.TLSCert)
	}
	return nil
}

// urlFromEnv sets the callback URL of the public listener the service
// would open with this environment: IMCALLBACK_LISTEN and IMCALLBACK_PATH,
// https:// with IMCALLBACK_TLS_CERT. They are read and checked as the
// service reads and checks them: trimmed, unset, empty or blank is the
// default, and a value serve would refuse is refused with its message.
// Like the app id and the token they are read alone: a setting the
// service would refuse elsewhere in the environment does not stop send.
func (f *sendFlags) urlFromEnv() error {
	c := config.Default()
	var problems []error
	for _, s := range []struct {
		key string
		v   *string
	}{{"listen", &c.Listen}, {"path", &c.Path}, {"tls_cert", &c.TLSCert}} {
		var err error
		if *s.v, err = envSetting(s.key, *s.v); err != nil {
			problems = append(problems, err)
		}
	}
	if joined, ok := c.Validate().(interface{ Unwrap() []error }); ok {
		for _, err := range joined.Unwrap() {
			if fe, ok := err.(*config.FieldError); ok && (fe.Key == "listen" || fe.Key == "path") {
				problems = append(problems, err)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("send without --url posts to the listener of the environment's settings: %w", errors.Join(problems...))
	}
	return f.listenerURL(c.Listen, c.Path, c.TLSCert)
}

// listenerURL sets the callback URL of a public listener bound to listen
// that serves path, over https when certFile (the listener's certificate,
// then trusted) is set. A wildcard host is reached on loopback.
func (f *sendFlags) listenerURL(listen, path, certFile string) error {
	addr, err := localAddress("listen", listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if certFile != "" {
		scheme = "https"
	}
	f.url, f.trustCert = scheme+"://"+addr+path, certFile
	return nil
}

// sendClient is the client that sends to a listener serving certFile's
// certificate, at host (the host of the URL built for it): it trusts that
// certificate whatever names it holds, since send reaches the listener on
// this machine (127.0.0.1 for a wildcard host) while a self-signed
// certificate is made for the service's public name or localhost; the
// handshake proves the listener holds its key. Any other certificate is
// verified for host against the system's roots and certFile's. The client
// keeps a connection per request in flight and, like IM, follows no
// redirect.
func sendClient(certFile, host string, concurrency int) (*http.Client, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvName("tls_cert"), err)
	}
	var own []*x509.Certificate
	for rest := pemBytes; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			own = append(own, c)
		}
	}
	if len(own) == 0 {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", config.EnvName("tls_cert"), certFile)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, c := range own {
		roots.AddCert(c)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the listener sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		if slices.ContainsFunc(own, leaf.Equal) {
			// Trusted whatever names it holds, but not outside its validity,
			// which IM checks: send would report OK where IM fails.
			if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
				return fmt.Errorf("the listener's certificate (%s) is valid from %s to %s, not now: IM, which verifies it, would refuse the handshake",
					config.EnvName("tls_cert"), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			return nil
		}
		opts := x509.VerifyOptions{Roots: roots, DNSName: host, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := leaf.Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
	// The usual verification checks the host name, which the service's own
	// certificate need not hold: verify does the whole check instead.
	return imsend.NewClient(concurrency, &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyConnection
		VerifyConnection:   verify,
	}), nil
}

// envToken is the token the service verifies app's callbacks with, from
// the environment: the first of the app's own (IMCALLBACK_APP_<app>_TOKENS)
// when it has one, else the first global one (IMCALLBACK_TOKENS). Each
// variable is found as the service finds it (config.LookupEnv), its name
// in any case after IMCALLBACK_ (IMCALLBACK_tokens).
func envToken(app string) (string, error) {
	global, err := firstOf("tokens", "")
	if err != nil {
		return "", err
	}
	return firstOf("app_"+app+"_tokens", global)
}

// firstOf is the first item of the list setting key in the environment,
// found and read as the service reads it (config.LookupEnv, then
// config.ParseList: unset or empty, def; an empty item, or two variables
// setting it differently, an error naming the variable), or def when it
// has none.
func firstOf(key, def string) (string, error) {
	name, value, err := config.LookupEnv(os.Environ(), key)
	if err != nil {
		return "", err
	}
	items, err := config.ParseList(value)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if len(items) > 0 {
		return items[0], nil
	}
	return def, nil
}

func runSend(ctx context.Context, stdout, stderr io.Writer, f sendFlags, samples sampleSource) error {
	if f.command == "" {
		return errors.New("--command is required (see --list)")
	}
	if f.repeat < 1 {
		return fmt.Errorf("--repeat %d: must be at least 1 (the number of requests to send)", f.repeat)
	}
	if f.concurrency < 1 {
		return fmt.Errorf("--concurrency %d: must be at least 1 (the requests in flight at once)", f.concurrency)
	}
	if f.timeout < 0 {
		return errors.New("--timeout must not be negative (0: no timeout)")
	}
	if strings.TrimSpace(f.platform) == "" {
		// The sender would send its default, RESTAPI, in its place.
		return errors.New("--platform is empty: give an OptPlatform (RESTAPI, iOS, Android, Web …), or leave the flag out for RESTAPI")
	}
	if strings.TrimSpace(f.appID) == "" {
		// Only --appid "" (or blank) leaves it so: IM never sends a
		// callback without SdkAppid, and the token picked for none is the
		// global one.
		return errors.New("--appid is empty: give the SdkAppid to send, or leave the flag out for the first accepted app " +
			"(--config's, else IMCALLBACK_SDKAPPID's, else 1400000000)")
	}
	if f.repeat == 1 && (f.unique || f.concurrency > 1) {
		return errors.New("--unique and --concurrency apply to --repeat runs: add --repeat N (N > 1)")
	}
	body, err := sendBody(f, samples)
	if err != nil {
		return err
	}
	if err := checkSendURL(f.url); err != nil {
		return err
	}
	if spelt := catalogueSpelling(f.command); spelt != "" {
		// Sent all the same (a program may register a name of its own), but
		// the service answers a command it has no handler for as allowed:
		// the "ok" below would read as a handler's.
		fmt.Fprintf(stderr, "note: %q is no command Tencent IM sends: command names are case-sensitive, and the catalogue's is %s; "+
			"a service without a handler of exactly that name answers it as allowed, running none\n", f.command, spelt)
	}
	s := &imsend.Sender{URL: f.url, AppID: f.appID, Token: f.token, OptPlatform: f.platform}
	if f.trustCert != "" {
		u, err := url.Parse(f.url)
		if err != nil {
			return err
		}
		client, err := sendClient(f.trustCert, u.Hostname(), min(f.concurrency, f.repeat))
		if err != nil {
			return err
		}
		defer client.CloseIdleConnections()
		s.Client = client
	}
	if f.repeat == 1 {
		if f.timeout > 0 { // 0: no timeout, as with --repeat (imsend.Load.Timeout)
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, f.timeout)
			defer cancel()
		}
		res, err := s.Send(ctx, f.command, body)
		if res == nil {
			return noAnswer(ctx, f, err)
		}
		printResult(stdout, res, err == nil)
		if err == nil && !res.OK() {
			err = errRejected
		}
		return redirected(f.url, res, err)
	}
	bodies := func(int) []byte { return body }
	if f.unique {
		if _, ok := uniqueBody(body, 0, 0); !ok {
			return errors.New("--unique needs a body that is a JSON object")
		}
		base := time.Now().UnixMilli() // IM's EventTime is in milliseconds
		bodies = func(i int) []byte {
			out, _ := uniqueBody(body, i, base)
			return out
		}
	}
	progress, clearBar := func(int) {}, func() {}
	if isTerminal(stderr) {
		bar := progressbar.NewOptions(f.repeat, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(f.command),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		progress = func(int) { _ = bar.Add(1) }
		// The bar clears itself when full only: a run stopped early leaves
		// it drawn, and the summary would be written on its line.
		clearBar = func() { _ = bar.Clear() }
	}
	// A stop signal (Ctrl-C) ends the run early with its summary.
	ctx, release := onStopSignal(ctx)
	defer release()
	rep, err := s.Run(ctx, imsend.Load{
		Command: f.command, Requests: f.repeat, Concurrency: f.concurrency, Timeout: f.timeout,
		Body:     bodies,
		Progress: progress,
	})
	clearBar() // Run has returned: no Progress call is left to draw it again
	if err != nil {
		return err
	}
	// Durable delivery deduplicates repeats of a body with an EventTime; one
	// without it tells apart by the second they were made in, RequestTime
	// or, unsigned, arrival (delivery.RequestFingerprint). It stores
	// after-callbacks only: a before-command's handler runs for every request.
	note := repeatsPerSecond
	switch e, ok := catalogue.Lookup(f.command); {
	case ok && e.Kind() != catalogue.After:
		note = repeatsRunAgain
	case delivery.HasEventTime(body):
		note = repeatsDuplicates
	}
	err = printLoad(stdout, rep, f, note)
	if rep.Requests < f.repeat && ctx.Err() != nil {
		return errors.Join(fmt.Errorf("%w after %d of %d requests", errInterrupted, rep.Requests, f.repeat), err)
	}
	return err
}

// catalogueSpelling is the catalogue's name of command when command is
// none of its commands as written, but one in another case or with spaces
// around it (group.callbackaftercreatetopic); "" otherwise.
func catalogueSpelling(command string) string {
	if _, ok := catalogue.Lookup(command); ok {
		return ""
	}
	for _, e := range catalogue.All() {
		if strings.EqualFold(e.Name(), strings.TrimSpace(command)) {
			return e.Name()
		}
	}
	return ""
}

// noAnswer is err, the failure of a send that got no answer, with what
// bound ran out or what to do: Go's own cause says only "context deadline
// exceeded", "connection refused" or "certificate signed by unknown
// authority". The URL is named as checkSendURL
// names it, without its user info, query string or fragment.
func noAnswer(ctx context.Context, f sendFlags, err error) error {
	switch {
	case f.timeout > 0 && errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer within --timeout %s: the endpoint did not answer in time; a longer --timeout (0: none) "+
			"waits longer: %w", f.timeout, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens at %s: start the service (%s serve), or give --url the endpoint's "+
			"address: %w", config.RedactQuery(config.RedactUserinfo(f.url)), f.prog, err)
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return fmt.Errorf("the certificate of %s is not trusted here: send trusts the system's roots and, without --url, "+
			"the service's own certificate (%s, tls_cert): %w", config.RedactQuery(config.RedactUserinfo(f.url)),
			config.EnvName("tls_cert"), err)
	}
	return err
}

// redirected is err, the failure of the answer to a request to sentTo,
// with where the answer redirects to when it is a redirect: IM follows
// none and counts the callback as failed, and the answer's body (empty,
// or a server's page) does not say so. The target is resolved against
// sentTo (a path's missing slash is often redirected with the path alone,
// no address --url takes) and named without its user info or query
// string, which a redirect copies from the request, Sign included.
func redirected(sentTo string, res *imsend.Result, err error) error {
	to := res.Header.Get("Location")
	if err == nil || to == "" || res.Status < 300 || res.Status > 399 {
		return err
	}
	if base, perr := url.Parse(sentTo); perr == nil {
		if target, perr := base.Parse(to); perr == nil {
			to = target.String()
		}
	}
	return fmt.Errorf("HTTP %d redirects to %s, which IM does not follow: it counts the callback as failed; "+
		"give --url (and IM's console) the address it redirects to: %w", res.Status,
		terminalText(config.RedactQuery(config.RedactUserinfo(to))), err)
}

// checkSendURL refuses a --url that is not an http(s) URL with a host
// (a bare host:port/path, say, which would fail every request with a
// parser's message) or whose query string names a callback parameter,
// before anything is sent. The refused URL is named without its user info
// (config.RedactUserinfo), query string or fragment (a gateway's key), as
// adminBase names --admin.
func checkSendURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: give an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/im/callback",
			config.RedactQuery(config.RedactUserinfo(raw)))
	}
	if err := imsend.CheckURL(raw); err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	return nil
}

// repeatNote is what durable delivery does with repeats of one body, which
// the summary of a --repeat run says.
type repeatNote int

const (
	// repeatsPerSecond: an after-callback's body without EventTime is
	// stored once per second of its RequestTime (or arrival).
	repeatsPerSecond repeatNote = iota
	// repeatsDuplicates: an after-callback's body with EventTime is stored
	// once, its repeats answered as duplicates.
	repeatsDuplicates
	// repeatsRunAgain: a before-command's body is never stored; its
	// handler decides each request, so there is nothing to say.
	repeatsRunAgain
)

// printLoad writes the summary of a --repeat run: the requests by outcome
// (accepted, rejected, without an answer), the rate and latency of those
// that got an answer, the count of each HTTP status, whether the accepted
// ones were all the same body (note says whether durable delivery stores
// that body once, once per second, or, a before-command's, not at all), and
// one failure. The error is a *loadFailures when any request failed, so
// that send exits non-zero.
func printLoad(w io.Writer, rep imsend.LoadReport, f sendFlags, note repeatNote) error {
	unanswered := rep.Statuses[-1]
	answered := rep.Requests - unanswered
	accepted := rep.Requests - rep.Failures // HTTP 200 with ActionStatus OK
	rejected := rep.Failures - unanswered   // an answer, but not that one
	sent := fmt.Sprintf("%d requests", rep.Requests)
	if rep.Requests < f.repeat {
		sent = fmt.Sprintf("%d of %d requests (stopped early)", rep.Requests, f.repeat)
	}
	outcomes := []string{fmt.Sprintf("%d accepted", accepted)}
	if rejected > 0 {
		outcomes = append(outcomes, fmt.Sprintf("%d rejected", rejected))
	}
	if unanswered > 0 {
		outcomes = append(outcomes, fmt.Sprintf("%d without an answer", unanswered))
	}
	fmt.Fprintf(w, "%s in %v: %s\n", sent, rep.Elapsed.Round(time.Millisecond), strings.Join(outcomes, ", "))
	if rep.Interrupted > 0 {
		// Sent, so the service may have handled them, but the stop did not
		// wait for their answers: not failures of the endpoint.
		fmt.Fprintf(w, "  %d more cut off by the stop, their answers not awaited\n", rep.Interrupted)
	}
	// The rate and the latency are the answered requests': a request
	// without one has no latency, and counting it would flatter the rate.
	if answered > 0 && rep.Elapsed > 0 {
		fmt.Fprintf(w, "  answered %d: %.0f req/s, p50 %v, p99 %v, max %v\n", answered, float64(answered)/rep.Elapsed.Seconds(),
			rep.P50.Round(time.Microsecond), rep.P99.Round(time.Microsecond), rep.Max.Round(time.Microsecond))
	} else {
		fmt.Fprintln(w, "  answered none: no rate or latency to report")
	}
	statuses := slices.Sorted(maps.Keys(rep.Statuses))
	for _, st := range statuses {
		n := rep.Statuses[st]
		switch {
		case st < 0:
			fmt.Fprintf(w, "  transport error: %d\n", n)
		case st == http.StatusOK && n > accepted:
			// The report counts answers by status; those of HTTP 200 that
			// were not accepted said ActionStatus FAIL or were no envelope.
			if accepted > 0 {
				fmt.Fprintf(w, "  HTTP 200: %d\n", accepted)
			}
			fmt.Fprintf(w, "  HTTP 200, not accepted (ActionStatus FAIL, or no envelope): %d\n", n-accepted)
		default:
			fmt.Fprintf(w, "  HTTP %d: %d\n", st, n)
		}
	}
	// Only answers of HTTP 200 were stored (or found to be duplicates):
	// the sentence is about them, when there were repeats among them.
	if !f.unique && accepted > 1 && note != repeatsRunAgain {
		which := fmt.Sprintf("all %d requests", accepted)
		if accepted < rep.Requests {
			which = fmt.Sprintf("the %d accepted requests", accepted)
		}
		if note == repeatsDuplicates {
			fmt.Fprintf(w, "  %s had the same body: with durable delivery every one after the first was a duplicate, "+
				"answered without being stored again (--unique varies the body)\n", which)
		} else {
			fmt.Fprintf(w, "  %s had the same body, with no EventTime: durable delivery tells such repeats apart by "+
				"the second they were made in (their RequestTime or, unsigned, their arrival), so those of the same "+
				"second were duplicates and the others were stored as new events (--unique varies the body)\n", which)
		}
	}
	if rep.Failures == 0 {
		return nil
	}
	fmt.Fprintf(w, "  first failure: %s\n", tableCell(rep.FirstError)) // the answer may hold control characters
	return &loadFailures{requests: rep.Requests, rejected: rejected, unanswered: unanswered}
}

// errNoAnswer makes `send --repeat` exit non-zero when a request got no
// answer (a transport error or --timeout).
var errNoAnswer = errors.New("no answer")

// loadFailures are the failed requests of a --repeat run. It is
// errRejected when any was rejected and errNoAnswer when any got no answer.
type loadFailures struct {
	requests, rejected, unanswered int
}

func (e *loadFailures) Error() string {
	var parts []string
	if e.rejected > 0 {
		parts = append(parts, fmt.Sprintf("%d rejected", e.rejected))
	}
	if e.unanswered > 0 {
		parts = append(parts, fmt.Sprintf("%d without an answer", e.unanswered))
	}
	return fmt.Sprintf("%d of %d requests failed: %s", e.rejected+e.unanswered, e.requests, strings.Join(parts, ", "))
}

func (e *loadFailures) Is(target error) bool {
	return target == errRejected && e.rejected > 0 || target == errNoAnswer && e.unanswered > 0
}

func sendBody(f sendFlags, samples sampleSource) ([]byte, error) {
	switch {
	case f.sample && f.file != "":
		return nil, errors.New("use --file or --sample, not both")
	case f.sample:
		body, ok := samples.Sample(f.command)
		if !ok {
			for _, c := range samples.Commands() {
				if strings.EqualFold(c, strings.TrimSpace(f.command)) {
					return nil, fmt.Errorf("no sample for %q: did you mean %s?", f.command, c)
				}
			}
			return nil, fmt.Errorf("no sample for %q (see --list)", f.command)
		}
		return body, nil
	case f.file == "-":
		return io.ReadAll(os.Stdin)
	case f.file != "":
		return os.ReadFile(f.file)
	}
	return nil, errors.New("give the body with --file or --sample")
}

// printResult shows the status, the answer and what it means. The answer
// is any endpoint's: what it says is printed through terminalText.
// envelope is false for an answer that is not IM's envelope (a proxy's
// page, an empty body: imsend's Send returned an error with it), whose zero
// Envelope says nothing: no code or info is printed for it, nor FAIL.
func printResult(w io.Writer, r *imsend.Result, envelope bool) {
	info := terminalText(r.Envelope.ErrorInfo)
	fmt.Fprintf(w, "HTTP %d\n%s\n", r.Status, terminalText(strings.TrimSpace(string(r.Body))))
	code, denied := r.Denied()
	ignoredCode, ignored := r.IgnoredError()
	switch {
	case !envelope && r.Status != 200:
		fmt.Fprintf(w, "rejected: HTTP %d, no envelope\n", r.Status)
	case !envelope:
		fmt.Fprintln(w, "failed: no envelope")
	case r.Status != 200:
		fmt.Fprintf(w, "rejected: HTTP %d, code %d: %s\n", r.Status, r.Envelope.ErrorCode, info)
	case r.Envelope.ActionStatus != "OK":
		fmt.Fprintf(w, "failed: code %d: %s\n", r.Envelope.ErrorCode, info)
	case r.Modified():
		names := make([]string, 0, len(r.Reply))
		for k := range r.Reply {
			names = append(names, k)
		}
		slices.Sort(names)
		fmt.Fprintf(w, "allowed, modified: %s\n", terminalText(strings.Join(names, ", ")))
	case r.Dropped():
		fmt.Fprintln(w, "dropped silently (ErrorCode 2)")
	case ignored:
		// IM ignores an after-callback's answer: its code decides nothing.
		fmt.Fprintf(w, "error, ignored by IM: code %d: %s (IM ignores an after-callback's answer: nothing is denied)\n", ignoredCode, info)
	case denied:
		fmt.Fprintf(w, "denied: code %d: %s\n", code, info)
	default:
		fmt.Fprintln(w, "ok")
	}
}

// terminalText is s as it can be printed on a terminal: line breaks and
// tabs stay, and every other control character (an escape sequence that
// would set the title or clear the screen, a carriage return that would
// overwrite the line) and every byte that is not UTF-8 is written
// escaped, as Go quotes it.
func terminalText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\n' || r == '\t' || strconv.IsGraphic(r):
			b.WriteString(s[:size])
		default:
			q := strconv.QuoteRuneToGraphic(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[size:]
	}
	return b.String()
}

func listSamples(w io.Writer, samples sampleSource) error {
	for _, name := range samples.Commands() {
		body, _ := samples.Sample(name)
		if _, err := fmt.Fprintf(w, "%s\n  %s\n", name, strings.Join(strings.Fields(string(body)), " ")); err != nil {
			return err // a file on a full disk: not a list cut short and exit 0
		}
	}
	return nil
}

// isTerminal reports whether w is a terminal, where a progress bar helps;
// in a pipe or a file it would only add noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// uniqueSeqField is the field uniqueBody adds to a body that has no id
// field it can vary; handlers ignore fields they do not know.
const uniqueSeqField = "ImcallbackSendSeq"

// uniqueBody is body made unique for request i of the run that started at
// base (Unix milliseconds): every top-level string field whose name ends
// in Id, ID or Key gets the suffix _<base>_<i>, and EventTime (when
// present) becomes base+i; a body without such an id field gets the field
// ImcallbackSendSeq: "<base>_<i>". The run's start is in each, so a run
// started while the dedup window still holds an earlier one's bodies
// (the same i, or an EventTime base+i the earlier run also sent) is stored
// too. A body that is not a JSON object is sent as it is, and ok is false.
func uniqueBody(body []byte, i int, base int64) (out []byte, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		return body, false
	}
	suffix := strconv.FormatInt(base, 10) + "_" + strconv.Itoa(i)
	varied := false
	for name, raw := range fields {
		var s string
		switch {
		case name == "EventTime":
			fields[name] = json.RawMessage(strconv.FormatInt(base+int64(i), 10))
		case (strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "ID") || strings.HasSuffix(name, "Key")) &&
			json.Unmarshal(raw, &s) == nil:
			fields[name], _ = plainjson.Marshal(s + "_" + suffix)
			varied = true
		}
	}
	if !varied {
		fields[uniqueSeqField], _ = plainjson.Marshal(suffix)
	}
	out, err := plainjson.Marshal(fields) // '<', '>' and '&' as IM sends them
	if err != nil {
		return body, false
	}
	return out, true
}
