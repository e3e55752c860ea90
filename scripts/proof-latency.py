#!/usr/bin/env python3
"""Time to serve tree proofs, beside a trivial endpoint of the same server:

    scripts/proof-latency.py HOST PORT EVENTS COUNT

The ledger holds EVENTS events of topic `bench`, 1000 per block (benchmarks/TreeBench). COUNT
rest/proof requests for random events (to the latest checkpoint), one keep-alive connection,
one after the other; then COUNT admin/health requests the same way. Prints one line:
proof hashes, proof JSON bytes (median), raw proof bytes, proof p50 and p99 in ms, health
p50 and p99 in ms.
"""
import hashlib
import http.client
import json
import random
import sys
import time


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    host, port, events, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    prefix = hashlib.sha256(b"bench").hexdigest()[:8]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    rng = random.Random(23)
    times, sizes, hashes = [], [], []
    for _ in range(count):
        seq = rng.randint(1, events)
        path = "/weevent/rest/proof?eventId=%s-%d-%d" % (prefix, seq, (seq - 1) // 1000 + 1)
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            sys.exit("rest/proof answered %d: %s" % (response.status, body[:300]))
        proof = json.loads(body)
        if "checkpoint" not in proof or proof["treeSize"] != events:
            sys.exit("the proof is not to the checkpoint of %d events: %s" % (events, body[:300]))
        sizes.append(len(body))
        hashes.append(len(proof["inclusionProof"]))
    health = []
    for _ in range(count):
        start = time.perf_counter()
        connection.request("GET", "/weevent/admin/health")
        connection.getresponse().read()
        health.append((time.perf_counter() - start) * 1000)
    print("%d %d %d %.2f %.2f %.2f %.2f" % (
        max(hashes), percentile(sizes, 0.5), 32 * max(hashes), percentile(times, 0.5), percentile(times, 0.99),
        percentile(health, 0.5), percentile(health, 0.99)))


if __name__ == "__main__":
    main()
