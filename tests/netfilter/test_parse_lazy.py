"""``parse_by_chain``: a payload read chain by chain equals the payload parsed whole.

Every chain read on its own, in the order and with the values the whole parse
gives; what is not plain is parsed whole at once; errors come from the whole
parse, with the payload's own line numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings

from netsim.control.kubeproxy import node_rules
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.control.realize import realize
from netsim.errors import RulesetError
from netsim.model.spec import load_cluster
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.parse_lazy import ChainsByName, parse_by_chain
from netsim.netfilter.render import in_save_order, render_iptables_save
from netsim.netfilter.ruleset import Chain, Counters, Ruleset
from netsim.netfilter.targets import JumpTarget
from tests.netfilter.strategies import rulesets

DATA = [
    *sorted(Path("tests/netfilter/data").glob("*.txt")),
    *sorted(Path("tests/control/data").glob("*.rules")),
]


def _kube_proxy_payloads() -> list[tuple[str, str]]:
    payloads = []
    for mode in ("l2", "l3", "vxlan", "services"):
        state = realize(load_cluster(f"topologies/{mode}.yaml"))
        for node in state.nodes:
            payloads.append((f"{mode}/{node}", node_restore_text(node_rules(state, node))))
    return payloads


def _failure(read: Callable[[], object]) -> str | None:
    try:
        read()
    except RulesetError as error:
        return str(error)
    return None


def _read_every_chain(text: str, source: str) -> Ruleset:
    payload = parse_by_chain(text, source)
    for chains in payload.tables.values():
        for name in chains:
            chains[name]
    return payload.whole()


def _same_as_whole(text: str, source: str) -> None:
    """Every chain read one by one equals the whole parse; or both fail with one error."""
    whole_error = _failure(lambda: parse_iptables_save(text, source))
    if whole_error is not None:
        assert _failure(lambda: _read_every_chain(text, source)) == whole_error
        return
    want = in_save_order(parse_iptables_save(text, source))
    payload = parse_by_chain(text, source)
    assert list(payload.tables) == [table.name for table in want.tables]
    for table in want.tables:
        chains = payload.tables[table.name]
        assert list(chains) == [chain.name for chain in table.chains]
        assert len(chains) == len(table.chains)
        for chain in table.chains:
            assert chain.name in chains
            assert chains[chain.name] == chain
    assert payload.whole() == want


@pytest.mark.parametrize(("label", "text"), _kube_proxy_payloads(), ids=lambda v: v[:40])
def test_kube_proxy_payload_read_chain_by_chain_equals_the_whole_parse(
    label: str, text: str
) -> None:
    payload = parse_by_chain(text, label)
    assert all(isinstance(chains, ChainsByName) for chains in payload.tables.values())
    _same_as_whole(text, label)


@pytest.mark.parametrize("path", DATA, ids=lambda p: p.name)
def test_dumps_read_chain_by_chain_equal_the_whole_parse(path: Path) -> None:
    _same_as_whole(path.read_text(), str(path))


@settings(max_examples=60, deadline=None)
@given(rulesets())
def test_any_rendered_ruleset_reads_the_same_chain_by_chain(ruleset: Ruleset) -> None:
    _same_as_whole(render_iptables_save(ruleset), "<drawn>")


PLAIN = """*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-A - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -j KUBE-SEP-A
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080
COMMIT
"""


def test_a_chain_is_parsed_when_read_and_only_it() -> None:
    nat = parse_by_chain(PLAIN).tables["nat"]
    assert isinstance(nat, ChainsByName)
    assert nat.parsed_count() == 0
    (rule,) = nat["KUBE-SVC-A"].rules
    assert rule.target == JumpTarget("KUBE-SEP-A")
    assert nat.parsed_count() == 1
    assert nat["KUBE-SVC-A"] is nat["KUBE-SVC-A"]
    assert nat.parsed_count() == 1


def test_an_undeclared_builtin_chain_reads_as_the_kernel_makes_it() -> None:
    nat = parse_by_chain(PLAIN).tables["nat"]
    assert nat["POSTROUTING"] == Chain("POSTROUTING", "ACCEPT", Counters(0, 0))
    assert "POSTROUTING" in nat and "KUBE-NOPE" not in nat
    with pytest.raises(KeyError, match="KUBE-NOPE"):
        nat["KUBE-NOPE"]


@pytest.mark.parametrize(
    "change",
    [
        ("-A KUBE-SVC-A -j KUBE-SEP-A", "[0:0] -A KUBE-SVC-A -j KUBE-SEP-A"),  # counters
        (":KUBE-SEP-A - [0:0]\n", ":KUBE-SEP-A - [0:0]\n:KUBE-STALE - [0:0]\n-X KUBE-STALE\n"),
        (":KUBE-SEP-A - [0:0]\n", ":KUBE-SEP-A - [0:0]\n-N KUBE-NEW\n"),
        (":KUBE-SEP-A - [0:0]\n", ":KUBE-SEP-A - [0:0]\n:KUBE-SVC-A - [0:0]\n"),  # declared again
    ],
    ids=["counters", "-X", "-N", "declared-again"],
)
def test_a_payload_that_is_not_plain_is_parsed_whole_at_once(change: tuple[str, str]) -> None:
    text = PLAIN.replace(*change)
    assert text != PLAIN
    payload = parse_by_chain(text)
    assert not any(isinstance(chains, ChainsByName) for chains in payload.tables.values())
    _same_as_whole(text, "<changed>")


def test_a_payload_that_is_not_plain_and_bad_fails_at_once() -> None:
    text = PLAIN.replace("COMMIT\n", "-X KUBE-SERVICES\nCOMMIT\n")
    with pytest.raises(RulesetError, match="line 10: -X: chain KUBE-SERVICES still has 1 rules"):
        parse_by_chain(text, "bad.rules")


def test_a_bad_rule_fails_when_its_chain_is_read_with_the_payloads_line() -> None:
    text = PLAIN.replace("-j KUBE-SEP-A", "-j KUBE-SEP-A --bogus")
    payload = parse_by_chain(text, "bad.rules")
    nat = payload.tables["nat"]
    assert nat["KUBE-SERVICES"].rules  # other chains still read
    with pytest.raises(RulesetError) as caught:
        nat["KUBE-SVC-A"]
    message = str(caught.value)
    assert "bad.rules" in message and "line 8" in message and "--bogus" in message


def test_what_only_the_whole_table_shows_is_checked_by_whole() -> None:
    # DNAT reached from POSTROUTING: each chain alone loads, the table does not.
    text = PLAIN.replace(":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]").replace(
        "-A PREROUTING", "-A POSTROUTING"
    )
    payload = parse_by_chain(text, "bad.rules")
    assert payload.tables["nat"]["KUBE-SEP-A"].rules
    with pytest.raises(RulesetError, match="DNAT only works in"):
        payload.whole()
