#!/usr/bin/env python3
"""A reference server for `workbook check 07 --server`: it fails, the
way a first try often does.

Usage: python3 server_loopback_only.py PORT

Binds 127.0.0.1, the loopback address: only a client on the same machine
can reach that interface. A client on another machine gets its connect()
refused, and the server never hears of it.
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
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))  # the mistake: loopback only
    listener.listen(1)
    print('listening on', listener.getsockname(), flush=True)
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
