#!/usr/bin/env python3
"""A reference server for `workbook check 02 --server`: it fails in a
second way a first try often does.

Usage: python3 server_spins.py HOST PORT

Its loop does call recv() until sixteen octets have come, but never looks
for b'', the end of the stream: when a client closes mid-message, recv()
returns b'' at once, every time, and the loop goes round forever.
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
    data = b''
    while len(data) < 16:
        data += conn.recv(16 - len(data))  # the mistake: b'' is not checked
    conn.sendall(b'Farewell, client')
    conn.close()
