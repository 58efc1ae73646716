"""RFC 6455 framing of the Socket Mode stand-in (``simulator.websocket``): the examples of the
RFC itself, masking, fragmentation with interleaved control frames, the close payload, and the
frames a server must refuse."""

from __future__ import annotations

import io

import pytest

from simulator import websocket as ws


def _reader(data: bytes) -> ws.MessageReader:
    controls: list[ws.Frame] = []
    reader = ws.MessageReader(io.BytesIO(data).read, controls.append)
    reader.controls = controls  # type: ignore[attr-defined]
    return reader


def test_accept_key_is_the_rfc_example() -> None:
    # RFC 6455 section 1.3
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_the_rfc_examples_of_single_frames() -> None:
    # RFC 6455 section 5.7: an unmasked and a masked "Hello"
    assert ws.encode_frame(ws.OP_TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")
    masked = bytes.fromhex("818537fa213d7f9f4d5158")
    assert ws.encode_frame(ws.OP_TEXT, b"Hello", mask=bytes.fromhex("37fa213d")) == masked
    frame = ws.read_frame(io.BytesIO(masked).read)
    assert (frame.fin, frame.opcode, frame.payload, frame.masked) == (True, 1, b"Hello", True)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_lengths_round_trip_through_each_length_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    encoded = ws.encode_frame(ws.OP_BINARY, payload, mask=b"")
    assert len(encoded) == len(payload) + 2 + 4 + (0 if size <= 125 else 2 if size <= 65535 else 8)
    assert ws.read_frame(io.BytesIO(encoded).read).payload == payload


def test_masking_is_its_own_inverse() -> None:
    mask = b"\x01\x02\x03\x04"
    data = b"socket mode envelope"
    assert ws.apply_mask(ws.apply_mask(data, mask), mask) == data
    assert ws.apply_mask(data, mask) != data


def test_a_fragmented_message_is_joined_around_a_ping() -> None:
    data = (
        ws.encode_frame(ws.OP_TEXT, b'{"envelope_id": ', fin=False, mask=b"")
        + ws.encode_frame(ws.OP_PING, b"keepalive", mask=b"")
        + ws.encode_frame(ws.OP_CONTINUATION, b'"e1"', fin=False, mask=b"")
        + ws.encode_frame(ws.OP_CONTINUATION, b"}", mask=b"")
    )
    reader = _reader(data)
    assert reader.next_message() == (ws.OP_TEXT, b'{"envelope_id": "e1"}')
    assert [f.payload for f in reader.controls] == [b"keepalive"]  # type: ignore[attr-defined]


def test_a_close_frame_ends_the_message_stream_with_its_code() -> None:
    data = ws.encode_frame(ws.OP_CLOSE, ws.close_payload(1000, "bye"), mask=b"")
    opcode, payload = _reader(data).next_message()
    assert opcode == ws.OP_CLOSE
    assert ws.parse_close(payload) == (1000, "bye")
    assert ws.parse_close(b"") == (1005, "")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (ws.encode_frame(ws.OP_TEXT, b"hi"), "must be masked"),
        (ws.encode_frame(ws.OP_CONTINUATION, b"hi", mask=b""), "without a message"),
        (
            ws.encode_frame(ws.OP_TEXT, b"a", fin=False, mask=b"")
            + ws.encode_frame(ws.OP_TEXT, b"b", mask=b""),
            "before the fragmented one ended",
        ),
        (bytes([0x89, 0x80 | 126, 0, 126]) + bytes(4) + bytes(126), "125 bytes"),
        (bytes([0xC1, 0x80]) + bytes(4), "reserved bits"),
        (bytes([0x83, 0x80]) + bytes(4), "unknown opcode"),
    ],
)
def test_frames_a_server_refuses(data: bytes, why: str) -> None:
    with pytest.raises(ws.ProtocolError, match=why) as caught:
        _reader(data).next_message()
    assert caught.value.code == ws.CLOSE_PROTOCOL_ERROR


def test_a_stream_ending_inside_a_frame_is_a_closed_connection() -> None:
    truncated = ws.encode_frame(ws.OP_TEXT, b"Hello", mask=b"")[:-2]
    with pytest.raises(ws.ConnectionClosed):
        ws.read_frame(io.BytesIO(truncated).read)


def test_control_frames_cannot_be_built_too_long_or_fragmented() -> None:
    with pytest.raises(ValueError):
        ws.encode_frame(ws.OP_PING, bytes(126))
    with pytest.raises(ValueError):
        ws.encode_frame(ws.OP_CLOSE, b"", fin=False)


def test_handshake_checks_follow_rfc_6455_section_4_2_1() -> None:
    good = {
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert ws.handshake_problem("GET", good) is None
    assert ws.handshake_problem("POST", good)
    assert ws.handshake_problem("GET", {**good, "Upgrade": "h2c"})
    assert ws.handshake_problem("GET", {**good, "Connection": "keep-alive"})
    assert ws.handshake_problem("GET", {**good, "Sec-WebSocket-Version": "8"})
    assert ws.handshake_problem("GET", {**good, "Sec-WebSocket-Key": "c2hvcnQ="})
    answer = ws.switching_protocols(good["Sec-WebSocket-Key"])
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" in answer
