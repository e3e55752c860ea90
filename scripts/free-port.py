#!/usr/bin/env python3
"""Prints a TCP port nobody is bound to on 127.0.0.1 now, for a server the scripts and tests start.

Chosen at random below the kernel's ephemeral range (net.ipv4.ip_local_port_range) when there is
room there: a server that is stopped and started again on its port (a fault test's restart)
would find a port of that range taken by whatever outgoing connection the kernel gave it to
meanwhile. Falls back to the kernel's own choice. Python 3 standard library only.
"""
import random
import socket


def bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()


def main():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low > 11000:
        for _ in range(100):
            port = bindable(random.randrange(10000, low))
            if port:
                return port
    return bindable(0)


if __name__ == "__main__":
    print(main())
