// racelab-server-go: Go's net/http Server as an upstream of racelab, with racelab-upstream's
// flags where they apply and its event log (docs/servers.md). Standard library only.
//
// Go closes an idle keep-alive connection when Server.IdleTimeout expires: after a response the
// connection's read deadline is set to now + IdleTimeout and the server peeks for the next
// request; the deadline fires, the read fails, the connection is closed. IdleTimeout 0 means
// ReadTimeout, and both 0 (Go's default) means no idle timeout at all. --idle-timeout sets
// IdleTimeout in ms; the log tells each close's cause from what the connection's last read
// returned (a deadline, EOF, an error).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const prog = "racelab-server-go"

const help = `usage: ` + prog + ` [flags]
Go's net/http Server as a racelab upstream (docs/servers.md). Flags as racelab-upstream's where
they apply:
  --listen ADDR            HOST:PORT to listen on (default 127.0.0.1:0, any free port)
  --port-file FILE         write the bound port to FILE once listening (atomically)
  --log FILE               JSON line per event (listen, accept, request, response, close, exit),
                           racelab-upstream's format; "-" is stdout
  --status N               response status (default 200)
  --body-size SIZE         response body bytes, k/m/g suffixes (default 2)
  --header "N: v"          extra response header, repeatable
  --delay-response MS      pause before the response head (default 0)
  --idle-timeout MS        Server.IdleTimeout: close a keep-alive connection idle that long
                           after a response (default: Go's, 0 = ReadTimeout, and with
                           ReadTimeout 0 no idle timeout)
  --tag-header NAME        request header copied into the log as "tag" (default X-Racelab-Trial)
Go's own settings:
  --read-header-timeout MS Server.ReadHeaderTimeout (default 0: ReadTimeout)
  --read-timeout MS        Server.ReadTimeout (default 0: none)
  --write-timeout MS       Server.WriteTimeout (default 0: none)
  --version                print Go's version and exit
SIGTERM and SIGINT close every connection and exit 0.`

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", a...)
	os.Exit(2)
}

type config struct {
	listen, portFile, logPath string
	status                    int
	bodySize                  int64
	headers                   [][2]string
	delayResponse             time.Duration
	idleTimeout               time.Duration
	idleSet                   bool
	tagHeader                 string
	readHeaderTimeout         time.Duration
	readTimeout               time.Duration
	writeTimeout              time.Duration
}

func parseInt(flag, v string, min, max int64) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || !regexp.MustCompile(`^[0-9]+$`).MatchString(v) {
		die("--%s: expected a whole number, got '%s'", flag, v)
	}
	if n < min || n > max {
		die("--%s: expected a whole number in [%d, %d], got '%s'", flag, min, max, v)
	}
	return n
}

func parseMs(flag, v string) time.Duration {
	return time.Duration(parseInt(flag, v, 0, 1<<31-1)) * time.Millisecond
}

func parseSize(flag, v string) int64 {
	m := regexp.MustCompile(`^([0-9]+)([kKmMgG]?)$`).FindStringSubmatch(v)
	if m == nil {
		die("--%s: expected a size in bytes (e.g. 65536, 64k, 8m), got '%s'", flag, v)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		die("--%s: out of range: '%s'", flag, v)
	}
	switch strings.ToLower(m[2]) {
	case "k":
		n <<= 10
	case "m":
		n <<= 20
	case "g":
		n <<= 30
	}
	return n
}

func parseArgs(args []string) *config {
	c := &config{listen: "127.0.0.1:0", status: 200, bodySize: 2, tagHeader: "X-Racelab-Trial"}
	hdr := regexp.MustCompile("^([!#$%&'*+\\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)$")
	for i := 0; i < len(args); i++ {
		a := args[i]
		val, hasVal := "", false
		if strings.HasPrefix(a, "--") {
			if eq := strings.IndexByte(a, '='); eq > 0 {
				a, val, hasVal = a[:eq], a[eq+1:], true
			}
		}
		next := func() string {
			if hasVal {
				return val
			}
			i++
			if i >= len(args) {
				die("%s: expected a value", a)
			}
			return args[i]
		}
		switch a {
		case "-h", "--help":
			fmt.Println(help)
			os.Exit(0)
		case "--version":
			fmt.Printf("go %s\n", runtime.Version())
			os.Exit(0)
		case "--listen":
			c.listen = next()
		case "--port-file":
			c.portFile = next()
		case "--log":
			c.logPath = next()
		case "--status":
			c.status = int(parseInt("status", next(), 100, 999))
		case "--body-size":
			c.bodySize = parseSize("body-size", next())
		case "--header":
			h := next()
			m := hdr.FindStringSubmatch(h)
			if m == nil {
				die("--header: expected \"Name: value\", got '%s'", h)
			}
			c.headers = append(c.headers, [2]string{m[1], m[2]})
		case "--delay-response":
			c.delayResponse = parseMs("delay-response", next())
		case "--idle-timeout":
			c.idleTimeout, c.idleSet = parseMs("idle-timeout", next()), true
		case "--tag-header":
			c.tagHeader = next()
		case "--read-header-timeout":
			c.readHeaderTimeout = parseMs("read-header-timeout", next())
		case "--read-timeout":
			c.readTimeout = parseMs("read-timeout", next())
		case "--write-timeout":
			c.writeTimeout = parseMs("write-timeout", next())
		default:
			die("unknown flag %s (see --help)", a)
		}
	}
	return c
}

