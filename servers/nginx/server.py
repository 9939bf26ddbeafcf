#!/usr/bin/python3
"""racelab-server-nginx: nginx (Debian's nginx-light) as an origin server of racelab, with
racelab-upstream's flags where they apply and its event log (docs/servers.md).

It renders servers/nginx/nginx.conf into a folder (--dir), starts nginx in the foreground as a
child (one process, daemon off), writes the port file once nginx listens, and while nginx runs
turns what nginx writes into racelab-upstream's events:
  - the access log (log_format racelab, escape=json: $msec, $connection,
    $connection_requests, $remote_port, $request_time, the tag header...) gives one request and
    one response event per request, timed by nginx itself ($msec: milliseconds);
  - the error log at level debug gives each connection's accept (with the client's port) and
    close, and why it closed: the keep-alive timer fired (idle), the client closed first
    (nginx's info line "client ... closed keepalive connection": peer-eof), after a response
    that said Connection: close (after-response), an error, or nginx's exit. nginx's error log
    has only whole seconds, so these events carry the time this program read the line (it
    waits for writes with inotify: well under a millisecond late on an idle machine).
"""
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PROG = "racelab-server-nginx"

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import racelab_server  # noqa: E402 - the folder above this script's (servers/)

RS = racelab_server.Server(PROG)
die = RS.die
parse_int = RS.parse_int
parse_size = RS.parse_size
now_us = racelab_server.now_us
log = RS.log
HERE = os.path.dirname(os.path.abspath(__file__))

HELP = f"""usage: {PROG} [flags]
nginx as a racelab origin server (docs/servers.md). Flags as racelab-upstream's where they
apply:
  --listen ADDR          HOST:PORT to listen on (default 127.0.0.1:0: this program picks a free
                         port, nginx cannot listen on port 0)
  --port-file FILE       write the bound port to FILE once nginx listens (atomically)
  --log FILE             JSON line per event (listen, accept, request, response, close, exit),
                         racelab-upstream's format; "-" is stdout
  --body-size SIZE       response body bytes, k/m/g suffixes (default 2): a static file
  --header "N: v"        extra response header (add_header ... always), repeatable
  --idle-timeout MS      keepalive_timeout in ms (default: nginx's, 75 s; 0 is refused: nginx
                         would turn keep-alive off)
  --close-after N        keepalive_requests N: the Nth response of a connection says
                         Connection: close and nginx closes after it (needs --announce-close:
                         nginx always announces it)
  --announce-close       see --close-after
  --tag-header NAME      request header copied into the log as "tag" (default X-Racelab-Trial)
  --status N             only 200 (the static body); --delay-response is not supported: nginx
                         has no delay without a third-party module
nginx's own settings:
  --dir DIR              folder for the config, pid, logs, temporary files and body (default: a
                         fresh temporary folder, removed at exit)
  --no-debug-log         error log at level info: no accept and close events (nginx writes about
                         100 debug lines per request)
  --nginx PATH           the nginx binary (default /usr/sbin/nginx, else nginx on PATH)
  --version              print nginx's version and exit
SIGTERM and SIGINT stop nginx (its fast shutdown closes every connection) and exit 0."""


def find_nginx(explicit):
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx")


