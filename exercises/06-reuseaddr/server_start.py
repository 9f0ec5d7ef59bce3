#!/usr/bin/env python3
"""Exercise 06: a starting point for `workbook check 06 --server`.

Usage: python3 server_start.py HOST PORT
Check: workbook check 06 --server -- python3 server_start.py {host} {port}

The sixteen-octet server of exercise 01, made restartable. The check has
one conversation with it (the server replies and closes first), stops it
with Ctrl-C (SIGINT) and starts it again at once on the same port. Right
after a conversation it closed first, the kernel still keeps that
connection in TIME_WAIT on the server's port, and a plain bind() to that
port fails.
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
    # TODO: one socket option, set before bind(), lets the port be bound
    # again while an old connection on it is in TIME_WAIT.
    listener.bind((host, port))
    listener.listen(1)
    while True:
        conn, peer = listener.accept()
        with conn:
            read_exactly(conn, 16)
            conn.sendall(b'Farewell, client')


if __name__ == '__main__':
    main()