// ---- the log: one JSON line per event, each a single write(2) ----

type logger struct {
	mu sync.Mutex
	f  *os.File
}

func nowUs() int64 { return time.Now().UnixMicro() }

// rec is written in key order as given (a slice, so the line reads like racelab-upstream's).
type kv struct {
	k string
	v interface{}
}

func (l *logger) log(fields ...kv) {
	if l.f == nil {
		return
	}
	var b strings.Builder
	b.WriteString(`{"ts_us":`)
	b.WriteString(strconv.FormatInt(nowUs(), 10))
	for _, f := range fields {
		kb, _ := json.Marshal(f.k)
		vb, err := json.Marshal(f.v)
		if err != nil {
			vb = []byte("null")
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteString("}\n")
	l.mu.Lock()
	l.f.Write([]byte(b.String()))
	l.mu.Unlock()
}

// ---- connections: a wrapped net.Conn that knows why it was closed ----

type server struct {
	cfg      *config
	log      *logger
	body     []byte
	mu       sync.Mutex
	nconn    int
	stopping bool
}

type rconn struct {
	net.Conn
	s            *server
	id           int
	lport, rport int
	mu           sync.Mutex
	written      int64
	reqs         int
	responses    int
	busy         bool
	lastEndUs    int64
	closeAfter   bool
	lastReadErr  error
	shutdown     bool
	closed       bool
}

func portOf(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}

func (c *rconn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		c.lastReadErr = err
		c.mu.Unlock()
	}
	return n, err
}

func (c *rconn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written += int64(n)
	c.mu.Unlock()
	return n, err
}

// CloseWrite keeps what Go does with a *net.TCPConn: after a request whose body it would not
// read (closeWriteAndWait) it sends its FIN with shutdown(SHUT_WR), waits, then closes.
func (c *rconn) CloseWrite() error {
	c.mu.Lock()
	c.shutdown = true
	c.mu.Unlock()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func errnoName(err error) string {
	var se syscall.Errno
	if errors.As(err, &se) {
		switch se {
		case syscall.ECONNRESET:
			return "ECONNRESET"
		case syscall.EPIPE:
			return "EPIPE"
		case syscall.ETIMEDOUT:
			return "ETIMEDOUT"
		}
		return fmt.Sprintf("errno %d", int(se))
	}
	return err.Error()
}

func (c *rconn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.Conn.Close()
	}
	c.closed = true
	rerr := c.lastReadErr
	busy, closeAfter, responses, lastEnd := c.busy, c.closeAfter, c.responses, c.lastEndUs
	shut := c.shutdown
	c.mu.Unlock()
	c.s.mu.Lock()
	stopping := c.s.stopping
	c.s.mu.Unlock()

	how, why := "fin", "other"
	var ne net.Error
	var errno string
	switch {
	case closeAfter && !busy:
		// Go closes after a response that said Connection: close, whatever the client does
		why = "after-response"
	case rerr != nil && errors.As(rerr, &ne) && ne.Timeout():
		// the read deadline: IdleTimeout between requests, ReadHeaderTimeout/ReadTimeout in one
		if busy {
			why = "timeout"
		} else {
			why = "idle"
		}
	case rerr != nil && errors.Is(rerr, io.EOF):
		how, why = "peer", "peer-eof"
	case stopping:
		why = "exit"
	case rerr != nil && !errors.Is(rerr, net.ErrClosed):
		why, errno = "error", errnoName(rerr)
	}
	if shut && how == "fin" {
		how = "shutdown"
	}
	err := c.Conn.Close()
	f := []kv{{"event", "close"}, {"conn", c.id}, {"lport", c.lport}, {"rport", c.rport},
		{"how", how}, {"why", why}, {"responses", responses}}
	if responses > 0 && !busy {
		f = append(f, kv{"idle_us", nowUs() - lastEnd})
	}
	if errno != "" {
		f = append(f, kv{"errno", errno})
	}
	c.s.log.log(f...)
	return err
}

type rlistener struct {
	net.Listener
	s *server
}

func (l *rlistener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	id := l.s.nconn
	l.s.nconn++
	l.s.mu.Unlock()
	c := &rconn{Conn: nc, s: l.s, id: id, lport: portOf(nc.LocalAddr()), rport: portOf(nc.RemoteAddr())}
	l.s.log.log(kv{"event", "accept"}, kv{"conn", c.id}, kv{"lport", c.lport}, kv{"rport", c.rport})
	return c, nil
}

type ctxKey struct{}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(ctxKey{}).(*rconn)
	if c == nil {
		http.Error(w, "no connection", 500)
		return
	}
	c.mu.Lock()
	reqNo := c.reqs
	c.reqs++
	c.busy = true
	c.mu.Unlock()
	firstUs := nowUs()
	n, _ := io.Copy(io.Discard, r.Body)
	f := []kv{{"event", "request"}, {"conn", c.id}, {"req", reqNo}, {"lport", c.lport},
		{"rport", c.rport}, {"method", r.Method}, {"path", r.URL.RequestURI()}, {"body", n},
		{"first_us", firstUs}}
	if tag := r.Header.Values(s.cfg.tagHeader); len(tag) > 0 {
		f = append(f, kv{"tag", tag[0]})
	}
	s.log.log(f...)
	if s.cfg.delayResponse > 0 {
		time.Sleep(s.cfg.delayResponse)
	}
	startUs := nowUs()
	c.mu.Lock()
	w0 := c.written
	c.mu.Unlock()
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(s.body)))
	h.Set("Content-Type", "application/octet-stream")
	for _, x := range s.cfg.headers {
		h.Add(x[0], x[1])
	}
	w.WriteHeader(s.cfg.status)
	w.Write(s.body)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	// Go adds Connection: close when the request asked for it (or HTTP/1.0 without keep-alive)
	closeAfter := r.Close || strings.EqualFold(h.Get("Connection"), "close")
	c.mu.Lock()
	c.responses++
	c.busy = false
	c.lastEndUs = nowUs()
	c.closeAfter = closeAfter
	bytes := c.written - w0
	c.mu.Unlock()
	s.log.log(kv{"event", "response"}, kv{"conn", c.id}, kv{"req", reqNo}, kv{"lport", c.lport},
		kv{"rport", c.rport}, kv{"status", s.cfg.status}, kv{"bytes", bytes},
		kv{"close", closeAfter}, kv{"start_us", startUs})
}

