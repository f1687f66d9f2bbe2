"""What the plugin prints: the ADD result in the config's version, its ``dns``, CNI errors.

Models the output side of the reference ``host-local`` (containernetworking
/plugins 1.1.1 with libcni's ``types`` packages):

* :func:`result_json`: the ``types/100`` result converted as ``PrintResult``
  converts it to the config's ``cniVersion``: ``0.1.0``/``0.2.0``
  (``types/020``: the first ``ip4`` and ``ip6``, routes split by family),
  ``0.3.x``/``0.4.0`` (each IP with ``"version"``) and ``1.0.0``; routes
  printed as given (``<nil>`` for a missing ``dst``);
* :func:`parse_resolv_conf`: host-local's ``parseResolvConf`` into ``dns``
  (``nameserver``, ``domain``, ``search``, ``options``; Go's
  ``strings.Fields``/``TrimSpace`` white space; ``bufio.Scanner``'s token
  limit), with Go's ``*os.PathError`` texts;
* :func:`error_json`: ``types.Error.Print`` (code, msg, details).

A ``null`` route with a 0.1.0/0.2.0 config raises
:class:`~netsim.cni.unmarshal.GoPanicError`, where the reference panics.

Not modelled: results of other plugins (interfaces, sandboxes), the
``cniVersion`` of error results (the reference prints none) and JSON
encoding itself (:mod:`netsim.cni.gojson`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from netsim.cni.gojson import Json, encode_json
from netsim.cni.skel import IMPLEMENTED_SPEC_VERSION, internal_error
from netsim.cni.unmarshal import NIL_DEREFERENCE, GoPanicError, Route
from netsim.control.hostlocal import (
    GO_SPACE,
    Allocation,
    cidr_text,
    go_trim_space,
    parse_cidr,
    parse_ip,
)
from netsim.errors import IPAMError

__all__ = ["GO_SCANNER_MAX_TOKEN", "error_json", "parse_resolv_conf", "result_json"]

GO_SCANNER_MAX_TOKEN = 64 * 1024  # bufio.MaxScanTokenSize, limits resolv.conf lines


def _go_fields(line: str) -> list[str]:
    """``strings.Fields``: split on runs of Go white space."""
    return [field for field in re.split(f"[{GO_SPACE}]+", line) if field]


def parse_resolv_conf(path: str) -> dict[str, Json]:
    """host-local's ``parseResolvConf`` into the ``dns`` of the result.

    Raises:
        IPAMError: code 999, the file cannot be read or has a line of 64 KiB or
            more (Go's ``os`` and ``bufio`` wording).
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except IsADirectoryError:
        raise internal_error(f"read {path}: is a directory") from None
    except OSError as exc:
        text = os.strerror(exc.errno) if exc.errno else str(exc)
        raise internal_error(f"open {path}: {text[:1].lower()}{text[1:]}") from None
    nameservers: list[Json] = []
    domain = ""
    search: list[Json] = []
    options: list[Json] = []
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for raw in lines:
        if len(raw) >= GO_SCANNER_MAX_TOKEN:
            raise internal_error("bufio.Scanner: token too long")
        line = go_trim_space(raw.removesuffix(b"\r").decode("utf-8", "surrogateescape"))
        if not line or line[0] in "#;":
            continue
        fields = _go_fields(line)
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            nameservers.append(fields[1])
        elif fields[0] == "domain":
            domain = fields[1]
        elif fields[0] == "search":
            search.extend(fields[1:])
        elif fields[0] == "options":
            options.extend(fields[1:])
    dns: dict[str, Json] = {}
    if nameservers:
        dns["nameservers"] = nameservers
    if domain:
        dns["domain"] = domain
    if search:
        dns["search"] = search
    if options:
        dns["options"] = options
    return dns


def _route_json(route: Route | None) -> Json:
    if route is None:
        return None
    cidr = parse_cidr(route.dst) if route.dst is not None else None
    body: dict[str, Json] = {"dst": cidr_text(cidr) if cidr is not None else "<nil>"}
    gw = parse_ip(route.gw) if route.gw is not None else None
    if gw is not None:
        body["gw"] = str(gw)
    return body


def result_json(
    version: str,
    allocations: Sequence[Allocation],
    routes: Sequence[Route | None],
    dns: dict[str, Json],
) -> Json:
    """The ADD result converted to the config's version, as ``PrintResult`` does."""
    version = version or "0.1.0"
    if version in ("0.1.0", "0.2.0"):
        return _result_020(version, allocations, routes, dns)
    ips: list[Json] = []
    for allocation in allocations:
        ip: dict[str, Json] = {}
        if version != IMPLEMENTED_SPEC_VERSION:
            ip["version"] = str(allocation.address.version)
        ip["address"] = str(allocation.address)
        if allocation.gateway is not None:
            ip["gateway"] = str(allocation.gateway)
        ips.append(ip)
    result: dict[str, Json] = {"cniVersion": version, "ips": ips}
    if routes:
        result["routes"] = [_route_json(route) for route in routes]
    result["dns"] = dns
    return result


def _result_020(
    version: str,
    allocations: Sequence[Allocation],
    routes: Sequence[Route | None],
    dns: dict[str, Json],
) -> Json:
    """types/020: the first IPv4 and IPv6 address, routes split by family."""
    configs: dict[int, dict[str, Json]] = {}
    for allocation in allocations:
        family = allocation.address.version
        if family not in configs:
            config: dict[str, Json] = {"ip": str(allocation.address)}
            if allocation.gateway is not None:
                config["gateway"] = str(allocation.gateway)
            configs[family] = config
    per_family: dict[int, list[Json]] = {4: [], 6: []}
    for route in routes:
        if route is None:
            raise GoPanicError(NIL_DEREFERENCE)
        cidr = parse_cidr(route.dst) if route.dst is not None else None
        family = 4 if cidr is not None and cidr.ip.version == 4 else 6
        if family in configs:
            per_family[family].append(_route_json(route))
    result: dict[str, Json] = {"cniVersion": version}
    for family, key in ((4, "ip4"), (6, "ip6")):
        if family in configs:
            if per_family[family]:
                configs[family]["routes"] = per_family[family]
            result[key] = configs[family]
    result["dns"] = dns
    return result


def error_json(error: IPAMError) -> str:
    """``types.Error.Print``: code, msg, details (omitted when empty); no cniVersion."""
    body: dict[str, Json] = {"code": error.code, "msg": error.msg}
    if error.details:
        body["details"] = error.details
    return encode_json(body)
