"""The one error hierarchy of netsim.

Outcomes (a drop, a missing route, a service without endpoints) are data, not
exceptions. Exceptions are for bad input, unsupported features and internal
guards::

    NetsimError                   every error netsim raises on purpose
     ├── InputError               a file the user gave is wrong (names file, object, field)
     │    ├── TopologyError       the topology file
     │    ├── ManifestError       a Kubernetes manifest
     │    └── RulesetError        an iptables-save dump
     ├── AllocationError          the cluster does not fit (CIDRs, IPs, ports exhausted
     │                            or taken twice); names the object and the field
     ├── IPAMError                a host-local IPAM failure, carrying the CNI error code
     ├── UnsupportedError         a feature netsim does not model, named
     └── LabError                 ``netsim lab``: a kernel command failed (names the command
                                  and the kernel's message), or the lab's state is unusable

The command line turns any ``NetsimError`` into one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "AllocationError",
    "IPAMError",
    "InputError",
    "LabError",
    "ManifestError",
    "NetsimError",
    "RulesetError",
    "TopologyError",
    "UnsupportedError",
]


class NetsimError(Exception):
    """Base of every error netsim raises on purpose."""


def _locate(source: str | None, obj: str | None, field: str | None, message: str) -> str:
    """Join the parts of an error message that are known.

    >>> _locate("t.yaml", "Service default/web", "spec.ports[0].port", "must be 1-65535")
    't.yaml: Service default/web: spec.ports[0].port: must be 1-65535'
    >>> _locate(None, None, None, "boom")
    'boom'
    """
    return ": ".join(part for part in (source, obj, field, message) if part)


class InputError(NetsimError):
    """A file handed to netsim is invalid.

    Args:
        message: what is wrong and, where possible, how to fix it.
        source: the file (as the user named it).
        obj: the object inside it, e.g. ``Service default/web`` or ``node node-1``.
        field: the dotted path of the field, e.g. ``spec.ports[0].targetPort``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        obj: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.obj = obj
        self.field = field
        super().__init__(_locate(source, obj, field, message))


class TopologyError(InputError):
    """The topology file is invalid."""


class ManifestError(InputError):
    """A Kubernetes manifest is invalid or inconsistent with the cluster."""


class RulesetError(InputError):
    """An iptables-save dump cannot be parsed or uses something netsim does not model."""


class AllocationError(InputError):
    """The cluster does not fit: a CIDR, IP range or port range is exhausted or taken twice."""


class IPAMError(NetsimError):
    """A host-local IPAM failure, with the CNI error code the reference plugin uses.

    Args:
        code: CNI error code (4 invalid env, 7 invalid config, 999 internal, ...).
        msg: the message, worded exactly as the reference plugin words it.
        details: optional extra detail (``details`` in the CNI error JSON).
    """

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        self.code = code
        self.msg = msg
        self.details = details
        super().__init__(msg)


class UnsupportedError(NetsimError):
    """A feature netsim does not model; the message names it."""


class LabError(NetsimError):
    """``netsim lab``: a kernel command failed, or the lab's state file is unusable.

    The message names the command as it was run and what the kernel said.
    """
