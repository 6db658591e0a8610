#!/usr/bin/python3
"""Measures GetProperty through the Python client: calls/s, p50 and p99 latency.

Usage: PYTHONPATH=build/clients/python bench_get.py --url tcp://127.0.0.1:7700
         [--threads 16] [--duration 10] [--warmup 1] [--secret-env AUTH_SECRET]

Creates one property, then calls GetProperty on it from --threads threads sharing one
Channel (closed loop: each thread waits for its reply before the next call) for
--duration seconds after --warmup seconds, and prints one line of results.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import propertyd
from propertyd import property_pb2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="tcp://127.0.0.1:7700")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--secret-env", default="AUTH_SECRET")
    ap.add_argument("--sub", default="bench-py")
    a = ap.parse_args()

    tok = propertyd.mint_token(os.environ[a.secret_env], a.sub, 3600)
    with propertyd.connect(a.url, token=tok, timeout=10.0) as ch:
        ps = propertyd.PropertyServiceStub(ch)
        p = ps.CreateProperty(property_pb2.CreatePropertyRequest(
            title="Bench", location=property_pb2.Location(city="Paris", country_code="FR"),
            price_cents=1, currency="EUR"))
        req = property_pb2.GetPropertyRequest(id=p.id)
        start = time.monotonic() + a.warmup
        stop = start + a.duration
        lats: list[list[float]] = [[] for _ in range(a.threads)]
        errors = [0] * a.threads

        def work(i: int) -> None:
            mine = lats[i]
            while True:
                t0 = time.monotonic()
                if t0 >= stop:
                    return
                try:
                    ps.GetProperty(req)
                except propertyd.RpcError:
                    errors[i] += 1
                    continue
                t1 = time.monotonic()
                if t0 >= start:
                    mine.append(t1 - t0)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    all_lat = sorted(x for per in lats for x in per)
    n = len(all_lat)
    if not n:
        raise SystemExit("no successful call")

    def pct(q: float) -> float:
        return all_lat[min(n - 1, int(q * n))] * 1e6

    print(f"c={a.threads} calls={n} errors={sum(errors)} rate={n / a.duration:.0f}/s "
          f"p50={pct(0.50):.0f}us p99={pct(0.99):.0f}us max={all_lat[-1] * 1e6:.0f}us")


if __name__ == "__main__":
    main()
