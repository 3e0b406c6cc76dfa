"""The service's log: one line per record, tagged with the request id, at LOG_LEVEL,
as text or JSON lines, however the service is started."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import STRONG_PASSWORD, signup
from tests.procfile import ModuleServer, ProcfileServer
from tests.servers import ServerProcess

pytestmark = pytest.mark.sqlite_only

EMAIL = "ada@example.com"
REQUEST_ID = "forgot-request-42"
RESET_LINK = "/reset-password?token="

Launcher = type[ServerProcess]
LAUNCHERS = {"python-m-service": ModuleServer, "procfile": ProcfileServer}


@pytest.fixture
def run_forgot(database_url: str, tmp_path: Path) -> Iterator[Callable[..., list[str]]]:
    """Start the service as `launcher` does, ask for a reset of an account's password,
    stop it (which delivers the outbox) and return its output's lines."""
    started: list[ServerProcess] = []

    def run(launcher: Launcher, **env: str) -> list[str]:
        server = launcher(database_url=database_url, workdir=tmp_path, env=env)
        started.append(server)
        server.start()
        with server.client() as client:
            assert signup(client, EMAIL, STRONG_PASSWORD).status_code == 201
            response = client.post(
                "/password/forgot", json={"email": EMAIL}, headers={"X-Request-ID": REQUEST_ID}
            )
            assert response.status_code == 202
        server.stop()
        return server.log().splitlines()

    yield run
    for server in started:
        server.stop()


def lines_with(lines: list[str], text: str) -> list[str]:
    return [line for line in lines if text in line]


@pytest.mark.parametrize("launcher", LAUNCHERS.values(), ids=LAUNCHERS.keys())
def test_the_console_mail_shows_its_link_on_a_line_with_the_request_id(
    run_forgot: Callable[..., list[str]], launcher: Launcher
) -> None:
    lines = run_forgot(launcher)

    link_lines = lines_with(lines, RESET_LINK)
    assert len(link_lines) == 1, lines
    assert REQUEST_ID in link_lines[0]


@pytest.mark.parametrize("launcher", LAUNCHERS.values(), ids=LAUNCHERS.keys())
def test_uvicorn_lines_share_the_service_format(
    run_forgot: Callable[..., list[str]], launcher: Launcher
) -> None:
    lines = run_forgot(launcher, LOG_FORMAT="json")

    startup = lines_with(lines, "Application startup complete")
    assert startup, lines
    assert json.loads(startup[0])["logger"].startswith("uvicorn")


def test_log_format_json_writes_one_json_object_per_line(
    run_forgot: Callable[..., list[str]],
) -> None:
    lines = run_forgot(ProcfileServer, LOG_FORMAT="json")

    records = [json.loads(line) for line in lines if line.strip()]
    (mail,) = [record for record in records if RESET_LINK in record["message"]]
    assert mail["request_id"] == REQUEST_ID
    assert mail["level"] == "INFO"
    assert mail["logger"] == "service.mail"
    assert {"time", "exc"} <= mail.keys()


def test_log_level_warning_hides_info_records(run_forgot: Callable[..., list[str]]) -> None:
    lines = run_forgot(ProcfileServer, LOG_LEVEL="WARNING", LOG_FORMAT="json")

    assert not lines_with(lines, RESET_LINK)
    assert not lines_with(lines, '"INFO"')


# An unhandled error's traceback, in one process


def boom() -> None:
    raise RuntimeError("boom for the log")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_traceback_is_folded_into_its_record_s_one_line(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    app = make_client(log_format=log_format).app
    app.add_api_route("/boom", boom)
    capsys.readouterr()

    response = TestClient(app, raise_server_exceptions=False).get(
        "/boom", headers={"X-Request-ID": "boom-1"}
    )

    assert response.status_code == 500
    (line,) = lines_with(capsys.readouterr().err.splitlines(), "unhandled error")
    assert "boom-1" in line
    assert "RuntimeError: boom for the log" in line
    assert "Traceback" in line
