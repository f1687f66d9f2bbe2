"""``netsim trace`` through typer's CliRunner (registered on a local app)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from netsim.cli import trace as trace_cli
from tests.conftest import TOPOLOGIES

L3 = str(TOPOLOGIES / "l3.yaml")


@pytest.fixture
def app() -> typer.Typer:
    local = typer.Typer(name="netsim", no_args_is_help=True, add_completion=False)
    trace_cli.register(local)

    @local.command("noop")
    def noop() -> None:
        """Keep typer from collapsing the group into one command."""

    return local


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["trace", L3, *args])
    return result.exit_code, result.output


def test_text_output(app: typer.Typer) -> None:
    code, out = run(app, "--from", "client/curl", "--to", "10.244.1.3:8080")
    assert code == 0, out
    assert out.startswith("flow client/curl -> 10.244.1.3:8080: tcp 10.244.0.2:40000")
    assert "DELIVERED" in out


def test_json_output(app: typer.Typer) -> None:
    code, out = run(app, "--from", "client/curl", "--to", "10.244.1.3:8080", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["flow"]["dport"] == 8080
    assert all("disposition" in o for o in data["outcomes"])


def test_expect_exits_1_when_an_outcome_differs(app: typer.Typer) -> None:
    args = ["--from", "client/curl", "--to", "10.244.1.3:9", "--no-policy"]
    assert run(app, *args, "--expect", "PORT_NOT_LISTENING")[0] == 0
    code, out = run(app, *args, "--expect", "DELIVERED")
    assert code == 1
    assert "expected DELIVERED, got PORT_NOT_LISTENING" in out


def test_protocol_and_sport(app: typer.Typer) -> None:
    code, out = run(
        app,
        "--from",
        "client/curl",
        "--to",
        "10.244.1.3:8080",
        "--protocol",
        "udp",
        "--sport",
        "5353",
        "--format",
        "json",
        "--no-policy",
    )
    assert code == 0, out
    data = json.loads(out)
    assert (data["flow"]["protocol"], data["flow"]["sport"]) == ("udp", 5353)
    assert data["outcomes"][0]["disposition"] == "PORT_NOT_LISTENING"


def test_unknown_pod_is_an_input_error(app: typer.Typer) -> None:
    from netsim.errors import InputError

    result = CliRunner().invoke(app, ["trace", L3, "--from", "client/curll", "--to", "1.2.3.4:5"])
    assert isinstance(result.exception, InputError)
    assert "--from: no pod 'client/curll' (did you mean: client/curl)" in str(result.exception)


def test_connections_keep_session_affinity() -> None:
    """--connections N: successive connections from one client stick to one ClientIP backend."""
    import json as _json

    from typer import Typer
    from typer.testing import CliRunner

    from netsim.cli import trace as trace_cli
    from tests.conftest import TOPOLOGIES

    local = Typer()
    trace_cli.register(local)
    local.command("noop")(lambda: None)
    args = [
        "trace",
        str(TOPOLOGIES / "services.yaml"),
        "--from",
        "feat/dns-0",
        "--to",
        "svc:feat/sticky:80",
        "--connections",
        "4",
        "--format",
        "json",
    ]
    result = CliRunner().invoke(local, args)
    assert result.exit_code == 0, result.output
    runs = _json.loads(result.stdout)["connections"]
    assert len(runs) == 4
    pods = {run["outcomes"][0]["delivered_to"]["pod"] for run in runs}
    assert len(pods) == 1
    sports = [run["flow"]["sport"] for run in runs]
    assert sports == [sports[0] + i for i in range(4)]
