"""host-local's ``LoadIPAMConfig``: the network config and ``CNI_ARGS`` into an IPAMConfig.

Models ``plugins/ipam/host-local/backend/allocator/config.go`` of
containernetworking/plugins 1.1.1 on a config that skel has already checked:

* range sets from ``runtimeConfig.ipRanges`` first, then the legacy
  top-level ``subnet``/``rangeStart``/``rangeEnd``/``gateway``, then
  ``ipam.ranges``, canonicalized and checked for overlaps by
  :mod:`netsim.control.hostlocal`;
* requested IPs from ``CNI_ARGS`` (libcni ``types.LoadArgs`` into
  ``IPAMEnvArgs``: ``IP=``, ``IgnoreUnknown=``, with the reference's
  ``ARGS: ...`` messages), then ``args.cni.ips``, then ``runtimeConfig.ips``;
* the ``dataDir``, ``resolvConf`` and ``routes`` of the ``ipam`` section, and
  the ``more than 1 address per family`` check for configs before 0.3.0.

Where the reference dereferences a nil pointer (a ``null`` in
``runtimeConfig.ips`` or ``args.cni.ips``) this raises
:class:`~netsim.cni.unmarshal.GoPanicError`.

Not modelled: the JSON decoding itself (:mod:`netsim.cni.unmarshal`), reading
``resolvConf`` (:mod:`netsim.cni.result`), and Go's map order when several
requested IPs fall in one range set (netsim keeps the order given).
"""

from __future__ import annotations

from dataclasses import dataclass

from netsim.cni.gostrconv import go_quote, go_quote_list
from netsim.cni.skel import at_least, internal_error
from netsim.cni.unmarshal import (
    NET,
    NIL,
    NIL_DEREFERENCE,
    GoPanicError,
    Route,
    UnmarshalError,
    parse_plugin_ip,
    unmarshal,
)
from netsim.control.hostlocal import (
    IPAddress,
    RangeSet,
    canonicalize_range_set,
    check_range_sets_disjoint,
)

__all__ = ["IPAMConfig", "load_ipam_config"]


@dataclass(frozen=True, slots=True)
class IPAMConfig:
    """What ``LoadIPAMConfig`` returns: the network and its ``ipam`` section, checked.

    Attributes:
        name: the network name (names the store directory).
        cni_version: the config's ``cniVersion`` as written ("" allowed).
        data_dir: ``ipam.dataDir`` ("" means ``/var/lib/cni/networks``).
        resolv_conf: ``ipam.resolvConf`` ("" means none).
        routes: ``ipam.routes``; None for a ``null`` entry.
        range_sets: the canonicalized range sets (runtime ``ipRanges`` first,
            then the legacy top-level range, then ``ranges``).
        requested: requested IPs in order (``IP=`` from CNI_ARGS, ``args.cni.ips``,
            ``runtimeConfig.ips``).
    """

    name: str
    cni_version: str
    data_dir: str
    resolv_conf: str
    routes: tuple[Route | None, ...]
    range_sets: tuple[RangeSet, ...]
    requested: tuple[IPAddress, ...]


def _load_env_args(args: str) -> IPAddress | None:
    """libcni ``types.LoadArgs`` into host-local's ``IPAMEnvArgs`` (IgnoreUnknown, IP)."""
    ignore_unknown = False
    requested: IPAddress | None = None
    unknown: list[str] = []
    for pair in args.split(";"):
        parts = pair.split("=")
        if len(parts) != 2:
            raise internal_error(f"ARGS: invalid pair {go_quote(pair)}")
        key, value = parts
        if key == "IgnoreUnknown":
            lowered = value.lower()
            if lowered not in ("1", "true", "0", "false"):
                raise internal_error(
                    f"ARGS: error parsing value of pair {go_quote(pair)}:"
                    f" boolean unmarshal error: invalid input {lowered}"
                )
            ignore_unknown = lowered in ("1", "true")
        elif key == "IP":
            requested = parse_plugin_ip(value) if value else None
            if value and requested is None:
                raise internal_error(
                    f"ARGS: error parsing value of pair {go_quote(pair)}:"
                    f" invalid IP address {value}"
                )
        elif key == "CommonArgs":
            raise internal_error(
                "ARGS: cannot unmarshal into field 'CommonArgs' - type '*types.CommonArgs'"
                " does not implement encoding.TextUnmarshaler"
            )
        else:
            unknown.append(pair)
    if unknown and not ignore_unknown:
        raise internal_error(f"ARGS: unknown args {go_quote_list(unknown)}")
    return requested