def parse_args(argv):
    c = dict(listen="127.0.0.1:0", port_file=None, log=None, body_size=2, headers=[],
             idle_ms=None, close_after=0, announce=False, tag_header="X-Racelab-Trial",
             dir=None, debug=True, nginx=None, version=False)
    for a, nxt in RS.flags(argv):
        if a in ("-h", "--help"):
            print(HELP)
            sys.exit(0)
        elif a == "--version":
            c["version"] = True
        elif a == "--listen":
            c["listen"] = nxt()
        elif a == "--port-file":
            c["port_file"] = nxt()
        elif a == "--log":
            c["log"] = nxt()
        elif a == "--status":
            v = nxt()
            if parse_int("status", v, 100, 999) != 200:
                die(f"--status: only 200 (nginx serves the body as a static file), got '{v}'")
        elif a == "--body-size":
            c["body_size"] = parse_size("body-size", nxt())
        elif a == "--header":
            h = nxt()
            m = re.fullmatch(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n\"'\\$;{}]*)", h)
            if not m:
                die(f"--header: expected \"Name: value\" (no quotes, '$', ';', braces or "
                    f"backslashes in the value), got '{h}'")
            c["headers"].append((m.group(1), m.group(2)))
        elif a == "--delay-response":
            v = nxt()
            if parse_int("delay-response", v, 0, 3600000) != 0:
                die("--delay-response: not supported: nginx-light has no way to delay a "
                    "response (echo_sleep is a third-party module)")
        elif a == "--idle-timeout":
            v = nxt()
            ms = parse_int("idle-timeout", v, 0, 2**31 - 1)
            if ms == 0:
                die("--idle-timeout: 0 is not supported: keepalive_timeout 0 turns keep-alive off "
                    "(nginx has no keep-alive without a timeout)")
            c["idle_ms"] = ms
        elif a == "--close-after":
            c["close_after"] = parse_int("close-after", nxt(), 0, 2**31 - 1)
        elif a == "--announce-close":
            c["announce"] = True
        elif a == "--tag-header":
            v = nxt()
            if not re.fullmatch(r"[A-Za-z0-9-]+", v):
                die(f"--tag-header: expected a header name of letters, digits and '-', got '{v}'")
            c["tag_header"] = v
        elif a == "--dir":
            c["dir"] = nxt()
        elif a == "--no-debug-log":
            c["debug"] = False
        elif a == "--nginx":
            c["nginx"] = nxt()
        else:
            die(f"unknown flag {a} (see --help)")
    if c["close_after"] and not c["announce"]:
        die("--close-after without --announce-close: nginx announces the close "
            "(keepalive_requests: the last response says Connection: close)")
    c["host"], c["port"] = RS.parse_listen(c["listen"])
    return c


CFG = parse_args(sys.argv[1:])
NGINX = find_nginx(CFG["nginx"])
if not NGINX:
    die("nginx not found (apt-get install nginx-light, or scripts/setup)")


def nginx_version():
    r = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    m = re.search(r"nginx/(\S+)", r.stderr + r.stdout)
    return m.group(1) if m else "unknown"


if CFG["version"]:
    print(f"nginx {nginx_version()}")
    sys.exit(0)

# --- the log ------------------------------------------------------------------------------------
RS.open_log(CFG["log"])


# --- the run folder and the config --------------------------------------------------------------

def pick_port(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def render(d, port):
    text = open(os.path.join(HERE, "nginx.conf")).read()
    host = CFG["host"]
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    ka = []
    if CFG["idle_ms"] is not None:
        ka.append(f"keepalive_timeout {CFG['idle_ms']}ms;")
    if CFG["close_after"]:
        ka.append(f"keepalive_requests {CFG['close_after']};")
    vals = {
        "DIR": d,
        "ERROR_LEVEL": "debug" if CFG["debug"] else "info",
        "TAG_VAR": CFG["tag_header"].lower().replace("-", "_"),
        "KEEPALIVE": "\n    ".join(ka) or "# (nginx's defaults)",
        "LISTEN": listen,
        "HEADERS": "\n            ".join(f'add_header "{n}" "{v}" always;'
                                      for n, v in CFG["headers"]) or "",
    }

    def sub(m):
        if m.group(1) not in vals:
            die(f"nginx.conf: unknown placeholder @{m.group(1)}@", 1)
        return vals[m.group(1)]

    text = re.sub(r"@([A-Z_]+)@", sub, text)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(d, "body"), "wb") as f:
        f.write(b"x" * CFG["body_size"])
    return path


