#!/usr/bin/env python3
"""Exercise 07: a starting point for `workbook check 07 --server`.

Usage: python3 server_start.py PORT
Check: workbook check 07 --server -- python3 server_start.py {port}

Write the sixteen-octet server of exercise 01 so that a client on another
machine can reach it. The check runs this program on one host of a small
private network of two, and connects from the other one; it reads which
address the listening socket is bound to from the kernel, not from what
the program prints.
"""
import socket
import sys


def main():
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # TODO: which interface? The first element of the address tuple
    # decides who can connect: think about a client on another machine.
    listener.bind(('127.0.0.1', port))
    listener.listen(1)
    while True:
        conn, peer = listener.accept()
        # TODO: read exactly sixteen octets, reply b'Farewell, client'.
        conn.close()


if __name__ == '__main__':
    main()
