#!/usr/bin/python3
"""racelab-server-gunicorn: a WSGI app served by Debian's gunicorn (python3-gunicorn) as an
upstream of racelab, with racelab-upstream's flags where they apply and its event log
(docs/servers.md). Run it with /usr/bin/python3 (Debian's gunicorn is not in other Pythons).

gunicorn runs one worker process here (one arbiter, one worker), of either class:
  gthread  (default) keeps connections alive: after a response the connection goes back to the
           worker's poller with a deadline of now + keepalive seconds; the worker's main loop
           closes every connection past its deadline each time it wakes up, and it wakes up at
           least once a second (select with a 1 s timeout). So an idle connection is closed
           between keepalive and keepalive + 1 s after its response.
  sync     never keeps a connection alive in gunicorn 20.1 (the response says Connection: close
           and the worker closes after it, whatever --keep-alive says).
gunicorn's keepalive is whole seconds (an int; 0 turns keep-alive off): --idle-timeout takes ms
and must be a positive multiple of 1000.

The worker classes are gunicorn's own with hooks that log accepts, requests, responses and
closes (with why the connection was closed); nothing in how gunicorn serves is changed.
"""
import errno
import http
import os
import re
import signal
import socket
import sys
import threading
import time

PROG = "racelab-server-gunicorn"

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import racelab_server  # noqa: E402 - the folder above this script's (servers/)

RS = racelab_server.Server(PROG)
die = RS.die
parse_int = RS.parse_int
parse_size = RS.parse_size
now_us = racelab_server.now_us
log = RS.log

HELP = f"""usage: {PROG} [flags]
A WSGI app on Debian's gunicorn as a racelab upstream (docs/servers.md). Flags as
racelab-upstream's where they apply:
  --listen ADDR          HOST:PORT to listen on (default 127.0.0.1:0, any free port)
  --port-file FILE       write the bound port to FILE once listening (atomically)
  --log FILE             JSON line per event (listen, accept, request, response, close, exit),
                         racelab-upstream's format; "-" is stdout
  --status N             response status (default 200)
  --body-size SIZE       response body bytes, k/m/g suffixes (default 2)
  --header "N: v"        extra response header, repeatable
  --delay-response MS    pause before the response head (default 0)
  --idle-timeout MS      gunicorn's --keep-alive, in ms: a positive multiple of 1000 (gunicorn
                         keeps whole seconds; 0 would turn keep-alive off). Default: gunicorn's,
                         2 s. The gthread worker closes an idle connection up to 1 s later.
  --tag-header NAME      request header copied into the log as "tag" (default X-Racelab-Trial)
gunicorn's own settings:
  --worker sync|gthread  worker class (default gthread; sync closes after every response)
  --threads N            gthread's threads (default 1)
  --version              print gunicorn's version and exit
SIGTERM and SIGINT close every connection and exit 0."""


try:
    import gunicorn
    from gunicorn.app.base import BaseApplication
    from gunicorn.workers.gthread import TConn, ThreadWorker
    from gunicorn.workers.sync import SyncWorker
except ImportError as e:  # pragma: no cover - depends on the machine
    die(f"gunicorn not importable by {sys.executable} ({e}): apt-get install python3-gunicorn "
        "(or scripts/setup), and run with /usr/bin/python3")


def parse_args(argv):
    c = dict(listen="127.0.0.1:0", port_file=None, log=None, status=200, body_size=2,
             headers=[], delay_ms=0, idle_ms=None, tag_header="X-Racelab-Trial",
             worker="gthread", threads=1)
    for a, nxt in RS.flags(argv):
        if a in ("-h", "--help"):
            print(HELP)
            sys.exit(0)
        elif a == "--version":
            print(f"gunicorn {gunicorn.__version__} (Python {sys.version.split()[0]})")
            sys.exit(0)
        elif a == "--listen":
            c["listen"] = nxt()
        elif a == "--port-file":
            c["port_file"] = nxt()
        elif a == "--log":
            c["log"] = nxt()
        elif a == "--status":
            c["status"] = parse_int("status", nxt(), 100, 999)
        elif a == "--body-size":
            c["body_size"] = parse_size("body-size", nxt())
        elif a == "--header":
            h = nxt()
            m = re.fullmatch(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)", h)
            if not m:
                die(f"--header: expected \"Name: value\", got '{h}'")
            c["headers"].append((m.group(1), m.group(2)))
        elif a == "--delay-response":
            c["delay_ms"] = parse_int("delay-response", nxt(), 0, 3600000)
        elif a == "--idle-timeout":
            v = nxt()
            ms = parse_int("idle-timeout", v, 0, 2**31 - 1)
            if ms == 0 or ms % 1000:
                die(f"--idle-timeout: gunicorn's keepalive is whole seconds and 0 turns keep-alive "
                    f"off: give a positive multiple of 1000 ms, got '{v}'")
            c["idle_ms"] = ms
        elif a == "--tag-header":
            c["tag_header"] = nxt()
        elif a == "--worker":
            v = nxt()
            if v not in ("sync", "gthread"):
                die(f"--worker: expected sync or gthread, got '{v}'")
            c["worker"] = v
        elif a == "--threads":
            c["threads"] = parse_int("threads", nxt(), 1, 1024)
        else:
            die(f"unknown flag {a} (see --help)")
    RS.parse_listen(c["listen"])
    return c


