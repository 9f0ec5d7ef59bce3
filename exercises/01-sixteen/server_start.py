#!/usr/bin/env python3
"""Exercise 01, the server: a starting point for `workbook check 01 --server`.

Usage: python3 server_start.py HOST PORT

Write a server that, for each client in turn, reads exactly sixteen octets
and answers with the sixteen octets b'Farewell, client'. The check sends
the sixteen in pieces, resets, and half-closes: read the module head of
`workbook check --list` for what each check does.
"""
import socket
import sys


def read_exactly(conn, count):
    """Return exactly `count` bytes from `conn`.

    TODO: one recv() may return fewer bytes than asked for. Loop until you
    have them all; decide what to do when recv() returns b''.
    """
    raise NotImplementedError


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    while True:
        conn, peer = listener.accept()
        # TODO: read the sixteen octets, reply, close; keep serving even
        # when one client misbehaves.
        conn.close()


if __name__ == '__main__':
    main()
