// natsdiff: what the real NATS client (nats.go) does with a NATS_URL value.
//
// Reads one JSON array of URL lists (strings, or objects with a "url" string) from the file
// named by the only argument, or from stdin, and prints one JSON object per list, in order:
//
//	{"index":0,"url":"<redacted>","outcome":"encrypted|plaintext|refused","error":"...","detail":"..."}
//
// Each list is handed to nats.Connect as written, with no option that touches transport security,
// twice: once with every connection routed to a plaintext nats-server (and a plaintext websocket
// listener), once to a TLS-only one (and a TLS websocket listener). Outcomes:
//
//	plaintext  the client connected to the plaintext server without TLS;
//	encrypted  it refused the plaintext server without sending it a plaintext byte, and connected
//	           to the TLS server over TLS;
//	refused    it connected to neither (parse error, websocket mixing, an address no dial can
//	           reach, ...); "error" says why, with URL userinfo redacted.
//
// Anything else is reported as "inconclusive" and the exit status is 3. Setup failures exit 2.
// See docs/natsgo-differential.md.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

type result struct {
	Index   int    `json:"index"`
	URL     string `json:"url"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
	Detail  string `json:"detail"`
}

type attempt struct {
	connected bool
	tlsState  bool // the established connection is a *tls.Conn (NATS over TCP only)
	err       error
	obs       *observation
}

func main() {
	lists, err := readInput(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsdiff: %v\n", err)
		os.Exit(2)
	}
	e, err := newEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsdiff: setting up the local servers: %v\n", err)
		os.Exit(2)
	}
	defer e.close()
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	status := 0
	for i, raw := range lists {
		r := classify(e, raw)
		r.Index = i
		if r.Outcome == "inconclusive" {
			status = 3
		}
		if err := out.Encode(r); err != nil {
			fmt.Fprintf(os.Stderr, "natsdiff: writing the result: %v\n", err)
			e.close()
			os.Exit(2)
		}
	}
	if status != 0 {
		e.close()
		os.Exit(status)
	}
}

func readInput(args []string) ([]string, error) {
	var data []byte
	var err error
	switch len(args) {
	case 0:
		data, err = io.ReadAll(os.Stdin)
	case 1:
		data, err = os.ReadFile(args[0])
	default:
		return nil, errors.New("usage: natsdiff [FILE]  (a JSON array of URL lists; stdin without FILE)")
	}
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("input is not a JSON array: %w", err)
	}
	lists := make([]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			lists = append(lists, s)
			continue
		}
		var o struct {
			URL *string `json:"url"`
		}
		if err := json.Unmarshal(it, &o); err != nil || o.URL == nil {
			return nil, fmt.Errorf("item %d is neither a string nor an object with a \"url\" string", i)
		}
		lists = append(lists, *o.URL)
	}
	return lists, nil
}

// try hands raw to nats.Connect with every connection routed to ep. No outcome this harness can
// produce involves a timeout (every listener is local), so a timed-out attempt means a starved
// machine and is repeated, up to three times in all.
func try(e *env, raw string, ep endpoints) attempt {
	var a attempt
	for i := 0; i < 3; i++ {
		if a = tryOnce(e, raw, ep); !timedOut(a.err) {
			break
		}
	}
	return a
}

func timedOut(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "timeout"))
}

func tryOnce(e *env, raw string, ep endpoints) attempt {
	a := attempt{obs: &observation{}}
	nc, err := nats.Connect(raw,
		nats.SetCustomDialer(&routeDialer{env: e, ep: ep, obs: a.obs}),
		nats.Timeout(dialTimeout),
		nats.NoReconnect(),
		nats.Name("natsdiff"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	)
	if err != nil {
		a.err = err
		return a
	}
	a.connected = true
	if _, err := nc.TLSConnectionState(); err == nil {
		a.tlsState = true
	}
	nc.Close()
	return a
}

func classify(e *env, raw string) result {
	r := result{URL: redactURL(raw)}
	mintErrors := e.mintErrors.Load()
	p := try(e, raw, e.plain)
	t := try(e, raw, e.tls)
	minted := e.mintErrors.Load() == mintErrors
	r.Detail = fmt.Sprintf("plaintext server: %s; TLS server: %s", describe(raw, p), describe(raw, t))
	harness := func(a attempt) bool {
		var cv *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		return !minted || a.err != nil && (errors.As(a.err, &cv) || errors.As(a.err, &ua) || errors.As(a.err, &hn))
	}
	switch {
	case p.connected && p.obs.plainFirst > 0:
		// The TLS run does not matter here: a TLS-only server makes any client upgrade.
		r.Outcome = "plaintext"
	case timedOut(p.err) || timedOut(t.err):
		r.Outcome = "inconclusive"
		r.Error = "timed out three times: the machine is too busy"
	case harness(p) || harness(t):
		r.Outcome = "inconclusive"
		r.Error = "the harness's TLS setup failed, not the client"
	case !p.connected && t.connected && p.obs.plainFirst == 0 && t.obs.tlsFirst > 0 && t.obs.plainFirst == 0:
		r.Outcome = "encrypted"
	case !p.connected && !t.connected:
		r.Outcome = "refused"
		pe, te := redactError(raw, p.err), redactError(raw, t.err)
		if pe == te {
			r.Error = pe
		} else {
			r.Error = "plaintext server: " + pe + "; TLS server: " + te
		}
	default:
		r.Outcome = "inconclusive"
		r.Error = "the two runs do not fit any outcome"
	}
	return r
}

// describe says what one run saw, for the "detail" field.
func describe(raw string, a attempt) string {
	var b strings.Builder
	if a.connected {
		if a.obs.tlsFirst > 0 {
			b.WriteString("connected over TLS")
		} else {
			b.WriteString("connected without TLS")
		}
		return b.String()
	}
	b.WriteString("failed (" + redactError(raw, a.err) + ")")
	switch {
	case a.obs.dials == 0:
		b.WriteString(" before connecting")
	case a.obs.plainFirst > 0:
		b.WriteString(" after sending plaintext")
	case a.obs.tlsFirst > 0:
		b.WriteString(" after starting TLS")
	default:
		b.WriteString(" without sending a byte")
	}
	return b.String()
}
