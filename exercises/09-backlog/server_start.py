#!/usr/bin/env python3
"""Exercise 09: a starting point for `workbook check 09 --server`.

Usage: python3 server_start.py HOST PORT
Check: workbook check 09 --server -- python3 server_start.py {host} {port}

The sixteen-octet server of exercise 01 serves one client at a time. While
it is busy with one, the clients that arrive meanwhile cannot be
accept()ed yet: the kernel completes their handshakes and keeps them
waiting, but only as many as the listening socket allows. Past that it
ignores new clients, which hang in connect() until a retry gets through.
The check keeps your server busy with one client and sends five more.
"""
import socket
import sys


def read_exactly(conn, count):
    """Return exactly `count` bytes, or raise EOFError if the peer closes
    first."""
    data = b''
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError(f'peer closed after {len(data)} of {count} bytes')
        data += chunk
    return data


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)  # TODO: how many may wait while you are busy?
    while True:
        conn, peer = listener.accept()
        with conn:
            read_exactly(conn, 16)
            conn.sendall(b'Farewell, client')


if __name__ == '__main__':
    main()
