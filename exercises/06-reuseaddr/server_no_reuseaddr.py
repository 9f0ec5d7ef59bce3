#!/usr/bin/env python3
"""A reference server for `workbook check 06 --server`: it fails, the
way a first try often does.

Usage: python3 server_no_reuseaddr.py HOST PORT

It never sets SO_REUSEADDR. Stopped and started again with nobody ever
connected, it would not notice; but after a conversation it closed first,
its bind() fails with EADDRINUSE until the kernel forgets the TIME_WAIT
connection on its port.
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
    # the mistake: no SO_REUSEADDR before bind()
    listener.bind((host, port))
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
