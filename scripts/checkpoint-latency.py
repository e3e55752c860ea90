#!/usr/bin/env python3
"""Time from a publish's SUCCESS to a signed checkpoint that covers the event:

    scripts/checkpoint-latency.py HOST PORT COUNT MIN_PAUSE_MS MAX_PAUSE_MS

Publishes COUNT events to topic `latency` (which must be open), one at a time with a random
pause of MIN_PAUSE_MS to MAX_PAUSE_MS between them; after each SUCCESS it polls rest/checkpoint every 2 ms until
the checkpoint's tree size reaches the event's position (rest/proof's leafIndex + 1). Prints
one line: p50, p99 and max in ms.
"""
import http.client
import json
import random
import sys
import time


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def get(connection, path):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    low, high = int(sys.argv[4]) / 1000, int(sys.argv[5]) / 1000
    connection = http.client.HTTPConnection(host, port, timeout=30)
    rng = random.Random(23)
    latencies = []
    for i in range(count):
        time.sleep(low + rng.random() * (high - low))
        status, body = get(connection, "/weevent/rest/publish?topic=latency&content=c-%d" % i)
        done = time.perf_counter()
        answer = json.loads(body)
        if answer.get("status") != "SUCCESS":
            sys.exit("publish failed: %s" % body[:300])
        _, body = get(connection, "/weevent/rest/proof?eventId=%s" % answer["eventId"])
        position = json.loads(body)["leafIndex"] + 1
        while True:
            status, body = get(connection, "/weevent/rest/checkpoint")
            if status == 200 and int(body.split(b"\n")[1]) >= position:
                break
            time.sleep(0.002)
        latencies.append((time.perf_counter() - done) * 1000)
    print("%.1f %.1f %.1f" % (percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)))


if __name__ == "__main__":
    main()
