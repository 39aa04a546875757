#!/usr/bin/env python3
"""What one request body costs `mlxcel serve` beyond the body itself, at its worst.

For each hostile body shape (one long prompt string, a prompt of token ids, many tiny chat
messages, a long chat message, deep-but-allowed nesting) it starts a fresh server, warms it with
one small request, sends ONE body of about --body bytes, and reads the server's VmRSS before and
its VmHWM after. The preparation cost of the body is (VmHWM after - VmRSS before - body bytes) / body bytes; the largest
over the shapes is what the calibration profile's `server_preparation_per_body_byte` must cover
(docs/memory-model.md, "Server requests").

  bench/serve_request_memory.py [--mlxcel build-plain/mlxcel] [--model DIR] [--body 8MiB]
                                [--port 18192]
Run it on a release build (ASan's quarantine and shadow memory make RSS meaningless).
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def parse_size(text):
    m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", text)
    if not m:
        sys.exit(f"serve_request_memory: bad size '{text}' (e.g. 8MiB)")
    return int(m.group(1)) * {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def shapes(n):
    """Bodies of about n bytes that a client may legally send (the server parses all of them)."""
    words = ("lorem ipsum dolor sit amet " * (n // 27 + 1))[: n - 40]
    ids = ",".join(["1"] * ((n - 40) // 2))
    msg = '{"role":"user","content":"a"},'
    msgs = (msg * ((n - 40) // len(msg))).rstrip(",")
    return {
        "long prompt string": '{"prompt":"%s","max_tokens":1}' % words,
        "prompt of token ids": '{"prompt":[%s],"max_tokens":1}' % ids,
        "many tiny chat messages": '{"messages":[%s],"max_tokens":1}' % msgs,
        "chunked long prompt string": '{"prompt":"%s","max_tokens":1}' % words,
        "one long chat message": '{"messages":[{"role":"user","content":"%s"}],"max_tokens":1}'
        % words,
    }


def post(port, path, body, chunked=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    data = body.encode()
    if chunked:
        pieces = (data[i:i + 65536] for i in range(0, len(data), 65536))
        c.request("POST", path, body=pieces, encode_chunked=True,
                  headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    else:
        c.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def measure(args, name, body):
    err = tempfile.NamedTemporaryFile(mode="w+", delete=False)
    cmd = [args.mlxcel, "serve", "--port", str(args.port), "--parallel", "1", "--threads", "1",
           "--max-body", str(len(body) + 4096)]
    if args.model:
        cmd.insert(2, args.model)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _ in range(600):
            time.sleep(0.1)
            with open(err.name) as f:
                if "on http://" in f.read():
                    break
            if p.poll() is not None:
                sys.exit(f"serve_request_memory: the server exited: {open(err.name).read()}")
        post(args.port, "/v1/completions", '{"prompt":"Once","max_tokens":2}')
        # The load's own peak may be above the idle process: the request's peak is measured from
        # the resident size before it.
        before = status_kib(p.pid, "VmRSS")
        path = "/v1/chat/completions" if "messages" in body[:20] else "/v1/completions"
        status, data = post(args.port, path, body, chunked=name.startswith("chunked"))
        after = status_kib(p.pid, "VmHWM")
        rss = status_kib(p.pid, "VmRSS")
    finally:
        p.terminate()
        p.wait(timeout=60)
        os.unlink(err.name)
    delta = after - before
    per_byte = (delta - len(body)) / len(body)
    print(f"| {name} | {len(body)} | {status} | {before / 2**20:.1f} | {delta / 2**20:.1f} | "
          f"{per_byte:.2f} | {rss / 2**20:.1f} | {data[:70].decode(errors='replace')!r} |")
    return per_byte


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlxcel", default="build-plain/mlxcel")
    ap.add_argument("--model", default="")
    ap.add_argument("--body", default="8MiB")
    ap.add_argument("--port", type=int, default=18192)
    args = ap.parse_args()
    n = parse_size(args.body)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.mlxcel}, body {n} bytes")
    print("| body | bytes | status | VmRSS before (MiB) | VmHWM after - before (MiB) | "
          "(delta - body) / body | VmRSS after (MiB) | answer |")
    print("|---|---|---|---|---|---|---|---|")
    worst = max(measure(args, name, body) for name, body in shapes(n).items())
    print(f"worst preparation cost: {worst:.2f} bytes per body byte")


if __name__ == "__main__":
    main()
