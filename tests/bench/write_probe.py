#!/usr/bin/env python3
"""write_probe.py — one client's write latency on a fresh `lotlined all`.

    tests/bench/write_probe.py [--bin build/bin] [--writes N] [--set K=V]...

Starts `lotlined all` (embedded broker) on a temporary data directory,
creates one lot, then posts N moves one after another (each waits for the
answer before the next) and prints p50, p99 and max of the round trips in
ms. The figure it shows is the time a lone write waits between its POST and
its answer: batching timers and polls, not work. The benchmark
(lotline_bench, "write latency") measures the same with 1 and 32 clients.
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def wait_for(path, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                return f.read().strip()
        time.sleep(0.05)
    sys.exit(f"write_probe: {path} did not appear within {timeout_s} s")


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read()
    return resp.status, text


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="lotline-probe-")
    argv = [os.path.join(a.bin, "lotlined"), "all", "--data", data,
            "--http", "127.0.0.1:0", "--log-level", "warn"]
    for s in a.set:
        argv += ["--set", s]
    log = open(os.path.join(data, "lotlined.log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        host, port = wait_for(os.path.join(data, "http.addr"), 30).rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        # Ready: the consumer has its partitions (the broker's first group
        # join takes 3 s), so the first write measures lotline alone.
        deadline = time.time() + 30
        while time.time() < deadline:
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                break
            time.sleep(0.05)
        lot = {"lot_id": "PROBE-LOT", "product_id": "P-PROBE", "name": "probe",
               "tracking": "LOT"}
        t0 = time.perf_counter()
        status, text = post(conn, "/v1/lots", lot)
        first_ms = (time.perf_counter() - t0) * 1000.0
        if status != 201:
            sys.exit(f"write_probe: creating the lot: {status} {text!r}")
        move = {"product_id": "P-PROBE", "lot_id": "PROBE-LOT", "quantity": "1",
                "from": {"id": "Vendors/Probe", "usage": "SUPPLIER"},
                "to": {"id": "WH/Probe", "usage": "INTERNAL"},
                "reference": "probe"}
        ms = []
        for _ in range(a.writes):
            t0 = time.perf_counter()
            status, text = post(conn, "/v1/moves", move)
            ms.append((time.perf_counter() - t0) * 1000.0)
            if status != 201:
                sys.exit(f"write_probe: move: {status} {text!r}")
        ms.sort()
        print(f"first write (the lot): {first_ms:.2f} ms")
        print(f"{a.writes} sequential POST /v1/moves: p50 {percentile(ms, 0.50):.2f} ms, "
              f"p99 {percentile(ms, 0.99):.2f} ms, max {ms[-1]:.2f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
