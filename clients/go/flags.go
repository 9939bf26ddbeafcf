package main

// racelab-downstream's flags that apply to a library client, parsed with racelab-downstream's
// rules and messages (lib/opt.c, fake_downstream/dn_cfg.c): "--name value" or "--name=value",
// every error names its flag and exits 2.

import (
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
)

type config struct {
	target           string
	trials           int64
	conns            int64
	requests         int64
	gapUs            int64
	gapGiven         bool
	sweep            []int64 // µs, one gap per trial (mod len)
	trialGapMs       int64
	method           string
	path             string
	headers          [][2]string
	bodySize         int64
	timeoutMs        int64
	connectTimeoutMs int64
	onFailure        string // stop | reconnect
	records          string
	noTag            bool // --no-tag: no X-Racelab-Trial header
}

// racelab-downstream flags that a library decides for itself: refused by name.
var downstreamOnly = map[string]bool{
	"parallel": true, "chunked": true, "split-head": true, "upload-delay": true,
	"upload-chunk": true, "upload-pace": true, "on-write-error": true,
	"read-while-uploading": true, "http10": true, "connection": true, "idle-timeout": true,
	"check-before-reuse": true,
}

type flagSpec struct {
	name, metavar, help string
	set                 func(c *config, v string) error
}

func intFlag(min, max int64, dst func(c *config) *int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min || n > max {
			if max == math.MaxInt64 {
				return fmt.Errorf("expected a whole number >= %d, got '%s'", min, v)
			}
			return fmt.Errorf("expected a whole number in [%d, %d], got '%s'", min, max, v)
		}
		*dst(c) = n
		return nil
	}
}

// scaled parses "N" or "N<suffix>" as lib/opt.c does (no sign, no space).
func scaled(v string, mult map[string]int64) (int64, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	if i == len(v) {
		return n, true
	}
	m, ok := mult[v[i:]]
	if !ok || n > math.MaxInt64/m {
		return 0, false
	}
	return n * m, true
}

