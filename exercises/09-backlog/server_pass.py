#!/usr/bin/env python3
"""A reference server for `workbook check 09 --server`: it passes.

Usage: python3 server_pass.py HOST PORT

Serves one client at a time, and asks listen() to let up to eight more
wait meanwhile: a burst of five that arrives while it is busy is queued by
the kernel, and each is served in turn.
"""
import socket
import sys

BACKLOG = 8


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
    listener.listen(BACKLOG)
    print('listening on', listener.getsockname(), 'backlog', BACKLOG,
          flush=True)
    while True:
        conn, peer = listener.accept()
        with conn:
            try:
                read_exactly(conn, 16)
                conn.sendall(b'Farewell, client')
                print('served', peer, flush=True)
            except (EOFError, OSError) as error:
                print(peer, 'dropped:', error, flush=True)


if __name__ == '__main__':
    main()
