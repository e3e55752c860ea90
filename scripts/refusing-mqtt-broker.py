#!/usr/bin/env python3
"""A scripted MQTT 3.1.1 peer for one test: a broker that refuses a subscription a few times.

    scripts/refusing-mqtt-broker.py PORTFILE REFUSALS

Listens on a free loopback port and writes it to PORTFILE. Answers CONNECT, PINGREQ,
UNSUBSCRIBE and client PUBLISHes as a broker does. A SUBSCRIBE is answered per filter: a
filter starting with "denied/" gets the failure code 0x80 the first REFUSALS times it is asked
for, every other filter is granted. Right after granting a filter it sends one QoS 0 PUBLISH
on it ('#' and '+' replaced by "x") with the payload "hello <filter>". Real mosquitto grants
every well-formed subscription (its ACLs filter deliveries instead), so a refusal needs this.
"""
import socket
import sys
import threading

portfile, refusals = sys.argv[1], int(sys.argv[2])
asked = {}
lock = threading.Lock()


def remaining_length(value):
    out = bytearray()
    while True:
        byte = value % 128
        value //= 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + remaining_length(len(body)) + body


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn):
    try:
        while True:
            first = read_exact(conn, 1)[0]
            length, shift = 0, 0
            while True:
                byte = read_exact(conn, 1)[0]
                length += (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            body = read_exact(conn, length)
            kind = first >> 4
            if kind == 1:  # CONNECT
                conn.sendall(packet(0x20, b"\x00\x00"))
            elif kind == 8:  # SUBSCRIBE
                pid, rest, codes, granted = body[:2], body[2:], bytearray(), []
                while rest:
                    size = int.from_bytes(rest[:2], "big")
                    topic = rest[2:2 + size].decode()
                    qos = rest[2 + size]
                    rest = rest[3 + size:]
                    with lock:
                        asked[topic] = asked.get(topic, 0) + 1
                        refuse = topic.startswith("denied/") and asked[topic] <= refusals
                    print(f"SUBSCRIBE {topic} attempt {asked[topic]}: {'refused' if refuse else 'granted'}", file=sys.stderr, flush=True)
                    codes.append(0x80 if refuse else qos)
                    if not refuse:
                        granted.append(topic)
                conn.sendall(packet(0x90, pid + bytes(codes)))
                for topic in granted:
                    name = topic.replace("#", "x").replace("+", "x").encode()
                    conn.sendall(packet(0x30, len(name).to_bytes(2, "big") + name + b"hello " + topic.encode()))
            elif kind == 10:  # UNSUBSCRIBE
                conn.sendall(packet(0xB0, body[:2]))
            elif kind == 12:  # PINGREQ
                conn.sendall(packet(0xD0, b""))
            elif kind == 3:  # PUBLISH from the client
                qos = (first >> 1) & 3
                size = int.from_bytes(body[:2], "big")
                if qos == 1:
                    conn.sendall(packet(0x40, body[2 + size:4 + size]))
                elif qos == 2:
                    conn.sendall(packet(0x50, body[2 + size:4 + size]))
            elif kind == 6:  # PUBREL
                conn.sendall(packet(0x70, body[:2]))
            elif kind == 14:  # DISCONNECT
                break
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen()
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
