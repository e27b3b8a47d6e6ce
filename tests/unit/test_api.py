"""The HTTP API through FastAPI's TestClient: keys, scopes, problem documents, uploads, runs, documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api_helpers import Api, make_api, wait_for_run
from tests.export_checks import check_chat_export, source_chats

PROBLEM = "application/problem+json"


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Api:
    """The app on a fresh SQLite database, with a key of each scope."""
    return make_api(sqlite_url, tmp_path)


def upload(api: Api, path: Path, **data: str):
    """POST a file to /api/v1/exports with the write key."""
    with path.open("rb") as fh:
        return api.client.post(
            "/api/v1/exports",
            headers=api.write,
            files={"file": ("result.json", fh, "application/json")},
            data=data,
        )


def test_health_needs_no_key_and_openapi_is_served(api: Api) -> None:
    """/health answers without a key; /openapi.json lists the fixed endpoint names; /docs is served."""
    assert api.client.get("/health").json() == {"status": "ok"}
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/exports",
        "/api/v1/channels",
        "/api/v1/channels/{key}",
        "/api/v1/channels/{key}/pause",
        "/api/v1/channels/{key}/resume",
        "/api/v1/channels/{key}/runs",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/channels/{key}/documents",
        "/api/v1/channels/{key}/topics",
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/replay",
        "/api/v1/usage",
        "/health",
        "/status/detailed",
        "/metrics",
    ):
        assert path in paths, path
    assert api.client.get("/docs").status_code == 200


def test_missing_unknown_and_revoked_keys_get_401_problems(api: Api) -> None:
    """No key, a made-up key and a revoked key each get a 401 problem document with WWW-Authenticate."""
    from tg_parser.services.api_keys import Scope, create_api_key, revoke_api_key

    made_up = "tgp_0123456789ab_" + "x" * 43
    created = create_api_key(database_url=api.settings.database_url, name="old", scope=Scope.ADMIN)
    revoke_api_key(database_url=api.settings.database_url, key_id=created.record.key_id)
    for headers in (
        {},
        {"X-API-Key": made_up},
        {"Authorization": "Bearer nonsense"},
        {"X-API-Key": created.key},
    ):
        resp = api.client.get("/api/v1/channels", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["content-type"] == PROBLEM
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.json()["status"] == 401


def test_read_key_reads_but_gets_403_on_writes(api: Api) -> None:
    """A read key lists channels but gets 403 on POST /channels, uploads, runs, replay; admin covers all."""
    assert api.client.get("/api/v1/channels", headers=api.read).status_code == 200
    for path, body in (
        ("/api/v1/channels", {"source": "@durov"}),
        ("/api/v1/channels/durov/runs", None),
        ("/api/v1/dead-letters/replay", {"all": True}),
        ("/api/v1/exports", None),
    ):
        resp = api.client.post(path, headers=api.read, json=body)
        assert resp.status_code == 403, path
        assert resp.headers["content-type"] == PROBLEM
    assert (
        api.client.post("/api/v1/channels", headers=api.admin, json={"source": "@durov"}).status_code == 201
    )
    assert api.client.get("/api/v1/api-keys", headers=api.write).status_code == 403
    assert api.client.get("/api/v1/api-keys", headers=api.admin).status_code == 200


def test_bad_bodies_and_parameters_are_problems_naming_the_field(api: Api) -> None:
    """Validation errors are 422 problem documents naming the body field or query parameter at fault."""
    resp = api.client.post("/api/v1/channels", headers=api.write, json={"sourc": "@x"})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM
    pointers = {e.get("pointer") for e in resp.json()["errors"]}
    assert "#/source" in pointers
    resp = api.client.get("/api/v1/runs", headers=api.read, params={"limit": "0"})
    assert resp.status_code == 422
    assert resp.json()["errors"] == [
        {"detail": "Input should be greater than or equal to 1", "parameter": "limit"}
    ]
    resp = api.client.post(
        "/api/v1/channels", headers={**api.write, "content-type": "application/json"}, content=b"{not json"
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM
    resp = api.client.post("/api/v1/channels", headers=api.write, json={"source": "@durov", "every": "soon"})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM


def test_unknown_channels_runs_and_routes_get_404_problems(api: Api) -> None:
    """Unknown channel keys, run ids and paths answer 404 as problem documents."""
    for method, path in (
        ("GET", "/api/v1/channels/nope"),
        ("POST", "/api/v1/channels/nope/pause"),
        ("DELETE", "/api/v1/channels/nope"),
        ("POST", "/api/v1/channels/nope/runs"),
        ("GET", "/api/v1/channels/nope/documents"),
        ("GET", "/api/v1/channels/nope/topics"),
        ("GET", "/api/v1/runs/nope"),
        ("GET", "/api/v1/no-such-endpoint"),
    ):
        resp = api.client.request(method, path, headers=api.write)
        assert resp.status_code == 404, (method, path)
        assert resp.headers["content-type"] == PROBLEM
    assert api.client.get("/api/v1/runs", headers=api.read, params={"channel": "nope"}).status_code == 404


def test_channel_lifecycle_register_pause_resume_delete(api: Api) -> None:
    """A live channel registered by t.me link can be read, paused, resumed and removed."""
    resp = api.client.post(
        "/api/v1/channels", headers=api.write, json={"source": "https://t.me/durov", "every": "1h"}
    )
    assert resp.status_code == 201
    assert resp.json()["key"] == "durov"
    channel = api.client.get("/api/v1/channels/durov", headers=api.read).json()
    assert (channel["schedule_every_s"], channel["paused"]) == (3600, False)
    assert api.client.post("/api/v1/channels/durov/pause", headers=api.write).json()["paused"] is True
    assert api.client.post("/api/v1/channels/durov/resume", headers=api.write).json()["paused"] is False
    assert [c["key"] for c in api.client.get("/api/v1/channels", headers=api.read).json()] == ["durov"]
    assert api.client.delete("/api/v1/channels/durov", headers=api.write).status_code == 204
    assert api.client.get("/api/v1/channels/durov", headers=api.read).status_code == 404


def test_upload_run_and_documents_match_the_export_file(
    api: Api, sample_export: Path, tmp_path: Path
) -> None:
    """Upload → 201; run → 202 + Location, polled to succeeded; /documents is byte for byte the export."""
    resp = upload(api, sample_export)
    assert resp.status_code == 201, resp.text
    (key,) = resp.json()["channels"]
    resp = api.client.post(f"/api/v1/channels/{key}/runs", headers=api.write)
    assert resp.status_code == 202
    run_id = resp.json()["run_id"]
    assert resp.headers["location"] == f"/api/v1/runs/{run_id}"
    run = wait_for_run(api.client, run_id, api.read)
    assert run["status"] == "succeeded", run
    assert run["items"]["failed"] == 0
    assert run["items"]["done"] == run["items"]["total"] > 0
    assert run["timings"]["finished_at"] is not None
    resp = api.client.get(f"/api/v1/channels/{key}/documents", headers=api.read)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert resp.headers["documents-cursor"]
    exported = (tmp_path / "exports" / key / "documents.ndjson").read_bytes()
    assert resp.content == exported
    (chat,) = source_chats(sample_export)
    check_chat_export(chat, [json.loads(line) for line in resp.content.decode().splitlines()])
    topics = api.client.get(f"/api/v1/channels/{key}/topics", headers=api.read)
    assert topics.content == (tmp_path / "exports" / key / "topics.json").read_bytes()
    listed = api.client.get(
        "/api/v1/runs", headers=api.read, params={"channel": key, "status": "succeeded"}
    ).json()
    assert [r["run_id"] for r in listed] == [run_id]


def test_upload_of_a_non_export_is_422_with_the_readers_message(api: Api, tmp_path: Path) -> None:
    """A file that is no Desktop export gets 422 with the reader's message; nothing is registered or kept."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": "world"}', encoding="utf-8")
    resp = upload(api, bad)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["errors"][0]["pointer"] == "#/file"
    assert "hello" not in resp.json()["detail"]
    assert resp.json()["detail"]
    assert api.client.get("/api/v1/channels", headers=api.read).json() == []
    uploads = tmp_path / "exports" / ".uploads"
    assert not any(uploads.iterdir())
    resp = upload(api, bad, username="no such name!")
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["pointer"] == "#/username"
    resp = api.client.post("/api/v1/exports", headers=api.write, data={"username": "x"})
    assert resp.status_code in (415, 422)
    assert resp.headers["content-type"] == PROBLEM


