"""The lab's listener and prober, run inside a namespace: ``python3 -m netsim.lab.agent``.

``serve --pod KEY [--tcp PORT]... [--udp PORT]...`` binds every port on
``0.0.0.0``, prints ``ready`` once all are bound, and then answers each TCP
connection and each UDP datagram with one JSON line
``{"pod": KEY, "peer": "IP:PORT"}``: the pod it stands for and the address
the kernel handed the socket (which reveals SNAT). It runs until killed.

``probe`` reads a JSON list of requests from stdin, each ``{"id", "dst",
"port", "protocol", "count", "timeout", "targets"}``, and prints one JSON list
of results. Each request makes up to ``count`` attempts (a TCP connect or a
UDP exchange, each from a new ephemeral source port, each bounded by
``timeout`` seconds) and stops early once every outcome in ``targets`` (pod
keys, or ``"fail"`` for any attempt that did not connect) has been seen, or
at the first outcome not in ``targets``. Requests run concurrently (at most
:data:`MAX_PARALLEL`).

Verdicts: ``connected`` (with the answer), ``refused`` (a TCP reset or an
ICMP port unreachable: ``ECONNREFUSED``), ``timed-out``, ``unreachable``
(ICMP host/net unreachable or no route: ``EHOSTUNREACH``/``ENETUNREACH``),
``error`` (anything else, with the message).

Standard library only: it starts in every namespace of a lab, so it imports
nothing of netsim.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

__all__ = ["attempt", "main", "probe", "serve"]

MAX_PARALLEL: Final = 32  # concurrent requests in one probe run
MAX_ATTEMPTS: Final = 100  # hard bound on attempts per request, whatever is asked
MAX_TIMEOUT: Final = 5.0  # seconds, hard bound per attempt
UDP_RESEND: Final = 1.0  # seconds between a UDP probe's datagrams (a TCP SYN's first retry)
PAYLOAD: Final = b"netsim-lab-probe\n"
_UNREACHABLE: Final = {errno.EHOSTUNREACH, errno.ENETUNREACH}


def _answer(pod: str, peer: tuple[str, int]) -> bytes:
    return (json.dumps({"pod": pod, "peer": f"{peer[0]}:{peer[1]}"}) + "\n").encode()


def serve(pod: str, tcp: list[int], udp: list[int]) -> None:
    """Listen on the ports and answer forever (prints ``ready`` when bound)."""
    selector = selectors.DefaultSelector()
    for port in tcp:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(128)
        selector.register(server, selectors.EVENT_READ, "tcp")
    for port in udp:
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("0.0.0.0", port))
        selector.register(server, selectors.EVENT_READ, "udp")
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the parent stops reading after "ready"
    while True:
        for key, _ in selector.select():
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            try:
                if key.data == "tcp":
                    conn, peer = sock.accept()
                    with conn:
                        conn.sendall(_answer(pod, peer))
                else:
                    _, peer = sock.recvfrom(2048)
                    sock.sendto(_answer(pod, peer), peer)
            except OSError:
                continue  # a peer that went away: keep serving the others


def _exchange(sock: socket.socket, timeout: float) -> bytes:
    """Send a datagram and wait for the answer, resending every second as a resolver does."""
    deadline = time.monotonic() + timeout
    while True:
        sock.send(PAYLOAD)
        left = deadline - time.monotonic()
        sock.settimeout(max(0.01, min(UDP_RESEND, left)))
        try:
            return sock.recv(2048)
        except TimeoutError:
            if time.monotonic() + 0.01 >= deadline:
                raise


def attempt(dst: str, port: int, protocol: str, timeout: float) -> dict[str, Any]:
    """One TCP connect or UDP exchange: ``{"verdict", "pod", "peer", "sport", "error"}``."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    result: dict[str, Any] = {"verdict": "error", "pod": None, "peer": None, "sport": None}
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((dst, port))
            result["sport"] = sock.getsockname()[1]
            if kind == socket.SOCK_DGRAM:
                data = _exchange(sock, timeout)
            else:
                data = b""
                while chunk := sock.recv(2048):
                    data += chunk
            result["verdict"] = "connected"
            if data:
                answer = json.loads(data.decode())
                result["pod"], result["peer"] = answer["pod"], answer["peer"]
        except ConnectionRefusedError:
            result["verdict"] = "refused"
        except TimeoutError:
            result["verdict"] = "timed-out"
        except OSError as error:
            if error.errno in _UNREACHABLE:
                result["verdict"] = "unreachable"
            else:
                result["error"] = str(error)
        except ValueError as error:  # an answer that is not ours
            result["error"] = f"unexpected answer: {error}"
    return result


def _outcome(result: dict[str, Any]) -> str:
    return str(result["pod"]) if result["verdict"] == "connected" else "fail"


def _run_request(request: dict[str, Any]) -> dict[str, Any]:
    count = max(1, min(int(request["count"]), MAX_ATTEMPTS))
    timeout = max(0.05, min(float(request["timeout"]), MAX_TIMEOUT))
    targets = set(request["targets"])
    attempts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(count):
        result = attempt(str(request["dst"]), int(request["port"]), request["protocol"], timeout)
        attempts.append(result)
        outcome = _outcome(result)
        seen.add(outcome)
        if targets and (outcome not in targets or targets <= seen):
            break
    return {"id": request["id"], "attempts": attempts}


def probe(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run every request (concurrently); their results in request order."""
    if not requests:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(requests))) as pool:
        return list(pool.map(_run_request, requests))


def main(argv: list[str] | None = None) -> int:
    """The agent's command line."""
    parser = argparse.ArgumentParser(prog="python3 -m netsim.lab.agent")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve")
    server.add_argument("--pod", required=True)
    server.add_argument("--tcp", type=int, action="append", default=[])
    server.add_argument("--udp", type=int, action="append", default=[])
    commands.add_parser("probe")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.pod, args.tcp, args.udp)
        return 0  # pragma: no cover - serve returns only by being killed
    print(json.dumps(probe(json.load(sys.stdin))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