func writePortFile(path string, port int) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	cfg := parseArgs(os.Args[1:])
	s := &server{cfg: cfg, log: &logger{}, body: make([]byte, cfg.bodySize)}
	for i := range s.body {
		s.body[i] = 'x'
	}
	switch cfg.logPath {
	case "":
	case "-":
		s.log.f = os.Stdout
	default:
		f, err := os.OpenFile(cfg.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			die("--log: %v", err)
		}
		s.log.f = f
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		die("--listen %s: %v", cfg.listen, err)
	}
	port := portOf(ln.Addr())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if rc, ok := c.(*rconn); ok {
				return context.WithValue(ctx, ctxKey{}, rc)
			}
			return ctx
		},
		ErrorLog: nil,
	}
	if cfg.idleSet {
		srv.IdleTimeout = cfg.idleTimeout
	}
	if cfg.portFile != "" {
		if err := writePortFile(cfg.portFile, port); err != nil {
			die("--port-file: %v", err)
		}
	}
	idle := srv.IdleTimeout
	if idle == 0 {
		idle = srv.ReadTimeout
	}
	s.log.log(kv{"event", "listen"}, kv{"lport", port}, kv{"kind", "go"},
		kv{"version", runtime.Version()}, kv{"idle_timeout_ms", idle.Milliseconds()},
		kv{"read_header_timeout_ms", srv.ReadHeaderTimeout.Milliseconds()},
		kv{"read_timeout_ms", srv.ReadTimeout.Milliseconds()})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		sig := <-sigs
		s.mu.Lock()
		s.stopping = true
		n := s.nconn
		s.mu.Unlock()
		srv.Close() // closes the listener and every connection (each logs its close)
		name := "SIGTERM"
		if sig == syscall.SIGINT {
			name = "SIGINT"
		}
		s.log.log(kv{"event", "exit"}, kv{"signal", name}, kv{"connections", n})
		close(done)
	}()
	err = srv.Serve(&rlistener{Listener: ln, s: s})
	if !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		os.Exit(1)
	}
	<-done
	os.Exit(0)
}
