#!/usr/bin/env python3
"""A reference server for `workbook check 02 --server`: it fails, the way a
first try often does.

Usage: python3 server_recv_once.py HOST PORT

It trusts one recv(16) to return the whole message. When the message comes
in two pieces it answers after the first; when the client stops after five
octets it answers anyway.
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
    conn.recv(16)  # the mistake: whatever has arrived, maybe part
    conn.sendall(b'Farewell, client')
    conn.close()
