"""The upload views read gunicorn's request body in large steps (backoffice/uploads.py,
GunicornLargeReads), with gunicorn's own classes over a real socket: the same bytes, the
rest of the connection (the next request) left to gunicorn, its socket reader as before.
If a gunicorn upgrade changes the classes this relies on, these tests say so (the upload
views would silently fall back to gunicorn's 1 KiB reads)."""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.wsgi import LimitedStream

from backoffice.uploads import (
    PARSE_BUFFER,
    GunicornLargeReads,
    read_gunicorn_body_in_large_steps,
)

NEXT_REQUEST = b"GET /sante HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def connection():
    """A socket pair: what a client sends on one end, gunicorn's socket reader on the other."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def _send(client: socket.socket, data: bytes) -> threading.Thread:
    thread = threading.Thread(target=client.sendall, args=(data,))
    thread.start()
    return thread


def test_the_body_is_read_whole_and_the_next_request_left_to_gunicorn(connection) -> None:
    server, client = connection
    body = os.urandom(3 * 1024 * 1024 + 12345)
    sender = _send(client, body + NEXT_REQUEST)
    unreader = SocketUnreader(server)
    reader = LengthReader(unreader, len(body))
    environ = {"wsgi.input": Body(reader)}

    read_gunicorn_body_in_large_steps(environ)

    stream = environ["wsgi.input"]
    assert isinstance(stream, GunicornLargeReads)
    limited = LimitedStream(stream, len(body))  # as Werkzeug wraps it for the form parser
    received = bytearray()
    while chunk := limited.read(PARSE_BUFFER):
        received += chunk
    sender.join()
    assert bytes(received) == body
    assert reader.length == 0
    assert unreader.mxchunk == 8192  # gunicorn's own, for the connection's next requests
    assert unreader.read(len(NEXT_REQUEST)) == NEXT_REQUEST


def test_a_rest_left_unread_is_still_drained_by_gunicorn(connection) -> None:
    """A view that refuses an upload half-way: gunicorn's Body reads what is left (as it
    does before the connection's next request) and stops at the body's end."""
    server, client = connection
    body = os.urandom(1024 * 1024)
    sender = _send(client, body + NEXT_REQUEST)
    unreader = SocketUnreader(server)
    reader = LengthReader(unreader, len(body))
    gunicorn_body = Body(reader)
    environ = {"wsgi.input": gunicorn_body}
    read_gunicorn_body_in_large_steps(environ)

    first = environ["wsgi.input"].read(300_000)
    rest = bytearray()
    while data := gunicorn_body.read(8192):  # gunicorn's Parser discards the rest so
        rest += data
    sender.join()
    assert first + rest == body
    assert unreader.read(len(NEXT_REQUEST)) == NEXT_REQUEST


def test_other_inputs_are_left_as_they_are(connection) -> None:
    server, _client = connection
    chunked = Body(ChunkedReader(object(), SocketUnreader(server)))
    started = Body(LengthReader(SocketUnreader(server), 10))
    started.buf.write(b"abc")  # gunicorn's Body already holds some of it
    for stream in (io.BytesIO(b"x"), chunked, started, None):
        environ = {"wsgi.input": stream}
        read_gunicorn_body_in_large_steps(environ)
        assert environ["wsgi.input"] is stream
