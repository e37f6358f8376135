#!/usr/bin/env python3
# bench/proxy/slowheads.py ADDR N HEAD_BYTES PROXY_PID HOLD_SECONDS
# Opens N connections to ADDR, each sending an unfinished request head of SIZE bytes, holds them
# HOLD seconds, and prints the proxy's RSS (pid PID) before, while held, and after they leave.
import socket, sys, time, resource
addr, port = sys.argv[1].split(":"); port = int(port)
n, size, pid, hold = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],)*2)
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) // 1024
before = rss()
socks = []
head = b"GET / HTTP/1.1\r\nhost: test\r\n" + b"".join(b"x-h%d: %s\r\n" % (i, b"b" * 1000) for i in range(size // 1010))
for i in range(n):
    s = socket.create_connection((addr, port))
    s.setblocking(False)
    try:
        s.send(head)
    except BlockingIOError:
        pass
    socks.append(s)
time.sleep(hold)
held = rss()
refused = 0
for s in socks:
    try:
        s.setblocking(True); s.settimeout(0.01)
        d = s.recv(64)
        if d.startswith(b"HTTP/1.1 431"): refused += 1
    except Exception:
        pass
for s in socks: s.close()
time.sleep(2)
print(f"clients={n} head_bytes={len(head)} rss_before_mb={before} rss_held_mb={held} rss_after_mb={rss()} refused_431={refused}")