def test_upload_over_the_limit_is_413_and_nothing_is_kept(sqlite_url: str, tmp_path: Path) -> None:
    """An upload above API_MAX_UPLOAD_MB gets 413 (by Content-Length and while streaming); no file stays."""
    api = make_api(sqlite_url, tmp_path, api_max_upload_mb=1)
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * (600 * 1024) + b"0]")
    resp = upload(api, big)
    assert resp.status_code == 413
    assert resp.headers["content-type"] == PROBLEM

    def chunks():
        boundary = b"--xyz"
        yield boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="r.json"\r\n\r\n'
        for _ in range(3):
            yield b"0" * (512 * 1024)
        yield b"\r\n" + boundary + b"--\r\n"

    resp = api.client.post(
        "/api/v1/exports",
        headers={**api.write, "content-type": "multipart/form-data; boundary=xyz"},
        content=chunks(),
    )
    assert resp.status_code == 413
    uploads = tmp_path / "exports" / ".uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_incremental_pull_returns_only_posts_changed_after_the_cursor(
    api: Api, sample_export: Path, tmp_path: Path
) -> None:
    """After a pull, a re-run without changes yields nothing; an edited post comes back with its new text."""
    key = upload(api, sample_export).json()["channels"][0]
    run_id = api.client.post(f"/api/v1/channels/{key}/runs", headers=api.write).json()["run_id"]
    assert wait_for_run(api.client, run_id, api.read)["status"] == "succeeded"
    full = api.client.get(f"/api/v1/channels/{key}/documents", headers=api.read)
    cursor = full.headers["documents-cursor"]
    assert full.headers["link"].endswith('rel="next"')
    run_id = api.client.post(f"/api/v1/channels/{key}/runs", headers=api.write).json()["run_id"]
    assert wait_for_run(api.client, run_id, api.read)["status"] == "succeeded"
    unchanged = api.client.get(
        f"/api/v1/channels/{key}/documents", headers=api.read, params={"since": cursor}
    )
    assert unchanged.status_code == 200
    assert unchanged.content == b""
    cursor = unchanged.headers["documents-cursor"]
    data = json.loads(sample_export.read_text(encoding="utf-8"))
    first_doc = json.loads(full.content.decode().splitlines()[0])
    message_id = first_doc["metadata"]["message_id"]
    for message in data["messages"]:
        if message["id"] == message_id:
            message["text"] = "An edited post, with new words entirely."
            message["text_entities"] = [{"type": "plain", "text": message["text"]}]
            message["edited"] = "2030-01-01T00:00:00"
            message["edited_unixtime"] = "1893456000"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert upload(api, edited).json()["channels"] == [key]
    run_id = api.client.post(f"/api/v1/channels/{key}/runs", headers=api.write).json()["run_id"]
    assert wait_for_run(api.client, run_id, api.read)["status"] == "succeeded"
    delta = api.client.get(f"/api/v1/channels/{key}/documents", headers=api.read, params={"since": cursor})
    lines = [json.loads(line) for line in delta.content.decode().splitlines()]
    assert {d["op"] for d in lines} == {"upsert"}
    by_id = {d["metadata"]["message_id"]: d for d in lines}
    assert by_id[message_id]["text"] == "An edited post, with new words entirely."
    assert by_id[message_id]["id_"] == by_id[message_id]["id"] == f"{key}:{message_id}"
    assert len(by_id) == len(lines)  # each post once (posts whose topic or topic label changed come along)
    again = api.client.get(
        f"/api/v1/channels/{key}/documents",
        headers=api.read,
        params={"since": delta.headers["documents-cursor"]},
    )
    assert again.content == b""  # exactly once: the next pull starts where this one ended
    bad = api.client.get(
        f"/api/v1/channels/{key}/documents", headers=api.read, params={"since": "not-a-cursor"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "since"


def test_an_unreachable_database_is_a_503_problem(sqlite_url: str, tmp_path: Path) -> None:
    """With the database gone, a keyed request gets a 503 problem document, not a bare 500."""
    from fastapi.testclient import TestClient

    from tg_parser.api import create_app
    from tg_parser.config import load_settings

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    resp = client.get("/api/v1/channels", headers={"X-API-Key": "tgp_0123456789ab_" + "x" * 43})
    assert resp.status_code == 503
    assert resp.headers["content-type"] == PROBLEM
    assert client.get("/health").status_code == 200


def test_status_detailed_is_a_503_problem_with_the_report_when_the_broker_is_down(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Cluster mode with no broker listening: /status/detailed is 503, its report names the broker."""
    api = make_api(sqlite_url, tmp_path, celery_broker_url="redis://127.0.0.1:1/0", api_rate_limit_per_min=0)
    resp = api.client.get("/status/detailed", headers=api.read)
    assert resp.status_code == 503
    assert resp.headers["content-type"] == PROBLEM
    report = resp.json()["report"]
    assert report["mode"] == "cluster"
    statuses = {c["component"]: c["status"] for c in report["components"]}
    assert (statuses["database"], statuses["broker"]) == ("ok", "fail")
    embedded = make_api(sqlite_url, tmp_path / "e")
    assert embedded.client.get("/status/detailed", headers=embedded.read).json()["healthy"] is True


def test_nul_characters_in_the_path_or_query_are_422(api: Api) -> None:
    """A NUL in a path or query parameter is a 422 problem (PostgreSQL could not even look it up)."""
    for path, params in (("/api/v1/channels/a%00b", None), ("/api/v1/runs", {"channel": "a\x00"})):
        resp = api.client.get(path, headers=api.read, params=params)
        assert resp.status_code == 422
        assert resp.headers["content-type"] == PROBLEM
