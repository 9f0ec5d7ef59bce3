#!/usr/bin/env python3
"""A reference client for `workbook check 01 --client`: it fails, the way
a first try often does.

Usage: python3 client_recv_once.py HOST PORT

It calls recv(16) once and prints whatever came as the reply; a reply that
arrives in pieces is cut short, and a server that closes early goes
unnoticed (exit status 0).
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
conn = socket.create_connection((host, port), timeout=10)
conn.sendall(b'Hi there, server')
reply = conn.recv(16)  # the mistake: one call, maybe part of the reply
print('the server said', repr(reply))
conn.close()
