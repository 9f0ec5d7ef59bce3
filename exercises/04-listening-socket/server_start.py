#!/usr/bin/env python3
"""Exercise 04: a starting point for `workbook check 04 --server`.

Usage: python3 server_start.py HOST PORT
Check: workbook check 04 --server -- python3 server_start.py {host} {port}

The sixteen-octet server of exercise 01, serving client after client. Two
kinds of socket are at work in it: the listening one, which only ever
hands out connections, and one connected socket per client, which
accept() returns. The check sends three clients one after the other and
looks at every socket of the server in the kernel's own list.
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
    listener.listen(1)
    # TODO: accept a client, hold the conversation on the socket accept()
    # returned (read sixteen octets, reply b'Farewell, client', close it),
    # and be ready for the next client. Which socket do you close, and
    # which do you keep?


if __name__ == '__main__':
    main()