// parseMsUs: "12", "99.5", "250ms", "1.5s" → µs (fractions down to a whole µs), as
// dn_parse_ms_us.
func parseMsUs(s string) (int64, bool) {
	unit := int64(1000)
	switch {
	case strings.HasSuffix(s, "ms"):
		s = s[:len(s)-2]
	case strings.HasSuffix(s, "s"):
		s, unit = s[:len(s)-1], 1000000
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || (hasDot && (frac == "" ||
		strings.Trim(frac, "0123456789") != "" || len(frac) > 6)) {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/10000000 {
		return 0, false
	}
	fr := int64(0)
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		fr = f * unit
		for i := 0; i < len(frac); i++ {
			if fr%10 != 0 {
				return 0, false
			}
			fr /= 10
		}
	}
	return w*unit + fr, true
}

var specs = []flagSpec{
	{"target", "ADDR", "server or proxy to send to, HOST:PORT (required)",
		func(c *config, v string) error { c.target = v; return nil }},
	{"trials", "N", "number of trials (default 1); each trial starts with new clients",
		intFlag(1, math.MaxInt64, func(c *config) *int64 { return &c.trials })},
	{"conns", "C", "connections per trial, run together (default 1): each its own Transport " +
		"(MaxConnsPerHost 1), so each is one keep-alive connection of the library's pool",
		intFlag(1, 10000, func(c *config) *int64 { return &c.conns })},
	{"requests", "R", "requests per connection (default 1; the 2nd and later are offered to " +
		"the same Transport, which reuses its idle connection if it still trusts it)",
		intFlag(1, math.MaxInt64, func(c *config) *int64 { return &c.requests })},
	{"gap", "MS", "pause between a response (body read to its end) and the next request of " +
		"the connection; fractions allowed (99.5)",
		func(c *config, v string) error {
			us, ok := parseMsUs(v)
			if !ok {
				return fmt.Errorf("expected milliseconds (e.g. 100, 99.5, 250ms, 2s), got '%s'", v)
			}
			c.gapUs, c.gapGiven = us, true
			return nil
		}},
	{"gap-sweep", "FROM:TO:STEP", "trial i uses the (i mod K)-th gap of FROM, FROM+STEP, ... " +
		"TO (ms, fractions allowed); records carry gap_ms and reuse_gap_ms",
		func(c *config, v string) error {
			p := strings.Split(v, ":")
			bad := fmt.Errorf("expected FROM:TO:STEP in milliseconds (e.g. 0:200:10), got '%s'", v)
			if len(p) != 3 {
				return bad
			}
			var x [3]int64
			for i := range p {
				us, ok := parseMsUs(p[i])
				if !ok {
					return bad
				}
				x[i] = us
			}
			if x[2] <= 0 || x[1] < x[0] {
				return fmt.Errorf("expected FROM <= TO and STEP > 0, got '%s'", v)
			}
			c.sweep = nil
			for g := x[0]; g <= x[1]; g += x[2] {
				c.sweep = append(c.sweep, g)
			}
			return nil
		}},
	{"trial-gap", "MS", "pause between the end of a trial and the start of the next",
		func(c *config, v string) error {
			n, ok := scaled(v, map[string]int64{"ms": 1, "s": 1000})
			if !ok {
				return fmt.Errorf("expected milliseconds (e.g. 100, 250ms, 2s) >= 0, got '%s'", v)
			}
			c.trialGapMs = n
			return nil
		}},
	{"method", "M", "request method (default GET)",
		func(c *config, v string) error { c.method = v; return nil }},
	{"path", "P", "request target (default /)",
		func(c *config, v string) error { c.path = v; return nil }},
	{"header", "\"Name: value\"", "extra request header (repeatable); Idempotency-Key makes a " +
		"POST replayable for net/http",
		func(c *config, v string) error {
			colon := strings.IndexByte(v, ':')
			if colon <= 0 || strings.ContainsAny(v, "\r\n") || strings.Contains(v[:colon], " ") {
				return fmt.Errorf("expected \"Name: value\" on one line, got '%s'", v)
			}
			if len(c.headers) >= 32 {
				return fmt.Errorf("at most 32 headers")
			}
			c.headers = append(c.headers, [2]string{v[:colon], strings.TrimLeft(v[colon+1:], " \t")})
			return nil
		}},
	{"no-tag", "", "do not send the header X-Racelab-Trial: TRIAL.CONN.REQ (sent in every " +
		"request by default, as racelab-downstream does, so that the upstream's log names the " +
		"request of each copy it executed)",
		func(c *config, v string) error { c.noTag = true; return nil }},
	{"body-size", "SIZE", "request body bytes (k/m/g), sent with Content-Length",
		func(c *config, v string) error {
			n, ok := scaled(v, map[string]int64{"k": 1 << 10, "K": 1 << 10, "m": 1 << 20,
				"M": 1 << 20, "g": 1 << 30, "G": 1 << 30})
			if !ok {
				return fmt.Errorf("expected a size in bytes (e.g. 65536, 64k, 8m) >= 0, got '%s'", v)
			}
			c.bodySize = n
			return nil
		}},
	{"timeout", "MS", "per-request timeout, the whole exchange (default 5000; outcome `timeout`)",
		msFlag(1, func(c *config) *int64 { return &c.timeoutMs })},
	{"connect-timeout", "MS", "connect timeout (default 2000; outcome `connect-error`)",
		msFlag(1, func(c *config) *int64 { return &c.connectTimeoutMs })},
	{"on-failure", "stop|reconnect", "after a failed request (reset, empty, partial, timeout, " +
		"connect-error): stop (default) = the connection's remaining requests are skipped; " +
		"reconnect = the next request goes to the same Transport, which opens a new connection",
		func(c *config, v string) error {
			if v != "stop" && v != "reconnect" {
				return fmt.Errorf("expected one of stop|reconnect, got '%s'", v)
			}
			c.onFailure = v
			return nil
		}},
	{"records", "FILE", "one JSON line per request (docs/clients.md); default stdout",
		func(c *config, v string) error { c.records = v; return nil }},
}

func msFlag(min int64, dst func(c *config) *int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, ok := scaled(v, map[string]int64{"ms": 1, "s": 1000})
		if !ok || n < min {
			return fmt.Errorf("expected milliseconds (e.g. 100, 250ms, 2s) >= %d, got '%s'", min, v)
		}
		*dst(c) = n
		return nil
	}
}

