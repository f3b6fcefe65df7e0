"""A Python program with several threads, for the real-program round trip
(test/e2e/real-python.test.ts). Plain CPython: nothing here knows about cryo.

argv: OUTFILE. A producer thread puts 1, 2, 3, ... into a queue.Queue and a consumer takes
them, checking each is the one after the last; a ping and a pong thread pass a token back and
forth through two queues, each adding one; a ticker thread counts. The main thread serves the
state as one JSON line to every client of a TCP socket on 127.0.0.1 (a free port) and closes
the connection. Writes "READY port=P pid=N" to OUTFILE once the server listens.
"""
import json
import os
import queue
import socket
import sys
import threading
import time

out_file = sys.argv[1]
lock = threading.Lock()
state = {"produced": 0, "consumed": 0, "token": 0, "ticks": 0, "errors": []}
work = queue.Queue(maxsize=64)
to_pong = queue.Queue()
to_ping = queue.Queue()


def producer():
    n = 0
    while True:
        n += 1
        work.put(n)
        with lock:
            state["produced"] = n
        time.sleep(0.005)


def consumer():
    last = 0
    while True:
        n = work.get()
        with lock:
            if n != last + 1:
                state["errors"].append("consumer got %d after %d" % (n, last))
            last = n
            state["consumed"] = n


def passer(inbox, outbox, pause):
    while True:
        token = inbox.get()
        with lock:
            if token != state["token"]:
                state["errors"].append("token %d, expected %d" % (token, state["token"]))
            state["token"] = token + 1
        time.sleep(pause)
        outbox.put(token + 1)


def ticker():
    while True:
        time.sleep(0.02)
        with lock:
            state["ticks"] += 1


threads = [threading.Thread(target=producer, name="producer", daemon=True),
           threading.Thread(target=consumer, name="consumer", daemon=True),
           threading.Thread(target=passer, args=(to_ping, to_pong, 0.003), name="ping", daemon=True),
           threading.Thread(target=passer, args=(to_pong, to_ping, 0.003), name="pong", daemon=True),
           threading.Thread(target=ticker, name="ticker", daemon=True)]
for t in threads:
    t.start()
to_ping.put(0)

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
with open(out_file, "w") as f:
    f.write("READY port=%d pid=%d\n" % (srv.getsockname()[1], os.getpid()))

while True:
    conn, _ = srv.accept()
    with lock:
        snap = dict(state, errors=list(state["errors"]))
    snap["alive"] = sorted(t.name for t in threads if t.is_alive())
    snap["pid"] = os.getpid()
    conn.sendall((json.dumps(snap) + "\n").encode())
    conn.close()
