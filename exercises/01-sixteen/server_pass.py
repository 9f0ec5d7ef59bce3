#!/usr/bin/env python3
"""A reference server for `workbook check 01 --server`: it passes.

Usage: python3 server_pass.py HOST PORT

Serves one client at a time, forever: reads exactly sixteen octets (calling
recv() as often as it takes), answers b'Farewell, client' and closes. A
client that misbehaves costs only its own connection.
"""
import socket
import sys


def read_exactly(conn, count):
    """Return exactly `count` bytes from `conn`, or raise EOFError if the
    peer closes first (recv() returning b'' means the end of the stream)."""
    chunks = []
    have = 0
    while have < count:
        chunk = conn.recv(count - have)
        if not chunk:
            raise EOFError(f'peer closed after {have} of {count} bytes')
        chunks.append(chunk)
        have += len(chunk)
    return b''.join(chunks)


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
                message = read_exactly(conn, 16)
                print(peer, 'sent', repr(message), flush=True)
                conn.sendall(b'Farewell, client')
            except (EOFError, OSError) as error:
                print(peer, 'dropped:', error, flush=True)


if __name__ == '__main__':
    main()
