#!/usr/bin/env python3
"""A reference server for `workbook check 02 --server`: it passes.

Usage: python3 server_pass.py HOST PORT

Its recvall() calls recv() until the whole message has come, and raises
EOFError when recv() returns b'', the end of the stream: a client that
closes mid-message gets its connection closed, and no reply.
"""
import socket
import sys


def recvall(conn, length):
    """Return exactly `length` bytes, or raise EOFError when the peer
    closes first."""
    parts = []
    missing = length
    while missing:
        part = conn.recv(missing)
        if not part:
            got = length - missing
            raise EOFError(f'expected {length} bytes, the peer closed after {got}')
        parts.append(part)
        missing -= len(part)
    return b''.join(parts)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    while True:
        conn, peer = listener.accept()
        try:
            recvall(conn, 16)
            conn.sendall(b'Farewell, client')
        except (EOFError, OSError) as error:
            print(peer, error, flush=True)
        finally:
            conn.close()


if __name__ == '__main__':
    main()
