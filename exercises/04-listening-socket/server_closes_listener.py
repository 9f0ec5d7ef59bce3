#!/usr/bin/env python3
"""A reference server for `workbook check 04 --server`: it fails, the way
a first try often does.

Usage: python3 server_closes_listener.py HOST PORT

Once accept() has returned a connected socket, it takes the listening
socket for spent and closes it, serves that one client and ends. The next
client finds nobody listening on the port: its connect() is refused.
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
    conn, peer = listener.accept()
    listener.close()  # the mistake: the next client needs it
    with conn:
        read_exactly(conn, 16)
        conn.sendall(b'Farewell, client')
        print('served', peer, flush=True)


if __name__ == '__main__':
    main()