def listening(port):
    """True when a socket listens on port (the kernel's tables, no probe connection)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


# --- reading nginx's logs as they grow -----------------------------------------------------------

class Tail:
    def __init__(self, path):
        self.path = path
        self.f = None
        self.buf = b""

    def lines(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except OSError:
                return []
        data = self.f.read()
        if not data:
            return []
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        return [x.decode("utf-8", "replace") for x in done]


class Inotify:
    """Wakes the loop when nginx writes a log (IN_MODIFY on the folder); None when unavailable."""

    def __init__(self, d):
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(fd, d.encode(), 0x2) >= 0:  # IN_MODIFY
                self.fd = fd
        except (OSError, AttributeError):
            self.fd = -1

    def drain(self):
        if self.fd >= 0:
            try:
                while os.read(self.fd, 4096):
                    pass
            except BlockingIOError:
                pass


ERR_LINE = re.compile(r"^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*(\d+) )?(.*)$")


class Conns:
    """What the error log says about each connection, turned into accept and close events."""

    def __init__(self, lport):
        self.lport = lport
        self.c = {}
        self.prev = ("", None, "")  # the previous line: level, conn, message
        self.stopping = False
        self.closing = []  # connections whose close line was read, logged by flush_closes

    def get(self, n):
        return self.c.setdefault(n, dict(rport=0, responses=0, idle=False, peer=False, err=None,
                                         close_after=False, lingering=False, last_end_us=0,
                                         busy=False))

    def access(self, o):
        n = o.get("connection")
        st = self.get(n)
        st["rport"] = st["rport"] or o.get("remote_port", 0)
        st["responses"] += 1
        end_us = int(round(float(o["msec"]) * 1e6))
        st["last_end_us"] = end_us
        # nginx's $sent_http_connection reads "close" in the log phase whatever was sent, so
        # the response's Connection: close is inferred as nginx decides it: the client asked
        # for it (or HTTP/1.0 without keep-alive), or keepalive_requests is reached
        asked = str(o.get("request_connection", "")).lower()
        limit = CFG["close_after"] or 1000
        close = ("close" in asked or o.get("connection_requests", 0) >= limit
                 or (o.get("protocol") == "HTTP/1.0" and "keep-alive" not in asked))
        st["close_after"] = close
        rt = float(o.get("request_time", 0) or 0)
        req = dict(event="request", conn=n, req=o.get("connection_requests", 1) - 1,
                   lport=o.get("server_port", self.lport), rport=o.get("remote_port", 0),
                   method=o.get("method"), path=o.get("path"),
                   request_length=o.get("request_length"), src="access-log")
        if o.get("tag"):
            req["tag"] = o["tag"]
        log(ts_us=end_us - int(round(rt * 1e6)), **req)
        log(ts_us=end_us, event="response", conn=n, req=o.get("connection_requests", 1) - 1,
            lport=o.get("server_port", self.lport), rport=o.get("remote_port", 0),
            status=o.get("status"), bytes=o.get("bytes_sent"),
            body_bytes=o.get("body_bytes_sent"), close=close, src="access-log")

    def error(self, line):
        m = ERR_LINE.match(line)
        if not m:
            return
        level, n, msg = m.group(1), m.group(2), m.group(3)
        n = int(n) if n else None
        prev = self.prev
        self.prev = (level, n, msg)
        if n is None:
            if "exiting" in msg or "signal 15" in msg or "signal 2 " in msg or "signal 3 " in msg:
                self.stopping = True
            return
        if msg.startswith("accept: "):
            am = re.match(r"accept: (\S+):(\d+) fd:\d+", msg)
            st = self.get(n)
            st["rport"] = int(am.group(2)) if am else 0
            log(event="accept", conn=n, lport=self.lport, rport=st["rport"], src="error-log")
            return
        st = self.get(n)
        if msg == "http keepalive handler":
            # run by the timer (the line before it deleted this connection's expired timer) or
            # by a read event
            st["idle"] = prev[1] == n and prev[2].startswith("event timer del:")
        elif "closed keepalive connection" in msg or "client prematurely closed" in msg:
            st["peer"] = True
        elif "(104: Connection reset by peer)" in msg:
            st["err"] = "ECONNRESET"
        elif msg == "set http lingering close handler":
            st["lingering"] = True
        elif msg.startswith("close http connection:"):
            st["closed_us"] = now_us()
            st["stopping"] = self.stopping
            self.closing.append(n)

    def flush_closes(self):
        for n in self.closing:
            st = self.c.pop(n)
            how, why = "fin", "other"
            if st["peer"]:
                how, why = "peer", "peer-eof"
            elif st["err"]:
                why = "error"
            elif st["idle"]:
                why = "idle"
            elif st["stopping"]:
                why = "exit"
            elif st["close_after"]:
                why = "after-response"
                if st["lingering"]:
                    how = "shutdown"
            rec = dict(event="close", conn=n, lport=self.lport, rport=st["rport"], how=how,
                       why=why, responses=st["responses"], src="error-log")
            if st["responses"] and st["last_end_us"]:
                rec["idle_us"] = st["closed_us"] - st["last_end_us"]
            if st["err"]:
                rec["errno"] = st["err"]
            log(ts_us=st["closed_us"], **rec)
        self.closing = []


# --- main ----------------------------------------------------------------------------------------

def set_pdeathsig():
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main():
    own_dir = CFG["dir"] is None
    d = tempfile.mkdtemp(prefix="racelab-nginx-") if own_dir else os.path.abspath(CFG["dir"])
    os.makedirs(d, exist_ok=True)
    for name in ("access.jsonl", "error.log", "nginx.pid"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    port = CFG["port"] or pick_port(CFG["host"])
    conf = render(d, port)
    version = nginx_version()

    stop = []
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)

    def on_signal(sig, _frame):
        stop.append("SIGINT" if sig == signal.SIGINT else "SIGTERM")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    proc = subprocess.Popen([NGINX, "-p", d + "/", "-c", conf, "-e", os.path.join(d, "error.log")],
                            stdin=subprocess.DEVNULL, preexec_fn=set_pdeathsig)
    ino = Inotify(d)
    access = Tail(os.path.join(d, "access.jsonl"))
    errors = Tail(os.path.join(d, "error.log"))
    conns = Conns(port)

    def pump():
        # what nginx wrote since the last look: the error log's lines first (accepts come before
        # their requests), the access log's, then the closes the error log had (a close comes
        # after its connection's last access-log line)
        errs = errors.lines()
        accs = access.lines()
        for line in errs:
            conns.error(line)
        for line in accs:
            try:
                conns.access(json.loads(line))
            except (ValueError, KeyError, TypeError):
                sys.stderr.write(f"{PROG}: unreadable access-log line: {line}\n")
        conns.flush_closes()

    # ready: nginx wrote its pid file (after opening its listening sockets) and the port listens
    deadline = time.monotonic() + 10
    while not (os.path.exists(os.path.join(d, "nginx.pid")) and listening(port)):
        if proc.poll() is not None or time.monotonic() > deadline or stop:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            err = ""
            try:
                err = open(os.path.join(d, "error.log")).read()[-2000:]
            except OSError:
                pass
            if own_dir:
                shutil.rmtree(d, ignore_errors=True)
            if stop:
                sys.exit(0)
            die(f"nginx did not come up on {CFG['host']}:{port} "
                f"(exit {proc.returncode}): {err.strip()}", 1)
        time.sleep(0.002)
    if CFG["port_file"]:
        write_port_file(CFG["port_file"], port)
    log(event="listen", lport=port, kind="nginx", version=version,
        keepalive_timeout_ms=CFG["idle_ms"] if CFG["idle_ms"] is not None else 75000,
        keepalive_requests=CFG["close_after"] or 1000, dir=d)

    fds = [wake_r] + ([ino.fd] if ino.fd >= 0 else [])
    code = 0
    while True:
        pump()
        if stop or proc.poll() is not None:
            break
        # with inotify a write wakes us; without it, look every millisecond
        r, _, _ = select.select(fds, [], [], 0.2 if ino.fd >= 0 else 0.001)
        ino.drain()
        if wake_r in r:
            try:
                while os.read(wake_r, 64):
                    pass
            except BlockingIOError:
                pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # fast shutdown: closes every connection
        try:
            proc.wait(timeout=1.5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    else:
        sys.stderr.write(f"{PROG}: nginx exited on its own (status {proc.returncode})\n")
        code = 1
    conns.stopping = True
    pump()
    log(event="exit", signal=stop[0] if stop else None, nginx_status=proc.returncode)
    if own_dir:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
