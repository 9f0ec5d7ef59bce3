#!/usr/bin/env python3
"""A reference client for `workbook check 01 --client`: it passes.

Usage: python3 client_pass.py HOST PORT

Sends the sixteen octets b'Hi there, server', then reads the sixteen of the
reply however many recv() calls they take, and exits 0. If the server
closes before all sixteen have come, it says so and exits 1.
"""
import socket
import sys


def read_exactly(conn, count):
    """Return exactly `count` bytes, or raise EOFError if the peer closes
    first (recv() returns b'' only at the end of the stream)."""
    data = b''
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError(f'server closed after {len(data)} of {count} bytes')
        data += chunk
    return data


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b'Hi there, server')
        try:
            reply = read_exactly(conn, 16)
        except EOFError as error:
            print('error:', error, file=sys.stderr)
            return 1
    print('the server said', repr(reply))
    return 0


if __name__ == '__main__':
    sys.exit(main())