CFG = parse_args(sys.argv[1:])
BODY = b"x" * CFG["body_size"]
TAG_ENV = "HTTP_" + CFG["tag_header"].upper().replace("-", "_")
STATUS_LINE = f"{CFG['status']} " + next(
    (s.phrase for s in http.HTTPStatus if s.value == CFG["status"]), "Status")

# --- the log: one JSON line per event, each written with a single write(2); the descriptor is
# opened before gunicorn forks, O_APPEND, so the arbiter and the worker share it ---------------
RS.open_log(CFG["log"])


class ConnState:
    """What the log says about one connection."""

    def __init__(self, cid, sock, client):
        self.conn = cid
        try:
            self.lport = sock.getsockname()[1]
        except OSError:
            self.lport = 0
        self.rport = client[1] if isinstance(client, tuple) and len(client) > 1 else 0
        self.reqs = 0
        self.responses = 0
        self.busy = False
        self.last_end_us = 0
        self.close_after = False
        self.logged_close = False
        # filled by the app for the response record
        self.cur = None

    def log_accept(self):
        log(event="accept", conn=self.conn, lport=self.lport, rport=self.rport)

    def log_close(self, how, why, err=None):
        if self.logged_close:
            return
        self.logged_close = True
        rec = dict(event="close", conn=self.conn, lport=self.lport, rport=self.rport, how=how,
                   why=why, responses=self.responses)
        if self.responses and not self.busy:
            rec["idle_us"] = now_us() - self.last_end_us
        if err:
            rec["errno"] = err
        log(**rec)


_tls = threading.local()
_nconn = 0
_nconn_lock = threading.Lock()


def next_conn_id():
    global _nconn
    with _nconn_lock:
        cid = _nconn
        _nconn += 1
    return cid


def peer_state(sock):
    """(how, why, errno) as seen from the socket just before the server closes it: the peer's
    FIN already queued, a reset, or nothing (the server is the one closing)."""
    try:
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        if data == b"":
            return ("peer", "peer-eof", None)
        return None
    except (BlockingIOError, InterruptedError):
        return None
    except ConnectionResetError:
        return ("fin", "error", "ECONNRESET")
    except OSError as e:
        if e.errno == errno.EBADF:
            return None
        return ("fin", "error", errno.errorcode.get(e.errno, str(e.errno)))


# --- the WSGI app -------------------------------------------------------------------------------

def app(environ, start_response):
    st = getattr(_tls, "conn", None)
    req_no = st.reqs if st else 0
    if st:
        st.reqs += 1
    first_us = now_us()
    n = 0
    inp = environ.get("wsgi.input")
    while inp is not None:
        chunk = inp.read(65536)
        if not chunk:
            break
        n += len(chunk)
    rec = dict(event="request", conn=st.conn if st else -1, req=req_no,
               lport=st.lport if st else int(environ.get("SERVER_PORT", 0)),
               rport=st.rport if st else int(environ.get("REMOTE_PORT", 0) or 0),
               method=environ.get("REQUEST_METHOD"),
               path=environ.get("RAW_URI") or environ.get("PATH_INFO"), body=n,
               first_us=first_us)
    if TAG_ENV in environ:
        rec["tag"] = environ[TAG_ENV]
    log(**rec)
    if CFG["delay_ms"]:
        time.sleep(CFG["delay_ms"] / 1000.0)
    if st:
        st.cur = dict(req=req_no, start_us=now_us())
    headers = [("Content-Length", str(len(BODY))), ("Content-Type", "application/octet-stream")]
    headers += CFG["headers"]
    start_response(STATUS_LINE, headers)
    return [BODY]


