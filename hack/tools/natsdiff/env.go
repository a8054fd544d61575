package main

// The test environment every URL list is tried in: two in-process nats-servers on 127.0.0.1
// (one plaintext, one requiring TLS, each with a websocket listener of the same kind), a throwaway
// CA that the client trusts through SSL_CERT_FILE (so the client gets no TLS option at all), an
// in-process DNS answering 127.0.0.1 / ::1 for every name Go's resolver is willing to ask about,
// and a custom dialer that sends every connection the client makes to one of the local listeners.
// See docs/natsgo-differential.md.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Every step is local, so these only bound a wedged run; a timeout is retried (main.go).
const dialTimeout = 5 * time.Second

// endpoints is where one run sends the client's connections: the NATS TCP port and the websocket
// port of one server.
type endpoints struct {
	name string // "plaintext" or "TLS", for messages
	tcp  string
	ws   string
}

type env struct {
	plain, tls endpoints
	servers    []*server.Server
	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
	leafKey    *ecdsa.PrivateKey
	leaves     sync.Map     // SAN -> *tls.Certificate
	mintErrors atomic.Int64 // certificates the harness failed to mint (the client only sees an alert)
	dialed     sync.Map     // client-side local address of a routed connection -> host the client asked for
	tmpDir     string
}

// newEnv generates the CA, makes the Go TLS stack trust it (SSL_CERT_FILE, before any
// verification loads the system roots), installs the fake DNS and starts both servers.
func newEnv() (*env, error) {
	e := &env{}
	dir, err := os.MkdirTemp("", "natsdiff-")
	if err != nil {
		return nil, err
	}
	e.tmpDir = dir
	if err := e.makeCA(); err != nil {
		return nil, fmt.Errorf("generating the throwaway CA: %w", err)
	}
	installFakeDNS()
	if err := checkFakeDNS(); err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: e.certificateFor}
	plain, err := startServer(nil)
	if err != nil {
		return nil, fmt.Errorf("starting the plaintext nats-server: %w", err)
	}
	e.servers = append(e.servers, plain)
	secure, err := startServer(tlsConf)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("starting the TLS nats-server: %w", err)
	}
	e.servers = append(e.servers, secure)
	e.plain = endpoints{name: "plaintext", tcp: hostPort(plain.ClientURL()), ws: hostPort(plain.WebsocketURL())}
	e.tls = endpoints{name: "TLS", tcp: hostPort(secure.ClientURL()), ws: hostPort(secure.WebsocketURL())}
	return e, nil
}

func (e *env) close() {
	for _, s := range e.servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}

func hostPort(u string) string {
	_, hp, _ := strings.Cut(u, "://")
	return hp
}

// startServer starts a nats-server on 127.0.0.1 ephemeral ports. With tlsConf it requires TLS on
// both the NATS port and the websocket port; without, both are plaintext.
func startServer(tlsConf *tls.Config) (*server.Server, error) {
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		TLSTimeout: dialTimeout.Seconds(),
		Websocket: server.WebsocketOpts{
			Host:             "127.0.0.1",
			Port:             server.RANDOM_PORT,
			NoTLS:            tlsConf == nil,
			HandshakeTimeout: dialTimeout,
		},
	}
	if tlsConf != nil {
		opts.TLSConfig = tlsConf
		opts.TLS = true
		opts.Websocket.TLSConfig = tlsConf
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("not ready after 10s")
	}
	return s, nil
}

// makeCA creates the CA and points Go's system-root loading at it (and at an empty directory, so
// the machine's own roots play no part).
func (e *env) makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natsdiff throwaway CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	e.ca, e.caKey = ca, key
	if e.leafKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return err
	}
	caFile := filepath.Join(e.tmpDir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	emptyDir := filepath.Join(e.tmpDir, "no-roots")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		return err
	}
	if err := os.Setenv("SSL_CERT_FILE", caFile); err != nil {
		return err
	}
	if err := os.Setenv("SSL_CERT_DIR", emptyDir); err != nil {
		return err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return fmt.Errorf("loading the system roots: %w", err)
	}
	if _, err := ca.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		return fmt.Errorf("the throwaway CA is not trusted through SSL_CERT_FILE: %w", err)
	}
	return nil
}

// certificateFor mints (once per name) a server certificate valid for the name the client
// verifies: the SNI when the client sent one, else the IP address it dialed (Go sends no SNI for
// IP addresses), found through the connection's client-side address.
func (e *env) certificateFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" && hello.Conn != nil {
		if v, ok := e.dialed.Load(hello.Conn.RemoteAddr().String()); ok {
			name = v.(string)
		}
	}
	if name == "" {
		name = "127.0.0.1"
	}
	if c, ok := e.leaves.Load(name); ok {
		return c.(*tls.Certificate), nil
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "natsdiff server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if addr, err := netip.ParseAddr(name); err == nil {
		tmpl.IPAddresses = []net.IP{net.IP(addr.WithZone("").AsSlice())}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.ca, &e.leafKey.PublicKey, e.caKey)
	if err != nil {
		e.mintErrors.Add(1)
		return nil, fmt.Errorf("natsdiff: cannot mint a certificate for %q: %w", name, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{der, e.ca.Raw}, PrivateKey: e.leafKey}
	e.leaves.Store(name, c)
	return c, nil
}

// installFakeDNS replaces the resolver nats.go uses (net.LookupHost, and the dialer's own
// resolution) with Go's pure resolver talking to an in-process DNS that answers every question
// with 127.0.0.1 (A) and ::1 (AAAA). Names Go's resolver refuses to ask about (not a domain name)
// still fail exactly as they would in a real cluster.
func installFakeDNS() {
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, srv := net.Pipe() // not a PacketConn: the resolver uses DNS-over-TCP framing
			go serveDNS(srv)
			return client, nil
		},
	}
}

