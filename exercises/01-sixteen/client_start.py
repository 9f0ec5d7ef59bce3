#!/usr/bin/env python3
"""Exercise 01, the client: a starting point for `workbook check 01 --client`.

Usage: python3 client_start.py HOST PORT

Write a client that connects, sends the sixteen octets b'Hi there, server',
and reads the sixteen octets of the reply, however the server cuts them.
If the server closes before the sixteenth, say so and exit non-zero.
"""
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    conn = socket.create_connection((host, port), timeout=10)
    conn.sendall(b'Hi there, server')
    # TODO: read exactly sixteen octets; one recv() may return fewer.
    conn.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