# --- gunicorn's workers, with the log's hooks ---------------------------------------------------

def log_response(st, keepalive):
    if not st or not st.cur:
        return
    st.responses += 1
    st.last_end_us = now_us()
    st.close_after = not keepalive
    log(event="response", conn=st.conn, req=st.cur["req"], lport=st.lport, rport=st.rport,
        status=CFG["status"], body_bytes=len(BODY), close=not keepalive,
        start_us=st.cur["start_us"])
    st.cur = None


class RTConn(TConn):
    def __init__(self, cfg, sock, client, server):
        super().__init__(cfg, sock, client, server)
        self.rl = ConnState(next_conn_id(), sock, client)
        self.rl.log_accept()

    def close(self):
        st = self.rl
        if getattr(_tls, "murdering", False):
            st.log_close("fin", "idle")
        elif getattr(_tls, "stopping", False):
            st.log_close("fin", "exit")
        elif st.close_after and not st.busy:
            # gunicorn closes after a response that said Connection: close, whatever the client
            # does after reading it
            st.log_close("fin", "after-response")
        else:
            seen = peer_state(self.sock)
            if seen:
                st.log_close(*seen)
            else:
                st.log_close("fin", "other")
        super().close()


class RThreadWorker(ThreadWorker):
    """gunicorn's gthread worker; accept() builds an RTConn instead of a TConn, the rest is
    gunicorn's."""

    def accept(self, server, listener):
        try:
            sock, client = listener.accept()
            conn = RTConn(self.cfg, sock, client, server)
            self.nr_conns += 1
            self.enqueue_req(conn)
        except EnvironmentError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle_request(self, req, conn):
        st = conn.rl
        _tls.conn = st
        st.busy = True
        keepalive = False
        try:
            keepalive = super().handle_request(req, conn)
            return keepalive
        finally:
            log_response(st, keepalive)
            st.busy = False
            _tls.conn = None

    def murder_keepalived(self):
        _tls.murdering = True
        try:
            super().murder_keepalived()
        finally:
            _tls.murdering = False

    def handle_exit(self, sig, frame):
        # gunicorn's gthread would finish its current select() (up to 1 s) and leave the idle
        # keep-alive connections to the process exit; close them now, each with its log line
        self.alive = False
        _tls.stopping = True
        with self._lock:
            keep = list(self._keep)
            self._keep.clear()
        for conn in keep:
            conn.close()
        self.tpool.shutdown(False)
        sys.exit(0)


class RSyncWorker(SyncWorker):
    """gunicorn's sync worker: one connection at a time, closed after its response."""

    def handle(self, listener, client, addr):
        st = ConnState(next_conn_id(), client, addr)
        st.log_accept()
        _tls.conn = st
        try:
            super().handle(listener, client, addr)
        finally:
            _tls.conn = None
            if st.responses:
                st.log_close("fin", "after-response")
            else:
                st.log_close("fin", "other")

    def handle_request(self, listener, req, client, addr):
        st = getattr(_tls, "conn", None)
        if st:
            st.busy = True
        try:
            super().handle_request(listener, req, client, addr)
        finally:
            log_response(st, False)  # the sync worker always closes
            if st:
                st.busy = False


# --- the application: gunicorn's arbiter in this process ----------------------------------------

def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


def when_ready(server):
    port = server.LISTENERS[0].sock.getsockname()[1]
    if CFG["port_file"]:
        write_port_file(CFG["port_file"], port)
    log(event="listen", lport=port, kind="gunicorn", version=gunicorn.__version__,
        worker=CFG["worker"], keepalive_s=server.cfg.keepalive,
        keep_alive=CFG["worker"] == "gthread" and server.cfg.keepalive > 0)


def on_exit(server):
    log(event="exit")


class Server(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for k, v in self.options.items():
            self.cfg.set(k, v)

    def load(self):
        return app


def main():
    opts = {
        "bind": [CFG["listen"]],
        "workers": 1,
        # by name: gunicorn imports it from this (already loaded) module
        "worker_class": "__main__." + ("RThreadWorker" if CFG["worker"] == "gthread" else "RSyncWorker"),
        "threads": CFG["threads"],
        "graceful_timeout": 2,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": PROG,
        "when_ready": when_ready,
        "on_exit": on_exit,
    }
    if CFG["idle_ms"] is not None:
        opts["keepalive"] = CFG["idle_ms"] // 1000
    Server(opts).run()


if __name__ == "__main__":
    main()
