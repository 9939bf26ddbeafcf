"""racelab_server — what the Python server kinds (gunicorn/server.py, nginx/server.py) share:
racelab-upstream's flag syntax (--name value or --name=value) and value checks with its
messages, and its event log (docs/servers.md). Each script imports it from the folder above its
own and binds it to its program name: `rs = racelab_server.Server(PROG)`."""
import json
import os
import re
import sys
import time


def now_us():
    return time.time_ns() // 1000


class Server:
    def __init__(self, prog):
        self.prog = prog
        self.log_fd = -1

    def die(self, msg, code=2):
        sys.stderr.write(f"{self.prog}: {msg}\n")
        sys.exit(code)

    def flags(self, argv):
        """Yields (name, value) for each flag of argv, value a function that returns the flag's
        value (`--name=value`, else the next argument; exit 2 when there is none)."""
        i = 0
        while i < len(argv):
            a, val = argv[i], None
            if a.startswith("--") and "=" in a:
                a, val = a.split("=", 1)
            at = [i]

            def value(a=a, val=val, at=at):
                if val is not None:
                    return val
                at[0] += 1
                if at[0] >= len(argv):
                    self.die(f"{a}: expected a value")
                return argv[at[0]]

            yield a, value
            i = at[0] + 1

    def parse_int(self, flag, v, lo, hi):
        if v is None or not re.fullmatch(r"[0-9]+", v):
            self.die(f"--{flag}: expected a whole number, got '{v}'")
        n = int(v)
        if n < lo or n > hi:
            self.die(f"--{flag}: expected a whole number in [{lo}, {hi}], got '{v}'")
        return n

    def parse_size(self, flag, v):
        m = re.fullmatch(r"([0-9]+)([kKmMgG]?)", v or "")
        if not m:
            self.die(f"--{flag}: expected a size in bytes (e.g. 65536, 64k, 8m), got '{v}'")
        return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[
            m.group(2).lower()]

    def parse_listen(self, v):
        """--listen HOST:PORT: (host, port), the host 127.0.0.1 when empty."""
        m = re.fullmatch(r"(\[[^\]]+\]|[^:]*):([0-9]+)", v)
        if not m or int(m.group(2)) > 65535:
            self.die(f"--listen: expected HOST:PORT, got '{v}'")
        return m.group(1).strip("[]") or "127.0.0.1", int(m.group(2))

    def open_log(self, path):
        """--log FILE ("-" stdout, None none): opened O_APPEND, so that processes forked
        afterwards share it and each line, one write(2), stays whole."""
        if path == "-":
            self.log_fd = 1
        elif path:
            try:
                self.log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as e:
                self.die(f"--log: cannot open {path}: {e.strerror}")

    def log(self, ts_us=None, **rec):
        """One event, racelab-upstream's JSON line, with ts_us now unless given."""
        if self.log_fd < 0:
            return
        line = json.dumps(dict(ts_us=ts_us if ts_us is not None else now_us(), **rec),
                          separators=(",", ":")) + "\n"
        os.write(self.log_fd, line.encode())