const about = "racelab-downstream's workload through Go's net/http: a Transport per connection " +
	"(MaxConnsPerHost 1), requests reused after --gap as the library decides, each request's " +
	"connections seen with httptrace (GotConn: a second one is a retry). One JSON line per " +
	"request with racelab-downstream's fields plus retried, lports, error and client " +
	"(docs/clients.md); a summary on stderr. Exit 0 when every trial ran (failed requests are " +
	"data), 2 on a bad flag."

func usage() {
	fmt.Printf("usage: %s --target ADDR [flags]\n\n", prog)
	wrap(about, 0, 96)
	fmt.Printf("\nflags:\n")
	for _, s := range specs {
		head := strings.TrimRight(fmt.Sprintf("  --%s %s", s.name, s.metavar), " ")
		fmt.Print(head)
		if len(head) >= 32 {
			fmt.Printf("\n%32s", "")
		} else {
			fmt.Printf("%*s", 32-len(head), "")
		}
		wrap(s.help, 32, 100)
	}
	fmt.Printf("  --version                     print Go's version and exit\n")
	fmt.Printf("  -h, --help                    this text\n")
}

func wrap(text string, indent, width int) {
	col := indent
	for _, w := range strings.Fields(text) {
		if col > indent && col+1+len(w) > width {
			fmt.Printf("\n%*s", indent, "")
			col = indent
		} else if col > indent {
			fmt.Print(" ")
			col++
		}
		fmt.Print(w)
		col += len(w)
	}
	fmt.Println()
}

func bad(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", prog, fmt.Sprintf(format, a...))
	os.Exit(2)
}

func parseFlags(args []string) *config {
	c := &config{trials: 1, conns: 1, requests: 1, method: "GET", path: "/", timeoutMs: 5000,
		connectTimeoutMs: 2000, onFailure: "stop", records: "-"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" {
			usage()
			os.Exit(0)
		}
		if a == "--version" { // the library, for the harness
			fmt.Printf("net/http %s\n", runtime.Version())
			os.Exit(0)
		}
		if !strings.HasPrefix(a, "--") || a == "--" {
			if strings.HasPrefix(a, "-") && a != "-" && a != "--" {
				bad("unknown flag %s (flags are --long-names; see --help)", a)
			}
			bad("unexpected argument '%s' (see --help)", a)
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		var spec *flagSpec
		for k := range specs {
			if specs[k].name == name {
				spec = &specs[k]
			}
		}
		if spec == nil {
			if downstreamOnly[name] {
				bad("--%s is a racelab-downstream flag that this driver does not support: "+
					"net/http decides that itself (docs/clients.md)", name)
			}
			bad("unknown flag --%s (see --help)", name)
		}
		if spec.metavar == "" { // a flag without a value
			if hasVal {
				bad("--%s takes no value", name)
			}
			spec.set(c, "")
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				bad("--%s needs a value (%s)", name, spec.metavar)
			}
			i++
			val = args[i]
		}
		if val == "" {
			bad("--%s: expected a value", name)
		}
		if err := spec.set(c, val); err != nil {
			bad("--%s: %v", name, err)
		}
	}
	if c.target == "" {
		bad("--target is required (HOST:PORT)")
	}
	host, port := "", c.target
	if i := strings.LastIndexByte(c.target, ':'); i >= 0 {
		host, port = c.target[:i], c.target[i+1:]
	}
	if host == "" {
		host = "127.0.0.1"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || strings.Trim(port, "0123456789") != "" {
		bad("--target: expected HOST:PORT with a port in [0, 65535], got '%s'", c.target)
	}
	if p == 0 {
		bad("--target: port 0 is not a destination")
	}
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil {
		bad("--target: expected a numeric IPv4 host, got '%s'", host)
	}
	c.target = host + ":" + port
	if c.gapGiven && c.sweep != nil {
		bad("--gap contradicts --gap-sweep (the sweep chooses each trial's gap)")
	}
	return c
}

// gapUs is trial t's gap: --gap, or the (t mod K)-th value of --gap-sweep.
func (c *config) gapFor(t int64) int64 {
	if c.sweep != nil {
		return c.sweep[t%int64(len(c.sweep))]
	}
	return c.gapUs
}
