#!/usr/bin/env python3
"""Runs a command detached from whoever started it:  scripts/detach.py COMMAND [ARG...]

For servers the scripts start in the background (mosquitto, ZooKeeper, watchdogs). The command
gets its own session (a signal to the caller's process group does not reach it), default signal
dispositions and an empty signal mask (a test runner may block SIGTERM, and the mask is
inherited), and no inherited descriptor beyond stdin, stdout and stderr.

The last point matters most: a test process forks scripts with system(3), which copies every
descriptor it holds at that moment, pipes of other tests' children included. A long-lived
server keeping the write end of such a pipe means the reader never sees end-of-file, and a
test waiting for it hangs until the whole run is killed.

The command replaces this process (exec), so `$!` in the calling script is the server's pid.
"""
import os
import signal
import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: detach.py COMMAND [ARG...]\n")
        sys.exit(2)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    try:
        os.setsid()
    except OSError:
        pass  # already a process group leader: it keeps its session; everything else holds
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    except OSError as error:
        sys.stderr.write(f"detach.py: cannot run {sys.argv[1]}: {error}\n")
        sys.exit(127)


main()
