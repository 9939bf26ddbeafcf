// racelab-server-node: Node's own HTTP/1.1 server (http.createServer) as an upstream of racelab,
// with racelab-upstream's flags where they apply and its event log (docs/servers.md).
//
// Node closes an idle keep-alive connection when its socket timeout expires, armed when a
// response finishes and no other is pending. That timeout is server.keepAliveTimeout (default
// 5000 ms) plus a buffer: 1000 ms hard-coded in recent 18/20/22 releases (Node 20.20 measured:
// keepAliveTimeout 100 closes after about 1100 ms), server.keepAliveTimeoutBuffer where it exists.
// The Keep-Alive header announces keepAliveTimeout alone, in whole seconds, rounded down.
// --idle-timeout sets keepAliveTimeout in ms (0 = no keep-alive timeout, Node's own meaning);
// without it Node's default stays. Only Node's core modules are used.
'use strict';

const fs = require('fs');
const http = require('http');

const PROG = 'racelab-server-node';

const HELP = `usage: ${PROG} [flags]
Node's http.createServer as a racelab upstream (docs/servers.md). Flags as racelab-upstream's
where they apply:
  --listen ADDR          HOST:PORT to listen on (default 127.0.0.1:0, any free port)
  --port-file FILE       write the bound port to FILE once listening (atomically)
  --log FILE             JSON line per event (listen, accept, request, response, close, exit),
                         racelab-upstream's format; "-" is stdout
  --status N             response status (default 200)
  --body-size SIZE       response body bytes, k/m/g suffixes (default 2)
  --header "N: v"        extra response header, repeatable
  --delay-response MS    pause before the response head (default 0)
  --idle-timeout MS      server.keepAliveTimeout: close a keep-alive connection idle that long
                         after a response (default: Node's, 5000; 0 = never)
  --close-after N        server.maxRequestsPerSocket: the Nth response of a connection says
                         Connection: close and the server closes after it (needs
                         --announce-close: Node always announces it)
  --announce-close       see --close-after
  --tag-header NAME      request header copied into the log as "tag" (default X-Racelab-Trial)
Node's own settings:
  --headers-timeout MS   server.headersTimeout (default Node's, 60000)
  --request-timeout MS   server.requestTimeout (default Node's, 300000; 0 = none)
  --keep-alive-timeout-buffer MS
                         server.keepAliveTimeoutBuffer, the time added to keepAliveTimeout
                         (Node's default 1000; refused by a Node that hard-codes it)
  --version              print Node's version and exit
SIGTERM and SIGINT close every connection and exit 0.`;

function die(msg) {
  process.stderr.write(`${PROG}: ${msg}\n`);
  process.exit(2);
}

