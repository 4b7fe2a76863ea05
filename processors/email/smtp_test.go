package email_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
)

// received is one message as the test SMTP server got it.
type received struct {
	From    string
	To      []string
	Header  netmail.Header
	Subject string
	Text    string // text/plain part, CRLF turned into LF
	HTML    string // text/html part, CRLF turned into LF
	TLS     bool   // the session was encrypted
	User    string // the authenticated user, if any
}

// smtpServer is a real SMTP server on 127.0.0.1 in the test process,
// recording every message it accepts.
type smtpServer struct {
	t    *testing.T
	Host string
	Port int
	got  chan received

	mu          sync.Mutex
	rcptReplies []*smtp.SMTPError            // RCPT answers these, in order, before accepting again
	addrReplies map[string][]*smtp.SMTPError // per address, RCPT answers these first
	rcpts       int                          // RCPT commands received
}

// Replies failRcpt queues.
var (
	// reply451 is a temporary failure: the client should retry.
	reply451 = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	// reply550 is a permanent failure: retrying cannot help.
	reply550 = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
)

// failRcpt makes the next n RCPT commands answer reply instead of
// accepting the recipient.
func (s *smtpServer) failRcpt(n int, reply *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.rcptReplies = append(s.rcptReplies, reply)
	}
}

// failAddr makes the next n RCPT commands for addr answer reply.
func (s *smtpServer) failAddr(addr string, n int, reply *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addrReplies == nil {
		s.addrReplies = map[string][]*smtp.SMTPError{}
	}
	for range n {
		s.addrReplies[addr] = append(s.addrReplies[addr], reply)
	}
}

// rcptCount returns how many RCPT commands the server has received: one
// per delivery attempt of a one-recipient email.
func (s *smtpServer) rcptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcpts
}

type serverOptions struct {
	startTLS *tls.Config // offer STARTTLS
	implicit *tls.Config // speak TLS from the start
	auth     bool        // offer AUTH PLAIN, accepting user "u" / "p"
}

func startSMTP(t *testing.T, opts serverOptions) *smtpServer {
	t.Helper()
	srv := &smtpServer{t: t, Host: "127.0.0.1", got: make(chan received, 100)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: srv, conn: c, auth: opts.auth}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = false
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.TLSConfig = opts.startTLS
	var l net.Listener
	var err error
	if opts.implicit != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", opts.implicit)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	srv.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return srv
}

// next returns the next message, failing the test after a timeout.
func (s *smtpServer) next() received {
	s.t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message within 10s")
		return received{}
	}
}

// none fails the test if a message is waiting. Call it after PostProcess
// returned: delivery is synchronous, so a message would already be here.
func (s *smtpServer) none() {
	s.t.Helper()
	select {
	case r := <-s.got:
		s.t.Fatalf("unexpected message to %v: %q", r.To, r.Subject)
	default:
	}
}

// drain returns every message already received.
func (s *smtpServer) drain() []received {
	var out []received
	for {
		select {
		case r := <-s.got:
			out = append(out, r)
		default:
			return out
		}
	}
}

// drainTo returns the recipient of every message already received,
// sorted, failing the test unless each message went to one address.
func (s *smtpServer) drainTo() []string {
	s.t.Helper()
	var to []string
	for _, r := range s.drain() {
		if len(r.To) != 1 {
			s.t.Fatalf("one email per address, got envelope to %v", r.To)
		}
		to = append(to, r.To[0])
	}
	slices.Sort(to)
	return to
}

type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	auth bool
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if !s.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != "u" || password != "p" {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.auth && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.rcpts++
	if q := s.srv.addrReplies[to]; len(q) > 0 {
		s.srv.addrReplies[to] = q[1:]
		return q[0]
	}
	if len(s.srv.rcptReplies) > 0 {
		reply := s.srv.rcptReplies[0]
		s.srv.rcptReplies = s.srv.rcptReplies[1:]
		return reply
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := parseMessage(raw)
	if err != nil {
		s.srv.t.Errorf("server: parse message: %v\n%s", err, raw)
		return err
	}
	msg.From, msg.To, msg.User = s.from, s.to, s.user
	_, msg.TLS = s.conn.TLSConnectionState()
	s.srv.got <- msg
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// parseMessage reads the headers and the text and HTML parts of a MIME
// message with the standard library only.
func parseMessage(raw []byte) (received, error) {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return received{}, err
	}
	var out received
	out.Header = m.Header
	if out.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return received{}, err
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return received{}, err
	}
	store := func(mediaType string, body []byte) {
		s := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch mediaType {
		case "text/plain":
			out.Text = s
		case "text/html":
			out.HTML = s
		}
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodeBody(m.Header.Get("Content-Transfer-Encoding"), m.Body)
		if err != nil {
			return received{}, err
		}
		// A single-part body ends with the line break that ends the message.
		store(mediaType, bytes.TrimSuffix(body, []byte("\r\n")))
		return out, nil
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return received{}, err
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return received{}, err
		}
		// multipart.Reader already decodes quoted-printable parts.
		body, err := decodeBody(part.Header.Get("Content-Transfer-Encoding"), part)
		if err != nil {
			return received{}, err
		}
		store(pt, body)
	}
}

func decodeBody(encoding string, r io.Reader) ([]byte, error) {
	if strings.EqualFold(encoding, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	return io.ReadAll(r)
}

// selfSigned returns a server TLS config for 127.0.0.1 and a client TLS
// config trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}
