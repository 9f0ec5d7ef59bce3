#!/usr/bin/env python3
"""Exercise 02, recvall(): a starting point for `workbook check 02 --server`.

Usage: python3 server_start.py HOST PORT

The server reads a sixteen-octet message from each client and answers
b'Farewell, client'. Finish recvall(): the check cuts the message at every
offset, and also closes its end after five octets, when recvall() must
give up (raise an error) rather than answer or wait forever.
"""
import socket
import sys


def recvall(conn, length):
    """Return exactly `length` bytes from `conn`.

    TODO: call recv() until you have them all; when recv() returns b'',
    the peer has closed, and no more will ever come.
    """
    raise NotImplementedError


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
        finally:
            conn.close()


if __name__ == '__main__':
    main()
