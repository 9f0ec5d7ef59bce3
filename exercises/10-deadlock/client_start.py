#!/usr/bin/env python3
"""Exercise 10: a starting point for `workbook check 10 --client`.

Usage: python3 client_start.py HOST PORT [--bytes N]
Check: workbook check 10 --client -- python3 client_start.py {host} {port}

The server (the book's) reads what a client sends, up to 1024 bytes at a
time, and sends each piece back upper-cased. Write a client that sends N
bytes (16 MiB unless --bytes says otherwise: more than the operating
system's buffers hold) of b'capitalize this!' over and over, gets every
byte back upper-cased and in order, and then prints, as its last line, how
many bytes came back and exits 0 (1 if anything came back wrong).

Two things stand in the way. The replies pile up while you send: if
nobody reads them, both programs end up waiting for each other. And the
server only closes once it has seen your end of the stream.
"""
import argparse
import socket
import sys

MESSAGE = b'capitalize this!'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('host')
    parser.add_argument('port', type=int)
    parser.add_argument('--bytes', type=int, default=16 << 20)
    args = parser.parse_args()
    total = -(-args.bytes // len(MESSAGE)) * len(MESSAGE)
    sock = socket.create_connection((args.host, args.port))
    # TODO: send `total` bytes of MESSAGE while reading the replies, let
    # the server know you are done, read to the end, check and count.
    received = 0
    print('received', received, 'bytes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
