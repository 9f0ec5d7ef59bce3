#!/usr/bin/env python3
"""A reference server for `workbook check 01 --server`: it fails, the way
a first try often does.

Usage: python3 server_recv_once.py HOST PORT

It calls recv(16) once and takes what comes back for the whole message,
but recv() returns whatever has arrived so far, which may be fewer than 16
octets.
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((host, port))
listener.listen(1)
while True:
    conn, peer = listener.accept()
    message = conn.recv(16)  # the mistake: one call, maybe part of it
    print(peer, 'sent', repr(message), flush=True)
    conn.sendall(b'Farewell, client')
    conn.close()
