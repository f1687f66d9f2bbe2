"""The parser and renderer against the real iptables (1.8.9, nf_tables) and kernel.

Each test loads a ruleset with ``iptables-restore`` inside a private network
namespace, reads it back with ``iptables-save`` and checks that

* our render of the restore-input spelling equals what iptables-save printed,
* ``render(parse(saved)) == saved``, header comments included,
* the committed samples in ``data/`` are still what the kernel prints, and
* what the kernel refuses, the parser refuses too.

To regenerate the ``*-save.txt`` samples from this machine's kernel:
``NETSIM_REGEN_IPTABLES=1 python3 -m pytest tests/netfilter/test_iptables_restore.py``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from netsim.errors import RulesetError
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.render import SAVE_TABLE_ORDER, in_save_order, render_iptables_save
from netsim.netfilter.ruleset import (
    Counters,
    CtTarget,
    Match,
    NfacctMatch,
    Rule,
    Ruleset,
    SetMatch,
    Table,
)
from tests.netfilter.conftest import (
    DATA,
    KUBE_NFACCT,
    Netns,
    iptables_backend,
    read_sample,
    saved_date,
    without_comments,
)
from tests.netfilter.strategies import rulesets

pytestmark = pytest.mark.kernel

REGENERATE = os.environ.get("NETSIM_REGEN_IPTABLES") == "1"


def without_set_rules(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if "-m set" not in line)


def load_and_save(netns: Netns, restore_input: str) -> str:
    result = netns.restore(restore_input)
    assert result.returncode == 0, result.stderr
    return netns.save()


def check_against_kernel(restore_input: str, saved: str, source: str) -> None:
    """The three agreements every sample must show."""
    plain = without_comments(saved)
    ours = render_iptables_save(in_save_order(parse_iptables_save(restore_input, source)))
    assert ours == plain
    again = parse_iptables_save(saved, "iptables-save")
    assert render_iptables_save(again, comments=True, date=saved_date(saved)) == saved
    assert render_iptables_save(again) == plain


def test_backend_is_nf_tables(netns: Netns) -> None:
    version = netns.run("iptables", "-V").stdout
    print(f"iptables: {version.strip()}")
    assert "nf_tables" in version
    assert iptables_backend() == "nf_tables"


def test_kube_node_sample_is_what_the_kernel_prints(netns: Netns) -> None:
    netns.add_nfacct(*KUBE_NFACCT)
    restore_input = read_sample("kube-node-restore.txt")
    saved = load_and_save(netns, restore_input)
    if REGENERATE:
        (DATA / "kube-node-save.txt").write_text(saved)
    assert without_comments(saved) == without_comments(read_sample("kube-node-save.txt"))
    check_against_kernel(restore_input, saved, "kube-node-restore.txt")


def test_every_option_sample_is_what_the_kernel_prints(netns: Netns) -> None:
    netns.add_nfacct(*KUBE_NFACCT)
    restore_input = read_sample("every-option-restore.txt")
    expected = read_sample("every-option-save.txt")
    has_ipset = shutil.which("ipset") is not None
    if has_ipset:
        netns.add_ipset("myset", "hash:ip")
        netns.add_ipset("pairs", "hash:ip,port")
    else:  # -m set needs the sets in the kernel; the rest is checked anyway
        print("no ipset binary (Debian package ipset): -m set rules left out")
        restore_input, expected = without_set_rules(restore_input), without_set_rules(expected)
    saved = load_and_save(netns, restore_input)
    if REGENERATE and has_ipset:
        (DATA / "every-option-save.txt").write_text(saved)
    assert without_comments(saved) == without_comments(expected)
    check_against_kernel(restore_input, saved, "every-option-restore.txt")


@pytest.mark.parametrize(
    "name", ["kube-node-save.txt", "every-option-save.txt"], ids=["kube-node", "every-option"]
)
def test_rendered_output_passes_iptables_restore_test(netns: Netns, name: str) -> None:
    rendered = render_iptables_save(parse_iptables_save(read_sample(name), name))
    if shutil.which("ipset") is None:
        rendered = without_set_rules(rendered)
    else:
        netns.add_ipset("myset", "hash:ip")
        netns.add_ipset("pairs", "hash:ip,port")
    netns.add_nfacct(*KUBE_NFACCT)
    result = netns.restore(rendered, "--test")
    assert result.returncode == 0, result.stderr


def test_counters_survive_restore_and_save_with_c(netns: Netns) -> None:
    restore_input = (
        "*filter\n:INPUT DROP [5:600]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [7:700]\n"
        ":KUBE-FORWARD - [0:0]\n"
        "[3:180] -A INPUT -i lo -j ACCEPT\n"
        "-A INPUT -c 9 540 -p tcp --dport 22 -j ACCEPT\n"
        "[0:0] -A FORWARD -j KUBE-FORWARD\n"
        "COMMIT\n"
    )
    assert netns.restore(restore_input, "-c").returncode == 0
    saved = netns.save("-c")
    assert "[9:540] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n" in saved
    check_against_kernel(restore_input, saved, "counters")


# What the kernel (or iptables-restore) refuses, the parser must refuse too.
REFUSED = {
    "jump-to-undeclared-chain": "*filter\n:A - [0:0]\n-A A -j B\n:B - [0:0]\nCOMMIT\n",
    "rule-in-undeclared-chain": "*filter\n-A Q -j ACCEPT\nCOMMIT\n",
    "missing-commit": "*filter\n:A - [0:0]\n",
    "dnat-in-filter": "*filter\n:A - [0:0]\n-A A -j DNAT --to-destination 10.0.0.1\nCOMMIT\n",
    "reject-in-nat": "*nat\n:A - [0:0]\n-A A -j REJECT\nCOMMIT\n",
    "masquerade-in-prerouting": (
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MASQUERADE\nCOMMIT\n"
    ),
    "dnat-reached-from-postrouting": (
        "*nat\n:POSTROUTING ACCEPT [0:0]\n:A - [0:0]\n"
        "-A A -j DNAT --to-destination 10.0.0.1\n-A POSTROUTING -j A\nCOMMIT\n"
    ),
    "owner-in-input": ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0\nCOMMIT\n"),
    "tcp-without-p-tcp": "*filter\n:A - [0:0]\n-A A -m tcp --dport 80\nCOMMIT\n",
    "tcp-with-p-udp": "*filter\n:A - [0:0]\n-A A -p udp -m tcp --dport 80\nCOMMIT\n",
    "nat-ports-without-protocol": (
        "*nat\n:A - [0:0]\n-A A -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n"
    ),
    "delete-referenced-chain": ("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-X B\nCOMMIT\n"),
    "delete-non-empty-chain": ("*filter\n:A - [0:0]\n:B - [0:0]\n-A B -j ACCEPT\n-X B\nCOMMIT\n"),
    "jump-loop": (
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n"
        "-A INPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n"
    ),
    "goto-accept": "*filter\n:A - [0:0]\n-A A -g ACCEPT\nCOMMIT\n",
    "jump-to-builtin": "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A A -j INPUT\nCOMMIT\n",
    "ctdir-negated": "*filter\n:A - [0:0]\n-A A -m conntrack ! --ctdir REPLY\nCOMMIT\n",
    "probability-above-1": (
        "*filter\n:A - [0:0]\n-A A -m statistic --mode random --probability 1.5\nCOMMIT\n"
    ),
    "nth-without-packet": ("*filter\n:A - [0:0]\n-A A -m statistic --mode nth --every 3\nCOMMIT\n"),
    "reap-without-seconds": "*filter\n:A - [0:0]\n-A A -m recent --rcheck --reap\nCOMMIT\n",
    "seconds-with-set": "*filter\n:A - [0:0]\n-A A -m recent --set --seconds 5\nCOMMIT\n",
    "multiport-16-ports": (
        "*filter\n:A - [0:0]\n-A A -p tcp -m multiport "
        "--dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\nCOMMIT\n"
    ),
    "limit-too-fast": "*filter\n:A - [0:0]\n-A A -m limit --limit 10001/sec\nCOMMIT\n",
    "chain-name-too-long": "*filter\n:" + "A" * 29 + " - [0:0]\nCOMMIT\n",
    "negated-any-address": "*filter\n:A - [0:0]\n-A A ! -s 0/0\nCOMMIT\n",
    "drop-in-nat": "*nat\n:A - [0:0]\n-A A -j DROP\nCOMMIT\n",
    "out-interface-in-input": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -o eth0\nCOMMIT\n",
    "physdev-out-in-output": (
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m physdev --physdev-out veth0\nCOMMIT\n"
    ),
    "tcp-option-0": "*filter\n:A - [0:0]\n-A A -p tcp -m tcp --tcp-option 0\nCOMMIT\n",
    "mark-option-goes-to-connmark": (
        "*filter\n:A - [0:0]\n-A A -m mark --mark 1 -m connmark --mark 2 -m mark --mark 3\nCOMMIT\n"
    ),
    "old-negation-form": "*filter\n:A - [0:0]\n-A A -p tcp -m tcp --dport ! 80\nCOMMIT\n",
}
# The old form is refused by iptables 1.8.9 but accepted by netsim (older dumps use it).
ACCEPTED_BY_NETSIM = {"old-negation-form"}
# What the kernel accepts but netsim refuses as not modelled, or keeps as the kernel does.
NOT_MODELLED = {
    "non-contiguous-mask": (
        "*filter\n:A - [0:0]\n-A A -d 10.0.0.0/255.0.255.0\nCOMMIT\n",
        "not modelled",
    ),
    "snat-port-offset": (
        "*nat\n:A - [0:0]\n-A A -p tcp -j SNAT --to-source 1.2.3.4:80-90/7\nCOMMIT\n",
        "not modelled",
    ),
    "log-prefix-cut-short": (
        "*filter\n:A - [0:0]\n-A A -j LOG --log-prefix 123456789012345678901234567890\nCOMMIT\n",
        "cut it short",
    ),
}
UNREACHED_LOOP = "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n"


@pytest.mark.parametrize("case", sorted(REFUSED), ids=sorted(REFUSED))
def test_what_the_kernel_refuses_the_parser_refuses(netns: Netns, case: str) -> None:
    result = netns.restore(REFUSED[case])
    assert result.returncode != 0, f"the kernel accepted {case}"
    if case in ACCEPTED_BY_NETSIM:
        parse_iptables_save(REFUSED[case], case)
    else:
        with pytest.raises(RulesetError, match=r"line \d+"):
            parse_iptables_save(REFUSED[case], case)


def test_what_the_kernel_accepts_but_netsim_does_not_model(netns: Netns) -> None:
    for case, (text, message) in NOT_MODELLED.items():
        assert netns.restore(text).returncode == 0, case
        with pytest.raises(RulesetError, match=message):
            parse_iptables_save(text, case)


def test_a_loop_no_builtin_chain_reaches_is_accepted_as_by_the_kernel(netns: Netns) -> None:
    saved = load_and_save(netns, UNREACHED_LOOP)
    check_against_kernel(UNREACHED_LOOP, saved, "loop")


def loadable(ruleset: Ruleset) -> Ruleset:
    """A generated ruleset made loadable here and listed as iptables-save -c lists it.

    Set and nfacct matches go (their objects do not exist), CT loses its helper
    (random names are no kernel helper), every rule gets counters, and every
    table is present so that one restore replaces all of the last example's.
    """

    def fix(rule: Rule) -> Rule:
        matches: tuple[Match, ...] = tuple(
            m for m in rule.matches if not isinstance(m, SetMatch | NfacctMatch)
        )
        target = (
            replace(rule.target, helper=None) if isinstance(rule.target, CtTarget) else rule.target
        )
        return replace(
            rule, matches=matches, target=target, counters=rule.counters or Counters(0, 0)
        )

    present = {t.name: t for t in ruleset.tables}
    tables = []
    for name in SAVE_TABLE_ORDER:
        found = present.get(name, Table(name))
        chains = [replace(c, rules=tuple(fix(r) for r in c.rules)) for c in found.chains]
        tables.append(replace(found, chains=tuple(chains)))
    return in_save_order(Ruleset(tuple(tables)))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rulesets())
def test_generated_rulesets_print_as_the_kernel_prints_them(
    module_netns: Netns, ruleset: Ruleset
) -> None:
    """Random values in every print form: our render is what iptables-save -c prints."""
    expected = render_iptables_save(loadable(ruleset))
    result = module_netns.restore(expected, "-c")
    assert result.returncode == 0, result.stderr
    assert without_comments(module_netns.save("-c")) == expected
