"""``netsim cni``: a CNI IPAM plugin answering exactly as the reference ``host-local``.

Models the reference binary byte for byte (containernetworking/plugins 1.1.1
``host-local`` built with libcni's ``skel``, ``types`` and ``version``
packages, as Debian ships it). This module is its ``main``: skel's
dispatcher and host-local's ``cmdAdd``/``cmdDel``/``cmdCheck``, over parts
that each model one piece of the reference:

* :mod:`netsim.cni.skel`: the ``CNI_*`` environment (required variables per
  command, code 4 ``required env variables [A,B] missing``), validation of
  the network name, container ID and interface name, the config-version
  checks (code 1 ``incompatible CNI versions``; CHECK needs 0.4.0+),
  ``VERSION``, and unknown commands (``GC`` and ``STATUS`` are unknown to
  1.1.1: code 4).
* :mod:`netsim.cni.gojson` and :mod:`netsim.cni.unmarshal`: **Go's
  encoding/json** where it shows: syntax-error messages of its scanner,
  case-insensitive keys (last one wins), type errors such as ``json: cannot
  unmarshal number into Go struct field Range.ipam.ranges.subnet of type
  string``, ``null`` handling, HTML-safe escaping (``\\u003c``) and
  ``MarshalIndent`` with four spaces. :mod:`netsim.cni.gostrconv` prints
  ``%q`` as Go does.
* :mod:`netsim.cni.config`: host-local's ``LoadIPAMConfig`` (ranges, legacy
  top-level range, ``runtimeConfig.ipRanges``, requested IPs from
  ``CNI_ARGS`` ``IP=``, ``args.cni.ips`` and ``runtimeConfig.ips``).
* :mod:`netsim.cni.result`: ``resolvConf`` parsed into ``dns``, ``routes``
  copied, results converted to the config's version (``0.1.0``/``0.2.0``
  ``ip4``/``ip6``; ``0.3.x``/``0.4.0`` with ``"version"``; ``1.0.0``).

The allocator itself is :mod:`netsim.control.hostlocal` with its
:class:`~netsim.control.hostlocal.DiskStore`.

Where the reference panics (a ``null`` in ``runtimeConfig.ips`` or
``args.cni.ips``; a ``null`` route with a 0.1.0/0.2.0 config) netsim also
exits 2 with empty stdout and a ``panic:`` line on stderr. Not modelled: the
exact text of Go's panic traces, Go's handling of invalid UTF-8 sequences
(replaced here by the decoder's maximal-subpart rule), Go map iteration order
(when several requested IPs fall in one range set the reference picks one at
random; netsim takes the first given), and the reference's garbage results on
subnets starting with a zero byte (refused, see :mod:`netsim.control.hostlocal`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TextIO

from netsim.cni.config import IPAMConfig, load_ipam_config
from netsim.cni.gojson import Json, JsonObject, encode_json
from netsim.cni.gostrconv import go_quote
from netsim.cni.result import error_json, parse_resolv_conf, result_json
from netsim.cni.skel import (
    ABOUT,
    ERR_INVALID_ENVIRONMENT_VARIABLES,
    IMPLEMENTED_SPEC_VERSION,
    SUPPORTED_VERSIONS,
    config_version,
    internal_error,
    missing_env,
    reconcile,
    validate_check_versions,
    validate_config,
    validate_container_id,
    validate_interface_name,
)
from netsim.cni.unmarshal import GoPanicError, Route
from netsim.control.hostlocal import DiskStore, allocate, check, release
from netsim.errors import IPAMError

__all__ = [
    "ABOUT",
    "IMPLEMENTED_SPEC_VERSION",
    "SUPPORTED_VERSIONS",
    "IPAMConfig",
    "Route",
    "go_quote",
    "load_ipam_config",
    "main",
    "run",
]

# The JSON object type of parsed configs, under the name it had before the split.
_JsonObject = JsonObject


# ---------------------------------------------------------------------------------------------
# The commands (host-local main.go) and skel's dispatcher


def _cmd_add(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    dns = parse_resolv_conf(config.resolv_conf) if config.resolv_conf else {}
    with DiskStore(config.data_dir, config.name) as store:
        allocations = allocate(
            store,
            config.range_sets,
            environ["CNI_CONTAINERID"],
            environ["CNI_IFNAME"],
            config.requested,
        )
    return encode_json(result_json(config.cni_version, allocations, config.routes, dns))


def _cmd_del(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    errors: list[str] = []
    with DiskStore(config.data_dir, config.name) as store:
        for _ in config.range_sets:
            try:
                release(store, environ["CNI_CONTAINERID"], environ["CNI_IFNAME"])
            except IPAMError as exc:
                errors.append(exc.msg)
    if errors:
        raise internal_error(";".join(errors))
    return ""


def _cmd_check(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    with DiskStore(config.data_dir, config.name) as store:
        check(store, environ["CNI_CONTAINERID"], environ["CNI_IFNAME"])
    return ""


_COMMANDS: dict[str, Callable[[object, Mapping[str, str]], str]] = {
    "ADD": _cmd_add,
    "DEL": _cmd_del,
    "CHECK": _cmd_check,
}


def _dispatch(environ: Mapping[str, str], data: bytes, stderr: TextIO | None) -> str:
    missing = missing_env(environ)
    command = environ.get("CNI_COMMAND", "")
    if missing:
        if not command:
            if stderr is not None:
                stderr.write(
                    f"{ABOUT}\nCNI protocol versions supported: {', '.join(SUPPORTED_VERSIONS)}\n"
                )
            return ""
        raise IPAMError(
            ERR_INVALID_ENVIRONMENT_VARIABLES,
            f"required env variables [{','.join(missing)}] missing",
        )
    if command == "VERSION":
        body: Json = {
            "cniVersion": IMPLEMENTED_SPEC_VERSION,
            "supportedVersions": list(SUPPORTED_VERSIONS),
        }
        return encode_json(body, indent=None) + "\n"
    parsed = validate_config(data)
    validate_container_id(environ.get("CNI_CONTAINERID", ""))
    validate_interface_name(environ.get("CNI_IFNAME", ""))
    handler = _COMMANDS.get(command)
    if handler is None:
        raise IPAMError(ERR_INVALID_ENVIRONMENT_VARIABLES, f"unknown CNI_COMMAND: {command}")
    if command == "CHECK":
        validate_check_versions(parsed)
    reconcile(config_version(parsed))
    return handler(parsed, environ)


def main(
    environ: Mapping[str, str], stdin: str, *, stderr: TextIO | None = None
) -> tuple[int, str]:
    """Run one CNI command as the reference host-local would.

    Args:
        environ: the ``CNI_*`` variables.
        stdin: the network configuration (undecodable bytes as ``surrogateescape``).
        stderr: where the about text (no ``CNI_COMMAND``) and panics go.

    Returns:
        The exit code (0 success, 1 CNI error, 2 where Go panics) and stdout text.
    """
    try:
        return 0, _dispatch(environ, stdin.encode("utf-8", "surrogateescape"), stderr)
    except IPAMError as exc:
        return 1, error_json(exc)
    except GoPanicError as panic:
        if stderr is not None:
            stderr.write(f"panic: {panic}\n")
        return 2, ""


def run() -> None:
    """The executable: ``os.environ`` and stdin in, stdout and the exit code out."""
    environ = dict(os.environ)
    needs_stdin = not missing_env(environ) and environ.get("CNI_COMMAND") != "VERSION"
    stdin = sys.stdin.buffer.read().decode("utf-8", "surrogateescape") if needs_stdin else ""
    code, out = main(environ, stdin, stderr=sys.stderr)
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    sys.exit(code)
