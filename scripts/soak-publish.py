#!/usr/bin/env python3
"""Publishes at a steady rate for a while and prints one row a minute (the retention soak):

    scripts/soak-publish.py HOST PORT RATE MINUTES CONTENT_BYTES PID SIZE_COMMAND [THREADS]

THREADS keep-alive connections (default 8) share RATE publishes/s to topic `soak` (each with
CONTENT_BYTES of content and one extension). Every minute it prints a markdown row: the minute,
publishes answered, failures, p50/p99/max latency (ms, from when each publish was due), the
store's size in MB (SIZE_COMMAND's output, bytes, run with a shell), the broker's resident
memory (MB, /proc/PID/status) and the events pruned so far (admin/getRetention).
"""
import http.client
import json
import subprocess
import sys
import threading
import time


def main():
    host, port, rate, minutes, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    pid, size_command = sys.argv[6], sys.argv[7]
    threads = int(sys.argv[8]) if len(sys.argv) > 8 else 8
    filler = "x" * max(0, size - 16)
    lock = threading.Lock()
    minute = {"latencies": [], "failures": 0}
    start = time.perf_counter() + 0.5
    end = start + minutes * 60
    stop = threading.Event()

    def worker(k):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        interval = threads / rate
        i = 0
        while not stop.is_set():
            due = start + k / rate + i * interval
            if due >= end:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            path = f"/weevent/rest/publish?topic=soak&content={k:02d}-{i:010d}-{filler}&weevent-device=d{k}"
            ok = False
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                ok = b'"SUCCESS"' in response.read()
            except (OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection(host, port, timeout=30)
            elapsed = (time.perf_counter() - max(due, start)) * 1000
            with lock:
                if ok:
                    minute["latencies"].append(elapsed)
                else:
                    minute["failures"] += 1
            i += 1

    def pruned():
        try:
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("GET", "/weevent/admin/getRetention")
            return json.loads(connection.getresponse().read())["prunedSinceStart"]["events"]
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            return -1

    def rss():
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    print("| minute | publishes | failed | p50 ms | p99 ms | max ms | store MB | RSS MB | pruned events |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in range(1, minutes + 1):
        time.sleep(max(0, start + m * 60 - time.perf_counter()))
        with lock:
            latencies, failures = sorted(minute["latencies"]), minute["failures"]
            minute["latencies"], minute["failures"] = [], 0
        n = len(latencies)
        stored = int(subprocess.run(size_command, shell=True, capture_output=True, text=True).stdout.split()[0] or 0)
        if n:
            p50, p99, top = latencies[n // 2], latencies[min(n - 1, int(n * 0.99))], latencies[-1]
        else:
            p50 = p99 = top = 0
        print(f"| {m} | {n} | {failures} | {p50:.2f} | {p99:.2f} | {top:.2f} | {stored / 1e6:.1f} | {rss():.1f} | {pruned()} |", flush=True)
    stop.set()
    for w in workers:
        w.join()


main()