func checkFakeDNS() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, "natsdiff-selfcheck.invalid-zone")
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("the in-process DNS is not consulted (Go's resolver on this machine does not use DNS for host names; check the hosts line of /etc/nsswitch.conf): %v", err)
	}
	return nil
}

// serveDNS answers length-prefixed DNS queries on c until it is closed.
func serveDNS(c net.Conn) {
	defer c.Close()
	for {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := dnsAnswer(q)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// dnsAnswer builds an authoritative answer to a one-question query: 127.0.0.1 for A, ::1 for
// AAAA, no records for anything else.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		if q[i]&0xC0 != 0 {
			return nil
		}
		i += int(q[i]) + 1
	}
	end := i + 1 + 4 // root label, QTYPE, QCLASS
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	var rdata []byte
	switch qtype {
	case 1:
		rdata = []byte{127, 0, 0, 1}
	case 28:
		rdata = net.IPv6loopback
	}
	h := make([]byte, 12)
	copy(h[0:2], q[0:2])
	h[2] = 0x80 | 0x04 | (q[2] & 0x79) // QR, AA, the query's opcode and RD
	h[3] = 0x80                        // RA, NOERROR
	binary.BigEndian.PutUint16(h[4:6], 1)
	msg := append(h, q[12:end]...)
	if rdata != nil {
		binary.BigEndian.PutUint16(msg[6:8], 1)
		msg = append(msg, 0xC0, 0x0C) // name: pointer to the question
		msg = binary.BigEndian.AppendUint16(msg, qtype)
		msg = binary.BigEndian.AppendUint16(msg, 1) // IN
		msg = binary.BigEndian.AppendUint32(msg, 60)
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(rdata)))
		msg = append(msg, rdata...)
	}
	return msg
}

// observation is what one run saw on the wire, over every connection the client opened.
type observation struct {
	mu         sync.Mutex
	dials      int // connections that reached a local listener
	tlsFirst   int // connections whose first client bytes were a TLS handshake record
	plainFirst int // connections whose first client bytes were anything else (CONNECT, GET, ...)
}

func (o *observation) record(first byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if first == 0x16 { // TLS record type "handshake": a ClientHello
		o.tlsFirst++
	} else {
		o.plainFirst++
	}
}

// routeDialer is the nats.CustomDialer of one run. It resolves the address exactly as a real
// dial would (same parser, same resolver, so an invalid port or an impossible host name fails the
// same way), lets the kernel answer for port 0, and routes everything else to the run's local
// listeners.
type routeDialer struct {
	env *env
	ep  endpoints
	obs *observation
}

func (d *routeDialer) Dial(network, address string) (net.Conn, error) {
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if addr.Port == 0 {
		// Nothing listens on port 0 anywhere; let the kernel say so.
		return net.DialTimeout(network, "127.0.0.1:0", dialTimeout)
	}
	host, _, _ := net.SplitHostPort(address)
	return &lazyConn{d: d, host: host}, nil
}

// lazyConn connects to a local listener on first use. NATS over TCP starts with the server's
// INFO, so a client that reads first speaks NATS (TCP port); a websocket client writes its HTTP
// upgrade (or its TLS ClientHello, for wss) first (websocket port). This keeps the harness from
// deciding, by a model of its own, which kind of URL it is looking at.
type lazyConn struct {
	d    *routeDialer
	host string

	mu                sync.Mutex
	c                 net.Conn
	err               error
	sawWrite          bool
	dl, rdl, wdl      time.Time
	setDl, setR, setW bool
	closed            bool
}

func (l *lazyConn) conn(websocket bool) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil || l.err != nil {
		return l.c, l.err
	}
	if l.closed {
		return nil, net.ErrClosed
	}
	target := l.d.ep.tcp
	if websocket {
		target = l.d.ep.ws
	}
	c, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		l.err = err
		return nil, err
	}
	l.d.env.dialed.Store(c.LocalAddr().String(), l.host)
	l.d.obs.mu.Lock()
	l.d.obs.dials++
	l.d.obs.mu.Unlock()
	if l.setDl {
		_ = c.SetDeadline(l.dl)
	}
	if l.setR {
		_ = c.SetReadDeadline(l.rdl)
	}
	if l.setW {
		_ = c.SetWriteDeadline(l.wdl)
	}
	l.c = c
	return c, nil
}

func (l *lazyConn) Read(b []byte) (int, error) {
	c, err := l.conn(false)
	if err != nil {
		return 0, err
	}
	return c.Read(b)
}

func (l *lazyConn) Write(b []byte) (int, error) {
	c, err := l.conn(true)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	first := !l.sawWrite && len(b) > 0
	if first {
		l.sawWrite = true
	}
	l.mu.Unlock()
	if first {
		l.d.obs.record(b[0])
	}
	return c.Write(b)
}

func (l *lazyConn) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.c != nil {
		return l.c.Close()
	}
	return nil
}

func (l *lazyConn) LocalAddr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c.LocalAddr()
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

func (l *lazyConn) RemoteAddr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c.RemoteAddr()
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

func (l *lazyConn) SetDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dl, l.setDl = t, true
	l.rdl, l.wdl, l.setR, l.setW = t, t, false, false
	if l.c != nil {
		return l.c.SetDeadline(t)
	}
	return nil
}

func (l *lazyConn) SetReadDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rdl, l.setR = t, true
	if l.c != nil {
		return l.c.SetReadDeadline(t)
	}
	return nil
}

func (l *lazyConn) SetWriteDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wdl, l.setW = t, true
	if l.c != nil {
		return l.c.SetWriteDeadline(t)
	}
	return nil
}
