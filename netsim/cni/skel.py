"""libcni's ``skel`` and ``version`` packages: the CNI environment, checks and versions.

Models what the reference ``host-local`` (containernetworking/plugins 1.1.1,
built with libcni's ``skel`` and ``version`` packages) checks before a
command reaches the plugin, with the reference's codes and messages:

* the ``CNI_*`` environment: the variables each command requires
  (:func:`missing_env`; code 4 ``required env variables [A,B] missing``);
* the network config's ``name`` (:func:`validate_config`; code 6 for a
  config that does not decode, code 7 for a bad name), the container ID and
  the interface name (:func:`validate_container_id`,
  :func:`validate_interface_name`);
* versions: ``version.ParseVersion`` (:func:`parse_version`), the config's
  ``cniVersion`` (:func:`config_version`), the supported-versions check
  (:func:`reconcile`; code 1 ``incompatible CNI versions``) and CHECK's
  0.4.0+ precondition (:func:`validate_check_versions`);
* plain Go errors becoming code 999 (:func:`internal_error`).

Not modelled: the dispatch itself (``netsim.cni.plugin``), ``CNI_NETNS``
checks beyond presence, the ``GC`` and ``STATUS`` commands (unknown to 1.1.1)
and plugin-info text other than :data:`ABOUT`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from netsim.cni.gojson import JsonSyntaxError, parse_json
from netsim.cni.gostrconv import go_atoi, go_quote, go_quote_list
from netsim.cni.unmarshal import NAME_ONLY, VERSION_ONLY, UnmarshalError, unmarshal
from netsim.control.hostlocal import ERR_INTERNAL, GO_SPACE
from netsim.errors import IPAMError

__all__ = [
    "ABOUT",
    "ERR_DECODING_FAILURE",
    "ERR_INCOMPATIBLE_CNI_VERSION",
    "ERR_INVALID_ENVIRONMENT_VARIABLES",
    "ERR_INVALID_NETWORK_CONFIG",
    "ERR_UNKNOWN_CONTAINER",
    "IMPLEMENTED_SPEC_VERSION",
    "MAX_INTERFACE_NAME_LENGTH",
    "SUPPORTED_VERSIONS",
    "at_least",
    "config_version",
    "internal_error",
    "missing_env",
    "parse_version",
    "reconcile",
    "validate_check_versions",
    "validate_config",
    "validate_container_id",
    "validate_interface_name",
]

# libcni version.All as vendored by plugins 1.1.1 (VERSION output, reconcile list).
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")
IMPLEMENTED_SPEC_VERSION = "1.0.0"  # types/100 ImplementedSpecVersion
ABOUT = "CNI host-local IPAM plugin (netsim)"  # skel prints it on stderr without CNI_COMMAND

# libcni types error codes (SPEC.md "Well-known Error Codes").
ERR_INCOMPATIBLE_CNI_VERSION = 1
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENVIRONMENT_VARIABLES = 4
ERR_DECODING_FAILURE = 6
ERR_INVALID_NETWORK_CONFIG = 7

MAX_INTERFACE_NAME_LENGTH = 15  # libcni utils: IFNAMSIZ - 1
_VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")  # libcni utils cniReg


# skel's environment table: variable, the commands that require it (CNI_COMMAND: all).
_ENV_VARS: tuple[tuple[str, frozenset[str]], ...] = (
    ("CNI_COMMAND", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_CONTAINERID", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_NETNS", frozenset({"ADD", "CHECK"})),
    ("CNI_IFNAME", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_ARGS", frozenset()),
    ("CNI_PATH", frozenset({"ADD", "CHECK", "DEL"})),
)


# ---------------------------------------------------------------------------------------------
# The environment and the config


def internal_error(message: str) -> IPAMError:
    """A plain Go error as skel reports it: code 999 (``types.ErrInternal``), its text as msg."""
    return IPAMError(ERR_INTERNAL, message)


def missing_env(environ: Mapping[str, str]) -> list[str]:
    """The ``CNI_*`` variables the command needs but finds empty, in skel's order.

    >>> missing_env({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1"})
    ['CNI_IFNAME', 'CNI_PATH']
    """
    command = environ.get("CNI_COMMAND", "")
    return [
        name
        for name, needed_by in _ENV_VARS
        if not environ.get(name, "") and (name == "CNI_COMMAND" or command in needed_by)
    ]


def validate_config(data: bytes) -> object:
    """skel's ``validateConfig``: parse the config and check its ``name``."""
    try:
        parsed = parse_json(data)
        decoded = unmarshal(parsed, NAME_ONLY)
    except (JsonSyntaxError, UnmarshalError) as exc:
        raise IPAMError(ERR_DECODING_FAILURE, f"error unmarshall network config: {exc}") from None
    name = decoded.get("name")
    if not isinstance(name, str) or not name:
        raise IPAMError(ERR_INVALID_NETWORK_CONFIG, "missing network name")
    if _VALID_NAME.fullmatch(name) is None:
        raise IPAMError(
            ERR_INVALID_NETWORK_CONFIG, "invalid characters found in network name", name
        )
    return parsed


def validate_container_id(container_id: str) -> None:
    """libcni ``utils.ValidateContainerID``.

    Raises:
        IPAMError: code 3 if empty, code 4 for characters outside ``cniReg``.
    """
    if not container_id:
        raise IPAMError(ERR_UNKNOWN_CONTAINER, "missing containerID")
    if _VALID_NAME.fullmatch(container_id) is None:
        raise IPAMError(
            ERR_INVALID_ENVIRONMENT_VARIABLES, "invalid characters in containerID", container_id
        )


def validate_interface_name(ifname: str) -> None:
    """libcni ``utils.ValidateInterfaceName``.

    Raises:
        IPAMError: code 4: empty, longer than 15 bytes, ``.``/``..``, or
            holding ``/``, ``:`` or Go white space.
    """
    code = ERR_INVALID_ENVIRONMENT_VARIABLES
    if not ifname:
        raise IPAMError(code, "interface name is empty")
    if len(ifname.encode("utf-8", "surrogateescape")) > MAX_INTERFACE_NAME_LENGTH:
        raise IPAMError(
            code,
            "interface name is too long",
            f"interface name should be less than {MAX_INTERFACE_NAME_LENGTH + 1} characters",
        )
    if ifname in (".", ".."):
        raise IPAMError(code, "interface name is . or ..")
    if any(ch in "/:" or ch in GO_SPACE for ch in ifname):
        raise IPAMError(code, "interface name contains / or : or whitespace characters")


def validate_check_versions(data: object) -> None:
    """skel's CHECK preconditions: config 0.4.0+, and a plugin version that reaches it.

    Raises:
        IPAMError: code 1 if CHECK is not allowed, code 6 for an unparsable version.
    """
    version = config_version(data)
    try:
        if not at_least(version, "0.4.0"):
            raise IPAMError(ERR_INCOMPATIBLE_CNI_VERSION, "config version does not allow CHECK")
        if not any(at_least(supported, version) for supported in SUPPORTED_VERSIONS):
            raise IPAMError(ERR_INCOMPATIBLE_CNI_VERSION, "plugin version does not allow CHECK")
    except ValueError as exc:
        raise IPAMError(ERR_DECODING_FAILURE, str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Versions (libcni pkg/version)


def parse_version(version: str) -> tuple[int, int, int]:
    """libcni ``version.ParseVersion`` ("" is 0.1.0).

    >>> parse_version("0.3.1"), parse_version(""), parse_version("1")
    ((0, 3, 1), (0, 1, 0), (1, 0, 0))
    """
    if not version:
        return (0, 1, 0)
    parts = version.split(".")
    if len(parts) >= 4:
        raise ValueError(f"invalid version {go_quote(version)}: too many parts")
    numbers = [0, 0, 0]
    for i, (part, label) in enumerate(zip(parts, ("major", "minor", "micro"), strict=False)):
        try:
            numbers[i] = go_atoi(part)
        except ValueError as exc:
            raise ValueError(
                f"failed to convert {label} version part {go_quote(part)}: {exc}"
            ) from None
    return (numbers[0], numbers[1], numbers[2])


def at_least(version: str, other: str) -> bool:
    """libcni ``version.GreaterThanOrEqualTo`` (raises ValueError on a bad version)."""
    return parse_version(version) >= parse_version(other)


def config_version(data: object) -> str:
    """``ConfigDecoder.Decode``: the ``cniVersion`` of the config, "" read as 0.1.0."""
    try:
        decoded = unmarshal(data, VERSION_ONLY)
    except UnmarshalError as exc:
        raise IPAMError(
            ERR_DECODING_FAILURE, f"decoding version from network config: {exc}"
        ) from None
    version = decoded.get("cniVersion")
    return version if isinstance(version, str) and version else "0.1.0"


def reconcile(version: str) -> None:
    """``version.PluginInfo``'s check that the plugin supports the config's version.

    Raises:
        IPAMError: code 1 ``incompatible CNI versions``, the versions in details.
    """
    if version not in SUPPORTED_VERSIONS:
        raise IPAMError(
            ERR_INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f"config is {go_quote(version)}, plugin supports {go_quote_list(SUPPORTED_VERSIONS)}",
        )