function parseInt10(flag, v, min, max) {
  if (v === undefined || !/^[0-9]+$/.test(v)) die(`--${flag}: expected a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) die(`--${flag}: expected a whole number in [${min}, ${max}], got '${v}'`);
  return n;
}

function parseSize(flag, v) {
  const m = v === undefined ? null : /^([0-9]+)([kKmMgG]?)$/.exec(v);
  if (!m) die(`--${flag}: expected a size in bytes (e.g. 65536, 64k, 8m), got '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[m[2].toLowerCase()];
  return Number(m[1]) * mult;
}

function parseListen(v) {
  const m = /^(\[[^\]]+\]|[^:]*):([0-9]+)$/.exec(v || '');
  if (!m) die(`--listen: expected HOST:PORT, got '${v}'`);
  const port = Number(m[2]);
  if (port > 65535) die(`--listen: port out of range in '${v}'`);
  return { host: m[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

const cfg = {
  listen: '127.0.0.1:0', portFile: null, log: null, status: 200, bodySize: 2, headers: [],
  delayResponse: 0, idleTimeout: null, closeAfter: 0, announceClose: false,
  tagHeader: 'x-racelab-trial', headersTimeout: null, requestTimeout: null, kaBuffer: null,
};

const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  let a = argv[i];
  let val;
  const eq = a.indexOf('=');
  if (a.startsWith('--') && eq > 0) {
    val = a.slice(eq + 1);
    a = a.slice(0, eq);
  }
  const next = () => (val !== undefined ? val : argv[++i]);
  switch (a) {
    case '-h': case '--help': process.stdout.write(HELP + '\n'); process.exit(0); break;
    case '--version': process.stdout.write(`node ${process.version}\n`); process.exit(0); break;
    case '--listen': cfg.listen = next(); break;
    case '--port-file': cfg.portFile = next(); break;
    case '--log': cfg.log = next(); break;
    case '--status': cfg.status = parseInt10('status', next(), 100, 999); break;
    case '--body-size': cfg.bodySize = parseSize('body-size', next()); break;
    case '--header': {
      const h = next();
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)$/.exec(h || '');
      if (!m) die(`--header: expected "Name: value", got '${h}'`);
      cfg.headers.push([m[1], m[2]]);
      break;
    }
    case '--delay-response': cfg.delayResponse = parseInt10('delay-response', next(), 0, 3600000); break;
    case '--idle-timeout': cfg.idleTimeout = parseInt10('idle-timeout', next(), 0, 2147483647); break;
    case '--close-after': cfg.closeAfter = parseInt10('close-after', next(), 0, 2147483647); break;
    case '--announce-close': cfg.announceClose = true; break;
    case '--tag-header': cfg.tagHeader = String(next() || '').toLowerCase(); break;
    case '--headers-timeout': cfg.headersTimeout = parseInt10('headers-timeout', next(), 0, 2147483647); break;
    case '--request-timeout': cfg.requestTimeout = parseInt10('request-timeout', next(), 0, 2147483647); break;
    case '--keep-alive-timeout-buffer': cfg.kaBuffer = parseInt10('keep-alive-timeout-buffer', next(), 0, 2147483647); break;
    default: die(`unknown flag ${a} (see --help)`);
  }
}
if (cfg.closeAfter > 0 && !cfg.announceClose)
  die('--close-after without --announce-close: Node announces the close (maxRequestsPerSocket says Connection: close)');
const listen = parseListen(cfg.listen);

// --- log: one JSON line per event, each written with a single write(2) -----------------------
let logFd = -1;
if (cfg.log === '-') logFd = 1;
else if (cfg.log) {
  try {
    logFd = fs.openSync(cfg.log, 'a');
  } catch (e) {
    die(`--log: cannot open ${cfg.log}: ${e.message}`);
  }
}
// wall-clock µs: the process's time origin (taken in µs at start) plus the monotonic clock
function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
function log(rec) {
  if (logFd < 0) return;
  const line = JSON.stringify(Object.assign({ ts_us: nowUs() }, rec)) + '\n';
  fs.writeSync(logFd, line);
}

const body = Buffer.alloc(cfg.bodySize, 'x');
const server = http.createServer();
if (cfg.idleTimeout !== null) server.keepAliveTimeout = cfg.idleTimeout;
if (cfg.headersTimeout !== null) server.headersTimeout = cfg.headersTimeout;
if (cfg.requestTimeout !== null) server.requestTimeout = cfg.requestTimeout;
if (cfg.closeAfter > 0) server.maxRequestsPerSocket = cfg.closeAfter;
if (cfg.kaBuffer !== null) {
  if (!('keepAliveTimeoutBuffer' in server))
    die(`--keep-alive-timeout-buffer: Node ${process.version} has no server.keepAliveTimeoutBuffer (its buffer, if any, is hard-coded)`);
  server.keepAliveTimeoutBuffer = cfg.kaBuffer;
}

let nconn = 0;
let stopping = false;
const conns = new Set();

server.on('connection', (sock) => {
  // Node's own 'connection' listener ran first: its timeout handler (which destroys the socket
  // when keepAliveTimeout expires) is already attached, so ours only watches.
  const st = {
    conn: nconn++, lport: sock.localPort, rport: sock.remotePort, reqs: 0, responses: 0,
    busy: false, lastEndUs: 0, timedOut: false, peerEnded: false, err: null, closeAfter: false,
  };
  sock.racelab = st;
  conns.add(sock);
  log({ event: 'accept', conn: st.conn, lport: st.lport, rport: st.rport });
  sock.on('timeout', () => { st.timedOut = true; });
  sock.on('end', () => { st.peerEnded = true; });
  sock.on('error', (e) => { st.err = e.code || String(e.message); });
  sock.on('close', () => {
    conns.delete(sock);
    let why, how = 'fin';
    // a response that said Connection: close is followed by the server's own end(), whatever
    // the client does after reading it
    if (st.err) why = 'error';
    else if (st.closeAfter && !st.busy) why = 'after-response';
    else if (st.peerEnded) { why = 'peer-eof'; how = 'peer'; }
    else if (stopping) why = 'exit';
    else if (st.timedOut && !st.busy) why = 'idle';
    else if (st.timedOut) why = 'timeout';
    else why = 'other';
    const rec = { event: 'close', conn: st.conn, lport: st.lport, rport: st.rport, how, why,
      responses: st.responses };
    if (st.responses > 0 && !st.busy) rec.idle_us = nowUs() - st.lastEndUs;
    if (st.err) rec.errno = st.err;
    log(rec);
  });
});

server.on('request', (req, res) => {
  const sock = req.socket;
  const st = sock.racelab;
  const reqNo = st.reqs++;
  st.busy = true;
  const firstUs = nowUs();
  let bodyBytes = 0;
  const tag = req.headers[cfg.tagHeader];
  req.on('data', (d) => { bodyBytes += d.length; });
  req.on('end', () => {
    const rec = { event: 'request', conn: st.conn, req: reqNo, lport: st.lport, rport: st.rport,
      method: req.method, path: req.url, body: bodyBytes, first_us: firstUs };
    if (tag !== undefined) rec.tag = tag;
    log(rec);
    const answer = () => {
      const startUs = nowUs();
      const written0 = sock.bytesWritten;
      const hdrs = { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' };
      for (const [n, v] of cfg.headers) hdrs[n] = v;
      res.on('finish', () => {
        st.responses++;
        st.busy = false;
        st.lastEndUs = nowUs();
        // what was sent: Node writes Connection: close itself (the request asked for it,
        // maxRequestsPerSocket reached), so read the head it wrote
        const close = res.shouldKeepAlive === false || /\r\nconnection:[ \t]*close/i.test(String(res._header || ''));
        if (close) st.closeAfter = true;
        log({ event: 'response', conn: st.conn, req: reqNo, lport: st.lport, rport: st.rport,
          status: cfg.status, bytes: sock.bytesWritten - written0, close, start_us: startUs });
      });
      res.writeHead(cfg.status, hdrs);
      res.end(body);
    };
    if (cfg.delayResponse > 0) setTimeout(answer, cfg.delayResponse);
    else answer();
  });
});

server.on('listening', () => {
  const port = server.address().port;
  if (cfg.portFile) {
    const tmp = `${cfg.portFile}.tmp.${process.pid}`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, cfg.portFile);
  }
  log({ event: 'listen', lport: port, kind: 'node', version: process.version,
    keep_alive_timeout_ms: server.keepAliveTimeout,
    keep_alive_timeout_buffer_ms: server.keepAliveTimeoutBuffer === undefined ? null : server.keepAliveTimeoutBuffer,
    headers_timeout_ms: server.headersTimeout,
    request_timeout_ms: server.requestTimeout });
});

server.on('error', (e) => {
  process.stderr.write(`${PROG}: listen ${cfg.listen}: ${e.message}\n`);
  process.exit(2);
});

function stop(sig) {
  if (stopping) return;
  stopping = true;
  const done = () => {
    log({ event: 'exit', signal: sig, connections: nconn });
    process.exit(0);
  };
  server.close(() => setImmediate(done));
  for (const s of conns) s.destroy();
  setTimeout(done, 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.listen({ host: listen.host, port: listen.port });
