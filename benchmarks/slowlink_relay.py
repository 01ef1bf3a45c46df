#!/usr/bin/env python3
"""A slow link for ssh, without netem: `ProxyCommand python3 slowlink_relay.py DELAY_MS %h %p`.

Copies bytes between stdin/stdout and HOST:PORT, delivering each chunk DELAY_MS after it arrived,
in each direction, in order. 50 ms each way makes a 100 ms round trip. Bandwidth is not limited:
this models distance, not a thin pipe.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time


def pump(read, write, close, delay: float) -> None:
    """Two threads: one stamps chunks as they arrive, one delivers them when their time comes."""
    pending: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def reader() -> None:
        while True:
            try:
                data = read()
            except OSError:
                data = b""
            pending.put((time.monotonic() + delay, data))
            if not data:
                return

    def writer() -> None:
        while True:
            due, data = pending.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                close()
                return
            try:
                write(data)
            except OSError:
                os._exit(0)

    threading.Thread(target=reader, daemon=True).start()
    w = threading.Thread(target=writer)
    w.start()
    return w


def main() -> None:
    delay = float(sys.argv[1]) / 1000.0
    sock = socket.create_connection((sys.argv[2], int(sys.argv[3])))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def write_out(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view) :]

    def shut_sock() -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    up = pump(lambda: os.read(stdin, 65536), sock.sendall, shut_sock, delay)
    down = pump(lambda: sock.recv(65536), write_out, lambda: os.close(stdout), delay)
    down.join()
    up.join(timeout=1)
    os._exit(0)


if __name__ == "__main__":
    main()
