#!/usr/bin/env python3
"""Start-up time of MQTT command-line clients: from exec to the first packet that matters.

    scripts/mqtt-cli-startup.py RUNS NAME=COMMAND... 

Each COMMAND is a shell-style command line with {port} where the broker's port goes. A loopback
listener here plays the broker: it answers CONNECT with CONNACK (accepted) and notes when the
client's CONNECT and its next packet (SUBSCRIBE for a subscriber, PUBLISH for a publisher)
arrive, counted from just before the process is spawned. Runs of the commands are interleaved,
so every row sees the same machine. Prints a markdown table; the first command is the reference
for the ratio column.
"""
import shlex
import socket
import statistics
import subprocess
import sys
import time

PACKET_NAMES = {3: "PUBLISH", 8: "SUBSCRIBE"}


def read_packet(conn, buf):
    """(packet, rest of buffer), or (None, b"") at end of stream."""
    while True:
        if len(buf) >= 2:
            multiplier, length, i = 1, 0, 1
            while i < len(buf):
                byte = buf[i]
                length += (byte & 127) * multiplier
                multiplier *= 128
                i += 1
                if byte & 128 == 0:
                    if len(buf) >= i + length:
                        return buf[:i + length], buf[i + length:]
                    break
        data = conn.recv(65536)
        if not data:
            return None, b""
        buf += data


def measure(listener, argv):
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()
        conn.settimeout(10)
        connect, rest = read_packet(conn, b"")
        connected = time.perf_counter()
        conn.sendall(b"\x20\x02\x00\x00")
        packet, _ = read_packet(conn, rest)
        done = time.perf_counter()
        conn.close()
        kind = PACKET_NAMES.get(packet[0] >> 4, "?") if packet else "nothing"
        return (connected - start) * 1000, (done - start) * 1000, kind
    finally:
        child.kill()
        child.wait()


def main():
    runs = int(sys.argv[1])
    commands = []
    for spec in sys.argv[2:]:
        name, _, command = spec.partition("=")
        commands.append((name, command))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    results = {name: [] for name, _ in commands}
    kinds = {}
    for name, command in commands:  # warm the page cache: the first run of each reads its binary
        measure(listener, shlex.split(command.format(port=port)))
    for _ in range(runs):
        for name, command in commands:
            connected, done, kind = measure(listener, shlex.split(command.format(port=port)))
            results[name].append((connected, done))
            kinds[name] = kind
    reference = statistics.median(d for _, d in results[commands[0][0]])
    print(f"| client ({runs} runs each) | first packet | to CONNECT p50 | to it p50 | p90 | max | p50 / {commands[0][0]} |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, _ in commands:
        connects = sorted(c for c, _ in results[name])
        dones = sorted(d for _, d in results[name])
        p90 = dones[min(len(dones) - 1, int(len(dones) * 0.9))]
        print(f"| {name} | {kinds[name]} | {statistics.median(connects):.1f} ms | {statistics.median(dones):.1f} ms | "
              f"{p90:.1f} ms | {dones[-1]:.1f} ms | {statistics.median(dones) / reference:.1f}x |")


main()
