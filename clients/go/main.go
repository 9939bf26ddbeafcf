// racelab-client-go: racelab-downstream's workload (trials × connections × requests, a gap
// before each reuse) sent with Go's net/http, one JSON line per request with
// racelab-downstream's fields and what the library did (docs/clients.md).
//
// A "connection" is a Transport of its own with MaxConnsPerHost 1: the library's pool for that
// connection, so the 2nd and later requests are offered the idle connection of the previous
// one and net/http decides whether to reuse it, to open a new one, or to retry.
// httptrace.GotConn is called once per attempt: its Reused and LocalAddr give the ports, and a
// second call for one request is a retry by the library.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

const prog = "racelab-client-go"

type clientInfo struct {
	Kind    string `json:"kind"`
	Library string `json:"library"`
	Version string `json:"version"`
}

// record: racelab-downstream's fields (docs/records.md) first, then the library's.
type record struct {
	TsUs         int64       `json:"ts_us"`
	Type         string      `json:"type"`
	Trial        int64       `json:"trial"`
	Conn         int64       `json:"conn"`
	Req          int64       `json:"req"`
	Lport        int         `json:"lport"`
	Reused       bool        `json:"reused"`
	Reconnected  bool        `json:"reconnected"`
	GapMs        float64     `json:"gap_ms"`
	ReuseGapMs   float64     `json:"reuse_gap_ms"`
	StartUs      int64       `json:"start_us"`
	EndUs        int64       `json:"end_us"`
	Outcome      string      `json:"outcome"`
	Status       int         `json:"status"`
	Phase        string      `json:"phase"`
	Errno        string      `json:"errno,omitempty"`
	Retried      int         `json:"retried"`
	Lports       []int       `json:"lports"`
	ReuseAvoided bool        `json:"reuse_avoided"`
	Error        string      `json:"error,omitempty"`
	Client       *clientInfo `json:"client"`
}

var (
	client = &clientInfo{Kind: "go", Library: "net/http", Version: runtime.Version()}
	outMu  sync.Mutex
	out    *os.File
	counts = map[string]int{}
	nreq   int
	failed bool
)

func emit(r *record) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)              // "->" in error texts stays readable
	if err := enc.Encode(r); err != nil { // Encode ends the line with '\n'
		panic(err)
	}
	line := buf.Bytes()
	outMu.Lock()
	defer outMu.Unlock()
	if _, err := out.Write(line); err != nil { // one write per line: lines never interleave
		fmt.Fprintf(os.Stderr, "%s: writing a record: %v\n", prog, err)
		failed = true
	}
	counts[r.Outcome]++
	nreq++
}

func summary(trials int64, t0 time.Time) {
	outMu.Lock()
	defer outMu.Unlock()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	fmt.Fprintf(os.Stderr, "%s: %d trials, %d requests: %s (%.2f s)\n", prog, trials, nreq,
		strings.Join(parts, " "), time.Since(t0).Seconds())
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNRESET: "ECONNRESET", syscall.EPIPE: "EPIPE", syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.ECONNABORTED: "ECONNABORTED",
	syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL",
}

// classify maps the error the application saw to racelab-downstream's outcome vocabulary.
// gotHead: a response head had arrived (the error came while reading the body).
func classify(err error, gotHead bool) (outcome, phase, errno string) {
	var op *net.OpError
	isOp := errors.As(err, &op)
	var en syscall.Errno
	if errors.As(err, &en) {
		errno = errnoNames[en]
		if errno == "" {
			errno = fmt.Sprintf("E%d", int(en))
		}
	}
	switch {
	case isOp && op.Op == "dial":
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			errno = "ETIMEDOUT"
		}
		return "connect-error", "connect", errno
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timeout", "read", ""
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		if isOp && op.Op == "write" {
			return "reset", "write", errno
		}
		return "reset", "read", errno
	case gotHead && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return "partial", "read", ""
	case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "server closed idle connection"):
		return "empty", "read", "" // EOF before any response byte
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "partial", "read", ""
	case strings.Contains(err.Error(), "malformed HTTP"):
		return "partial", "read", "EPROTO"
	}
	return "error", "read", errno
}

func msValue(us int64) float64 { return float64(us) / 1000.0 }

type attempt struct {
	port   int
	reused bool
}

