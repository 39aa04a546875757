#!/usr/bin/env python3
"""The memory plan of `mlxcel serve` (and `generate` per thread count) against the process's
real peak RSS, under load from real loopback clients.

Serve rows: for each --parallel P (1, 4, 8) and --max-body B, a fresh `mlxcel serve MODEL
--json-stats FILE` is loaded with 2 x P concurrent clients, each sending chat requests for
--rounds rounds (streamed and not, alternately), then stopped with SIGINT; the stats file gives
the plan (total, and its request-memory line for B) and VmHWM over the whole run. Generate rows:
`mlxcel generate --threads T` for T = 1 .. nproc. Bound (issue 12): estimate >= peak RSS - 1% and
<= peak RSS + max(3%, 4 MiB). Prints a markdown table.

  bench/serve_accuracy.py [--mlxcel build-plain/mlxcel] [--model models/stories260K]
                          [--max-body 1MiB,16KiB] [--rounds 4] [--repeats 1] [--port 18200]
                          [--calibration FILE]
Run it on a release build (ASan's shadow memory makes RSS meaningless).
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time

from serve_request_memory import parse_size  # same directory: one size parser for the benches

MIB = 1 << 20


def verdict(estimate, peak):
    low = estimate >= peak * 0.99
    high = estimate <= peak + max(0.03 * peak, 4 * MIB)
    return "ok" if low and high else ("UNDER" if not low else "over")


def wait_listening(port, proc, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.1)
    return False


def client(port, rounds, idx, errors):
    for r in range(rounds):
        body = {"messages": [{"role": "user", "content": f"Tell story {idx}.{r} about a cat."}],
                "max_tokens": 24, "temperature": 0.8, "seed": idx * 100 + r, "stream": (r % 2 == 1)}
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
            resp = c.getresponse()
            resp.read()
            if resp.status != 200:
                errors.append(resp.status)
        except OSError as e:
            errors.append(str(e))


def serve_row(args, parallel, max_body):
    """The largest peak over --repeats fresh servers (layout randomization moves it)."""
    rows = [serve_once(args, parallel, max_body) for _ in range(args.repeats)]
    return max(rows, key=lambda r: r["peak"])


def serve_once(args, parallel, max_body):
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        cmd = [args.mlxcel, "serve", args.model, "--port", str(args.port), "--parallel", str(parallel),
               "--ctx-size", "256", "--max-body", str(max_body), "--json-stats", stats] + args.extra
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not wait_listening(args.port, proc):
            proc.kill()
            sys.exit(f"serve_accuracy: server did not start: {' '.join(cmd)}\n{proc.stderr.read()}")
        errors = []
        threads = [threading.Thread(target=client, args=(args.port, args.rounds, i, errors))
                   for i in range(2 * parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        doc = json.load(open(stats))
        plan, after = doc["plan"], doc["after_run"]
        return {"mode": "serve", "parallel": parallel, "max_body": max_body, "threads": "",
                "estimate": plan["total_bytes"], "server_line": plan["server"]["total_bytes"],
                "server_base": plan["server"].get("base_bytes", 0),
                "peak": after["rss_peak_bytes"], "requests": 2 * parallel * args.rounds, "errors": len(errors)}


def generate_row(args, threads):
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        cmd = [args.mlxcel, "generate", args.model, "--prompt", "Once upon a time", "--max-tokens", "32",
               "--threads", str(threads), "--no-echo", "--json-stats", stats] + args.extra
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        doc = json.load(open(stats))
        return {"mode": "generate", "parallel": 1, "max_body": "", "threads": threads,
                "estimate": doc["plan"]["total_bytes"], "server_line": 0,
                "peak": doc["after_run"]["rss_peak_bytes"], "requests": 1, "errors": 0, "server_base": 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlxcel", default="build-plain/mlxcel")
    ap.add_argument("--model", default="models/stories260K")
    ap.add_argument("--max-body", default="1MiB,16KiB")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1, help="fresh servers per serve row; the largest peak counts")
    ap.add_argument("--port", type=int, default=18200)
    ap.add_argument("--calibration", help="profile passed to every run (default: the built-in one)")
    args = ap.parse_args()
    args.extra = ["--calibration", args.calibration] if args.calibration else []
    rows = []
    for t in range(1, (os.cpu_count() or 1) + 1):
        rows.append(generate_row(args, t))
    for body in [parse_size(s) for s in args.max_body.split(",")]:
        for p in (1, 4, 8):
            rows.append(serve_row(args, p, body))
    print(f"<!-- bench/serve_accuracy.py --model {args.model}, {datetime.date.today()}, "
          f"{platform.node()}, {os.cpu_count()} CPUs -->")
    print("| mode | threads | --parallel | --max-body | requests (errors) | estimate | of which request "
          "memory | peak RSS | estimate - peak | bound |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        diff = r["estimate"] - r["peak"]
        print(f"| {r['mode']} | {r['threads']} | {r['parallel']} | {r['max_body']} | {r['requests']} ({r['errors']}) "
              f"| {r['estimate'] / MIB:.2f} MiB | {r['server_line'] / MIB:.2f} MiB | {r['peak'] / MIB:.2f} MiB "
              f"| {diff / MIB:+.2f} MiB ({100 * diff / r['peak']:+.1f}%) | {verdict(r['estimate'], r['peak'])} |")
    # The fit of the profile's server_base_bytes: the smallest baseline that puts every serve row's
    # estimate at or above its peak (the rest of the estimate unchanged).
    serve = [r for r in rows if r["mode"] == "serve"]
    need = max(r["peak"] - (r["estimate"] - r["server_base"]) for r in serve)
    print(f"\nserver_base_bytes fit (smallest making every serve row >= its peak): {max(need, 0)} "
          f"(the plans above used {serve[0]['server_base']})")


if __name__ == "__main__":
    main()
