"""netsim compare on the command line: formats, --output, exit codes, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsim.cli import app, main
from netsim.compare import analysis
from netsim.compare.formulas import FORMULAS, Formula
from netsim.model.topology import PodNetworkMode
from tests.compare.test_designs import TWO_SUBNETS
from tests.conftest import TOPOLOGIES, WriteCluster

VXLAN = str(TOPOLOGIES / "vxlan.yaml")


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    old = sys.argv
    sys.argv = ["netsim", *args]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_text_summary_of_two_modes() -> None:
    result = CliRunner().invoke(app, ["compare", VXLAN, "--modes", "l3,vxlan", "--sizes", "3,5"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"netsim compare: demo-vxlan ({VXLAN}) in l3, vxlan\n")
    assert "synthetic clusters of N = 3, 5 nodes" in result.output


@pytest.mark.parametrize("output_format", ["md", "json", "html"])
def test_formats_to_a_file(tmp_path: Path, output_format: str) -> None:
    out = tmp_path / f"report.{output_format}"
    args = ["compare", VXLAN, "--no-scaling", "-f", output_format, "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if output_format == "json":
        assert json.loads(text)["scaling"] is None
    elif output_format == "md":
        assert text.startswith("# netsim compare: demo-vxlan")
    else:
        assert text.count("<svg") == 2


def test_pods_per_node_of_the_synthetic_clusters() -> None:
    args = [
        "compare",
        VXLAN,
        "--modes",
        "l2",
        "--sizes",
        "3,4",
        "--pods-per-node",
        "5",
        "-f",
        "json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)["scaling"]["points"]
    assert [(p["nodes"], p["pods_per_node"], p["measured"]["pod_domain"]) for p in points] == [
        (3, 5, 3 + 15 + 1),
        (4, 5, 4 + 20 + 1),
    ]


def test_several_files_each_in_its_own_mode() -> None:
    args = [
        "compare",
        str(TOPOLOGIES / "l2.yaml"),
        str(TOPOLOGIES / "l3.yaml"),
        "--no-scaling",
        "-f",
        "json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(d["name"], d["mode"]) for d in data["designs"]] == [("l2", "l2"), ("l3", "l3")]
    assert any(d["kind"] == "trace" for d in data["differences"])


def test_a_failed_check_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = {m: dict(f) for m, f in FORMULAS.items()}
    wrong[PodNetworkMode.VXLAN]["neighbors"] = Formula("N", lambda s: s.nodes)
    monkeypatch.setattr(analysis, "FORMULAS", wrong)
    result = CliRunner().invoke(app, ["compare", VXLAN, "--modes", "vxlan", "--no-scaling"])
    assert result.exit_code == 1
    assert "| vxlan" not in result.output
    assert (
        "vxlan   node-2       neighbours (configured)  3  2  N        3         2" in result.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([VXLAN, "--modes", "l4"], "--modes: unknown mode 'l4'; use some of: l2, l3, vxlan"),
        ([VXLAN, "--sizes", "3,abc"], "--sizes: 'abc' is not a number"),
        ([VXLAN, "--sizes", "1"], "--sizes: 1 nodes is outside 2-5000"),
        ([VXLAN, "--sizes", "3", "--no-scaling"], "--sizes and --no-scaling contradict"),
        ([VXLAN, VXLAN, "--modes", "l2"], "--modes applies to one topology file"),
        (["missing.yaml"], "missing.yaml"),
    ],
    ids=["mode", "sizes-word", "sizes-range", "contradiction", "modes-with-files", "no-file"],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(["compare", *args], capsys)
    assert code == 2
    assert err.startswith("netsim: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_no_design_can_run(write_cluster: WriteCluster, capsys: pytest.CaptureFixture[str]) -> None:
    topology = write_cluster(**TWO_SUBNETS)
    code, err = run_main(["compare", str(topology), "--modes", "l2,l3", "--no-scaling"], capsys)
    assert code == 2
    assert "no design can run on this underlay (l2: l2 puts every pod" in err


def test_refused_modes_are_reported(write_cluster: WriteCluster) -> None:
    topology = write_cluster(**TWO_SUBNETS)
    result = CliRunner().invoke(app, ["compare", str(topology), "--no-scaling"])
    assert result.exit_code == 0, result.output
    assert "Designs this cluster cannot run" in result.output


def test_the_help_text_names_the_default_sizes() -> None:
    from netsim.cli.compare import DEFAULT_SIZES_TEXT
    from netsim.compare import DEFAULT_SIZES

    assert ",".join(map(str, DEFAULT_SIZES)) == DEFAULT_SIZES_TEXT


def test_starting_the_cli_loads_neither_the_comparison_nor_networkx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, netsim.cli; "
        "print(sorted(m for m in ('netsim.compare', 'networkx', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