func runConn(c *config, trial, conn int64, body []byte) {
	tr := &http.Transport{
		Proxy:               nil, // never an environment proxy: the target is the target
		DialContext:         (&net.Dialer{Timeout: time.Duration(c.connectTimeoutMs) * time.Millisecond}).DialContext,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		MaxIdleConns:        1,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	gapUs := c.gapFor(trial)
	prevKeepAlive, lastFailed := false, false
	for req := int64(0); req < c.requests; req++ {
		thisGap := int64(0)
		if req > 0 {
			thisGap = gapUs
			time.Sleep(time.Duration(gapUs) * time.Microsecond)
		}
		var mu sync.Mutex
		var atts []attempt
		trace := &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				port := 0
				if a, ok := info.Conn.LocalAddr().(*net.TCPAddr); ok {
					port = a.Port
				}
				mu.Lock()
				atts = append(atts, attempt{port, info.Reused})
				mu.Unlock()
			},
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.timeoutMs)*time.Millisecond)
		ctx = httptrace.WithClientTrace(ctx, trace)
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body) // sets GetBody: net/http may rewind it for a retry
		}
		r := &record{Type: "request", Trial: trial, Conn: conn, Req: req, GapMs: msValue(thisGap),
			ReuseGapMs: msValue(gapUs), Reconnected: req > 0 && lastFailed, Client: client}
		hr, err := http.NewRequestWithContext(ctx, c.method, "http://"+c.target+c.path, rd)
		if err != nil {
			cancel()
			fmt.Fprintf(os.Stderr, "%s: cannot build the request: %v\n", prog, err)
			os.Exit(2)
		}
		for _, h := range c.headers {
			if strings.EqualFold(h[0], "Host") {
				hr.Host = h[1]
			} else {
				hr.Header.Add(h[0], h[1])
			}
		}
		if !c.noTag { // racelab-downstream's tag: the upstream's log names the request
			hr.Header.Set("X-Racelab-Trial", fmt.Sprintf("%d.%d.%d", trial, conn, req))
		}
		r.StartUs = time.Now().UnixMicro()
		resp, err := hc.Do(hr)
		gotHead := false
		keepAlive := false
		if err == nil {
			gotHead = true
			r.Status = resp.StatusCode
			keepAlive = !resp.Close
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		r.EndUs = time.Now().UnixMicro()
		r.TsUs = r.EndUs
		cancel()
		mu.Lock()
		r.Lports = []int{}
		for _, a := range atts {
			r.Lports = append(r.Lports, a.port)
		}
		if len(atts) > 0 {
			r.Lport = atts[len(atts)-1].port
			r.Reused = atts[0].reused
			r.Retried = len(atts) - 1
			// the previous response left the connection open, yet the pool gave a new one:
			// net/http saw the close before reusing it
			r.ReuseAvoided = req > 0 && prevKeepAlive && !atts[0].reused
		}
		mu.Unlock()
		if err == nil {
			r.Outcome, r.Phase = fmt.Sprint(r.Status), "done"
		} else {
			r.Outcome, r.Phase, r.Errno = classify(err, gotHead)
			r.Error = err.Error()
		}
		emit(r)
		lastFailed = err != nil
		prevKeepAlive = err == nil && keepAlive
		if lastFailed && c.onFailure == "stop" {
			return
		}
	}
}

func main() {
	c := parseFlags(os.Args[1:])
	out = os.Stdout
	if c.records != "-" {
		f, err := os.OpenFile(c.records, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			bad("--records %s: %v", c.records, err)
		}
		out = f
	}
	t0 := time.Now()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		summary(c.trials, t0) // takes the records lock: no line is left half-written
		outMu.Lock()
		os.Exit(0)
	}()
	body := bytes.Repeat([]byte("x"), int(c.bodySize))
	for t := int64(0); t < c.trials; t++ {
		var wg sync.WaitGroup
		for k := int64(0); k < c.conns; k++ {
			wg.Add(1)
			go func(k int64) {
				defer wg.Done()
				runConn(c, t, k, body)
			}(k)
		}
		wg.Wait()
		if c.trialGapMs > 0 && t+1 < c.trials {
			time.Sleep(time.Duration(c.trialGapMs) * time.Millisecond)
		}
	}
	summary(c.trials, t0)
	if failed {
		os.Exit(1)
	}
}
