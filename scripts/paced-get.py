#!/usr/bin/env python3
"""Latency of GET requests sent on a fixed schedule (not as fast as possible, as wrk does):

    scripts/paced-get.py HOST PORT PATH RATE SECONDS [THREADS]

THREADS keep-alive connections (default 8) share RATE requests/s; `{i}` in PATH becomes a
unique number per request. Prints one line: count, p50, p90, p99 and max in ms. Used by
`make bench` for the tail of a durable publish at a steady rate beside a trivial endpoint.
"""
import http.client
import sys
import threading
import time


def main():
    host, port, path, rate, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 8
    latencies = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def worker(k):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        interval = threads / rate
        mine = []
        for i in range(int(rate * seconds / threads)):
            due = start + k / rate + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            # From the moment it was due: a request held up by the one before counts its wait.
            connection.request("GET", path.replace("{i}", f"{k}-{i}"))
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - max(due, start)) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies.sort()
    n = len(latencies)
    print(f"{n} {latencies[n // 2]:.2f} {latencies[int(n * 0.9)]:.2f} {latencies[int(n * 0.99)]:.2f} {latencies[-1]:.2f}")


main()
