#!/usr/bin/env python3
"""A reference client for `workbook check 10 --client`: it fails, the way
a first try often does.

Usage: python3 client_sends_all_first.py HOST PORT [--bytes N]

It sends everything, half-closes, and only then reads the replies. With a
few bytes that works. With more than the buffers on the way back hold, the
server blocks sending replies nobody reads, stops reading, the buffers on
the way there fill too, and both programs wait for each other for good.
"""
import argparse
import socket
import sys

MESSAGE = b'capitalize this!'
CHUNK = MESSAGE * 4096  # 64 KiB per sendall()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('host')
    parser.add_argument('port', type=int)
    parser.add_argument('--bytes', type=int, default=16 << 20)
    args = parser.parse_args()
    total = -(-args.bytes // len(MESSAGE)) * len(MESSAGE)
    sock = socket.create_connection((args.host, args.port))
    sent = 0
    while sent < total:  # the mistake: nobody reads the replies meanwhile
        piece = CHUNK[:min(len(CHUNK), total - sent)]
        sock.sendall(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    count = 0
    while True:
        data = sock.recv(len(CHUNK))
        if not data:
            break
        count += len(data)
    sock.close()
    print('sent', total, 'bytes; received', count, 'bytes')
    return 0 if count == total else 1


if __name__ == '__main__':
    sys.exit(main())
