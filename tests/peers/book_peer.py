#!/usr/bin/env python3
"""A peer that speaks the protocol of the book's two scripts (FOPNP 3rd ed.,
ch. 3: tcp_sixteen.py and tcp_deadlock.py), written for this workbook's
tests. Every blocking call has a deadline (socket timeouts), and the server
roles serve one client and exit.

  book_peer.py sixteen-server PORTFILE       listen on 127.0.0.1:0, write the port
  book_peer.py sixteen-client PORT
  book_peer.py deadlock-server PORTFILE
  book_peer.py deadlock-client PORT BYTECOUNT

Exit status 0 when the conversation went as the protocol says.

One addition to the book's sixteen-octet client: after the reply it
half-closes and waits for the server's end of stream, and says whether the
connection ended cleanly or was reset. A server that closes with the
client's bytes unread makes its kernel send a reset, which the book's own
client only runs into now and then.
"""

import socket
import sys

TIMEOUT = 10.0


def recvall(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('expected %d bytes, got %d' % (length, len(data)))
        data += more
    return data


def listen(portfile):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(sock.getsockname()[1]))
    import os
    os.rename(portfile + '.tmp', portfile)
    sc, _ = sock.accept()
    sc.settimeout(TIMEOUT)
    return sc


def connect(port):
    sock = socket.create_connection(('127.0.0.1', int(port)), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def sixteen_server(portfile):
    sc = listen(portfile)
    message = recvall(sc, 16)
    assert message == b'Hi there, server', message
    sc.sendall(b'Farewell, client')
    sc.close()
    print('server got', repr(message))


def sixteen_client(port):
    sock = connect(port)
    sock.sendall(b'Hi there, server')
    reply = recvall(sock, 16)
    assert reply == b'Farewell, client', reply
    try:
        sock.shutdown(socket.SHUT_WR)
        rest = sock.recv(16)
        ending = 'end of stream' if rest == b'' else 'more: %r' % rest
    except OSError as e:
        ending = 'error: %s' % e
    sock.close()
    print('client got %r, then %s' % (reply, ending))


def deadlock_server(portfile):
    sc = listen(portfile)
    n = 0
    while True:
        data = sc.recv(1024)
        if not data:
            break
        sc.sendall(data.upper())
        n += len(data)
    sc.close()
    print('server processed', n, 'bytes')


def deadlock_client(port, bytecount):
    bytecount = (int(bytecount) + 15) // 16 * 16
    sock = connect(port)
    message = b'capitalize this!'
    for _ in range(bytecount // 16):
        sock.sendall(message)
    sock.shutdown(socket.SHUT_WR)
    received = bytearray()
    while True:
        data = sock.recv(42)
        if not data:
            break
        received += data
    sock.close()
    assert received == message.upper() * (bytecount // 16), len(received)
    print('client received', len(received), 'bytes')


if __name__ == '__main__':
    role, *rest = sys.argv[1:]
    {'sixteen-server': sixteen_server, 'sixteen-client': sixteen_client,
     'deadlock-server': deadlock_server,
     'deadlock-client': deadlock_client}[role](*rest)