def _requested_from(items: object, into: list[IPAddress | None]) -> None:
    for item in items if isinstance(items, list) else ():
        if item is NIL:
            raise GoPanicError(NIL_DEREFERENCE)
        into.append(item if isinstance(item, IPAddress) else None)


def _raw_range_sets(value: object) -> list[list[dict[str, str]]]:
    sets: list[list[dict[str, str]]] = []
    for range_set in value if isinstance(value, list) else ():
        ranges = []
        for item in range_set if isinstance(range_set, list) else ():
            fields = item if isinstance(item, dict) else {}
            ranges.append({k: v for k, v in fields.items() if isinstance(v, str)})
        sets.append(ranges)
    return sets


def load_ipam_config(data: object, cni_args: str) -> IPAMConfig:
    """host-local's ``LoadIPAMConfig`` on a parsed (and name-checked) network config.

    Args:
        data: the config as :func:`netsim.cni.gojson.parse_json` returns it.
        cni_args: the ``CNI_ARGS`` environment variable.

    Returns:
        The checked configuration.

    Raises:
        IPAMError: code 999 with the reference's message.
    """
    try:
        net = unmarshal(data, NET)
    except UnmarshalError as exc:
        raise internal_error(str(exc)) from None
    ipam = net.get("ipam")
    if not isinstance(ipam, dict):
        raise internal_error("IPAM config missing 'ipam' key")
    requested: list[IPAddress | None] = []
    if cni_args:
        env_ip = _load_env_args(cni_args)
        if env_ip is not None:
            requested.append(env_ip)
    args = _struct_value(net.get("args"))
    _requested_from(_struct_value(args.get("cni")).get("ips"), requested)
    runtime = _struct_value(net.get("runtimeConfig"))
    _requested_from(runtime.get("ips"), requested)
    if None in requested:
        raise internal_error("cannot understand ip: IP <nil> not v4 nor v6")
    raw_sets = _raw_range_sets(ipam.get("ranges"))
    if "subnet" in ipam:
        legacy = {k: ipam.get(k) for k in ("subnet", "rangeStart", "rangeEnd", "gateway")}
        raw_sets.insert(0, [{k: v for k, v in legacy.items() if isinstance(v, str)}])
    raw_sets[:0] = _raw_range_sets(runtime.get("ipRanges"))
    if not raw_sets:
        raise internal_error("no IP ranges specified")
    range_sets = tuple(canonicalize_range_set(raw, i) for i, raw in enumerate(raw_sets))
    version = net.get("cniVersion")
    version = version if isinstance(version, str) else ""
    families = [rs[0].range_start.version for rs in range_sets]
    if families.count(4) > 1 or families.count(6) > 1:
        try:
            supported = at_least(version, "0.3.0")
        except ValueError:
            supported = False
        if not supported:
            raise internal_error(
                f"CNI version {version} does not support more than 1 address per family"
            )
    check_range_sets_disjoint(range_sets)
    routes = ipam.get("routes")
    routes = routes if isinstance(routes, list) else []
    name = net.get("name")
    return IPAMConfig(
        name=name if isinstance(name, str) else "",
        cni_version=version,
        data_dir=_text(ipam.get("dataDir")),
        resolv_conf=_text(ipam.get("resolvConf")),
        routes=tuple(r if isinstance(r, Route) else None for r in routes),
        range_sets=range_sets,
        requested=tuple(ip for ip in requested if ip is not None),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _struct_value(value: object) -> dict[str, object]:
    """A decoded struct, or an empty one for a nil pointer."""
    return value if isinstance(value, dict) else {}
