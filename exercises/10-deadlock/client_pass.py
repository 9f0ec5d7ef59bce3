#!/usr/bin/env python3
"""A reference client for `workbook check 10 --client`: it passes.

Usage: python3 client_pass.py HOST PORT [--bytes N]

A second thread reads the replies while the main thread sends, so neither
side's buffers ever fill for good. Once everything is sent, shutdown
(SHUT_WR) tells the server no more is coming; the server then closes, and
the reader sees the end of the stream.
"""
import argparse
import socket
import sys
import threading

MESSAGE = b'capitalize this!'
CHUNK = MESSAGE * 4096  # 64 KiB per sendall()


def read_replies(sock, result):
    """Read to the end of the stream, counting the bytes and checking each
    is the upper-cased message, in order."""
    expected = MESSAGE.upper() * (len(CHUNK) // len(MESSAGE) + 1)
    count, good = 0, True
    while True:
        data = sock.recv(len(CHUNK))
        if not data:
            break
        at = count % len(MESSAGE)
        good = good and data == expected[at:at + len(data)]
        count += len(data)
    result.extend([count, good])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('host')
    parser.add_argument('port', type=int)
    parser.add_argument('--bytes', type=int, default=16 << 20)
    args = parser.parse_args()
    total = -(-args.bytes // len(MESSAGE)) * len(MESSAGE)
    sock = socket.create_connection((args.host, args.port))
    result = []
    reader = threading.Thread(target=read_replies, args=(sock, result))
    reader.start()
    sent = 0
    while sent < total:
        piece = CHUNK[:min(len(CHUNK), total - sent)]
        sock.sendall(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)  # no more data from us
    reader.join()
    sock.close()
    count, good = result
    if count != total or not good:
        print('sent', total, 'bytes; got back', count, 'bytes,',
              'all right' if good else 'some wrong', file=sys.stderr)
        return 1
    print('sent', total, 'bytes; received', count, 'bytes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
