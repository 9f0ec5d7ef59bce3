#!/usr/bin/env python3
"""A reference server for `workbook check 04 --server`: it passes.

Usage: python3 server_pass.py HOST PORT

Keeps its listening socket for as long as it runs; each accept() returns a
new connected socket for one client, which carries that conversation and
is closed when it is over.
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
    print('listening on', listener.getsockname(), flush=True)
    while True:
        conn, peer = listener.accept()
        with conn:
            try:
                read_exactly(conn, 16)
                conn.sendall(b'Farewell, client')
                print('served', peer, 'on', conn.getsockname(), flush=True)
            except (EOFError, OSError) as error:
                print(peer, 'dropped:', error, flush=True)


if __name__ == '__main__':
    main()
