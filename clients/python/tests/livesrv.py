"""Starting a real propertyd for the live tests, as the C integration harness does.

The binary is $PD_PROPERTYD (set by CTest to the build tree's own), else
$PD_BIN_DIR/propertyd. DATABASE_URL and REDIS_URL must name a real PostgreSQL and Redis
(scripts/test.sh sets them). Ports are free loopback ports in 20000-32000, below Linux's
ephemeral range; a start that lost a port race is retried.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import propertyd
from propertyd import health_pb2

SECRET = "python-client-test-secret-0123456789abcdef"  # >= 32 bytes
READY_WAIT = 30.0
# Lines that fail the run when an ASan/UBSan build of propertyd prints them.
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "WARNING: ThreadSanitizer")
STOP_WAIT = 20.0


def binary() -> str:
    path = os.environ.get("PD_PROPERTYD") or os.path.join(os.environ.get("PD_BIN_DIR", ""), "propertyd")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"propertyd binary not found ({path!r}): set PD_PROPERTYD or PD_BIN_DIR")
    for var in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(var):
            raise RuntimeError(f"{var} is not set: the live tests need a real PostgreSQL and Redis "
                               "(scripts/test.sh sets them)")
    return path


def free_port(avoid: set[int], hosts: tuple[str, ...] = ("127.0.0.1",)) -> int:
    """A port in 20000-32000 nobody listens on, on every address of `hosts`."""
    for _ in range(200):
        p = random.randrange(20000, 32000)
        if p in avoid:
            continue
        if all(_bindable(h, p) for h in hosts):
            return p
    raise RuntimeError("no free loopback port")


def _bindable(host: str, port: int) -> bool:
    s = socket.socket()
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """One propertyd child process. start() waits for Health SERVING; stop() drains it."""

    def __init__(self, *, tls: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 rpc_host: str = "127.0.0.1", rpc_port: int = 0) -> None:
        self.tls = tls or {}
        self.extra_env = env or {}
        self.rpc_host = rpc_host  # another loopback address (127.0.0.2...) for the dns+ tests
        self.rpc_port = rpc_port  # 0: a free one
        self.dir = tempfile.mkdtemp(prefix="pyclient-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.rpc_url = self.events_url = self.http_addr = ""
        self.log_path = os.path.join(self.dir, "propertyd.log")
        self.failed = False

    def start(self) -> Server:
        path = binary()
        for _ in range(3):
            used: set[int] = {self.rpc_port}
            ports = []
            for _ in range(3):
                ports.append(free_port(used))
                used.add(ports[-1])
            if self.rpc_port:
                ports[0] = self.rpc_port
            scheme = "tls+tcp" if self.tls else "tcp"
            self.rpc_url = f"{scheme}://{self.rpc_host}:{ports[0]}"
            self.events_url = f"tcp://127.0.0.1:{ports[1]}"
            self.http_addr = f"127.0.0.1:{ports[2]}"
            env = dict(os.environ)
            env.update({"AUTH_SECRET": SECRET, "WORKERS": env.get("WORKERS", "8"),
                        "RPC_URL": self.rpc_url, "EVENTS_URL": self.events_url, "HTTP_ADDR": self.http_addr})
            env.update(self.extra_env)
            if self.tls:
                env["TLS_CERT_FILE"] = self.tls["cert"]
                env["TLS_KEY_FILE"] = self.tls["key"]
                if "client_ca" in self.tls:
                    env["TLS_CA_FILE"] = self.tls["client_ca"]
            self.log_path = os.path.join(self.dir, "propertyd.log")
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen([path], env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=log)
            if self._wait_serving():
                return self
            in_use = "in use" in self.log()
            self.kill()
            if not in_use or self.rpc_port:
                break
        raise RuntimeError(f"propertyd did not start; log:\n{self.log()[-4000:]}")

    def _wait_serving(self) -> bool:
        kw = {"ca": self.tls["cert"], "cert": self.tls.get("client_cert"),
              "key": self.tls.get("client_key")} if self.tls else {}
        with propertyd.connect(self.rpc_url, timeout=1.0, **kw) as ch:
            hs = propertyd.HealthStub(ch)
            end = time.monotonic() + READY_WAIT
            while time.monotonic() < end:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    if hs.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING:
                        return True
                except propertyd.RpcError:
                    pass
                time.sleep(0.1)
        return False

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The instance's /metrics as {(name, labels): value}."""
        with urllib.request.urlopen(f"http://{self.http_addr}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
            if m and not line.startswith("#"):
                labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    def requests_total(self, method: str, code: str = "0") -> int:
        """propertyd_requests_total{method, code} (docs/metrics.md); 0 before the first one."""
        key = ("propertyd_requests_total", frozenset({("method", method), ("code", code)}))
        return int(self.metrics().get(key, 0))

    def token(self, sub: str = "alice", ttl: int = 3600) -> str:
        return propertyd.mint_token(SECRET, sub, ttl)

    def stop(self) -> int | None:
        """SIGTERM and wait (the server drains); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        log = self.log()
        for bad in SANITIZER_REPORTS:
            if bad in log:
                self.failed = True
                raise AssertionError(f"sanitizer report ({bad!r}) in propertyd's log {self.log_path}")
        if not self.failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def pause(self) -> None:
        """SIGSTOP: the process stops answering but keeps its connections."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def make_certs(directory: str) -> dict[str, str]:
    """Throwaway self-signed certificates (server and client), as the C TLS test makes them."""
    out = {}
    for name in ("server", "client", "other"):
        crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", crt], check=True, capture_output=True)
        out[name + "_crt"], out[name + "_key"] = crt, key
    return out
