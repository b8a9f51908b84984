"""A loopback HTTP server speaking the part of the Hugging Face Hub API that repo creation and commits use.

Endpoints (as called by huggingface_hub 2.x ``create_repo`` and ``create_commit``):
    POST /api/repos/create                              -> {"url": ...}; 409 if the repo exists
    POST /api/validate-yaml                             -> checks the README front matter parses
    POST /api/models/{org}/{name}/preupload/{revision}  -> every file "regular" (inline base64 in the commit)
    POST /api/models/{org}/{name}/commit/{revision}     -> ndjson header + files, stored in memory
and, for ``model_info`` and ``snapshot_download``:
    GET /api/models/{org}/{name}[/revision/{revision}]  -> repo info with the head commit sha and visibility
    GET /api/models/{org}/{name}/tree/{revision}        -> every file (one page)
    HEAD|GET /{org}/{name}/resolve/{revision}/{path}    -> file content with commit and etag headers
Requests without ``Authorization: Bearer <token>`` get 401 (the repos are private).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml


@dataclass
class FakeRepo:
    private: bool
    create_payload: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def head(self) -> str:
        return f"{len(self.commits):040x}"


class FakeHub:
    """Run with ``with FakeHub(token) as hub:``; ``hub.endpoint`` is the base URL, ``hub.repos`` what arrived.

    ``hub.requests`` lists ``(method, path, headers)`` of every request, header names in lower case.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, body: dict[str, Any] | list[Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            if isinstance(body, dict) and body.get("error") == "Repository not found":  # as the Hub marks it
                self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_file(self, content: bytes, repo: FakeRepo, with_body: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("X-Repo-Commit", repo.head)
            self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
            self.end_headers()
            if with_body:
                self.wfile.write(content)

        def _get(self, with_body: bool) -> None:
            path = self.path.split("?")[0]
            with hub.lock:
                hub.requests.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}))
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self._reply(401, {"error": "Invalid credentials in Authorization header"})
            parts = path.split("/")
            api = parts[1:3] == ["api", "models"]
            repo_id = f"{parts[3]}/{parts[4]}" if api else "/".join(parts[1:3])
            repo = hub.repos.get(repo_id) if len(parts) > (4 if api else 5) else None
            if repo is None:
                return self._reply(404, {"error": "Repository not found"})
            if api and (len(parts) == 5 or parts[5] == "revision"):
                return self._reply(200, {"id": f"{parts[3]}/{parts[4]}", "sha": repo.head, "private": repo.private,
                                         "siblings": [{"rfilename": name} for name in sorted(repo.files)]})
            if api and parts[5] == "tree":
                return self._reply(200, [
                    {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for name, data in sorted(repo.files.items())
                ])
            if not api and parts[3] == "resolve":
                name = "/".join(parts[5:])
                if name in repo.files:
                    return self._send_file(repo.files[name], repo, with_body)
            return self._reply(404, {"error": f"not found: {path}"})

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._get(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
            self._get(with_body=False)

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = _read_body(self)
            path = self.path.split("?")[0]
            with hub.lock:
                hub.requests.append(("POST", path, {k.lower(): v for k, v in self.headers.items()}))
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self._reply(401, {"error": "Invalid credentials in Authorization header"})
            if path == "/api/repos/create":
                return self._create(json.loads(body))
            if path == "/api/validate-yaml":
                return self._validate_yaml(json.loads(body))
            parts = path.split("/")  # ['', 'api', 'models', org, name, action, revision]
            if len(parts) == 7 and parts[1:3] == ["api", "models"]:
                repo = hub.repos.get(f"{parts[3]}/{parts[4]}")
                if repo is None:
                    return self._reply(404, {"error": "Repository not found"})
                if parts[5] == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
                    ]})
                if parts[5] == "commit":
                    return self._commit(repo, f"{parts[3]}/{parts[4]}", body)
            return self._reply(404, {"error": f"not implemented: POST {path}"})

        def _create(self, payload: dict[str, Any]) -> None:
            repo_id = f"{payload['organization']}/{payload['name']}"
            with hub.lock:
                if repo_id in hub.repos:
                    return self._reply(409, {"error": "You already created this model repo", "url": repo_id})
                private = payload.get("visibility") == "private" or payload.get("private") is True
                hub.repos[repo_id] = FakeRepo(private=private, create_payload=payload)
            self._reply(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id})

        def _validate_yaml(self, payload: dict[str, Any]) -> None:
            content = payload["content"]
            try:
                header = content[4:].partition("\n---\n")[0] if content.startswith("---\n") else ""
                yaml.safe_load(header)
            except yaml.YAMLError as exc:
                return self._reply(400, {"errors": [{"message": str(exc)}]})
            self._reply(200, {"errors": [], "warnings": []})

        def _commit(self, repo: FakeRepo, repo_id: str, body: bytes) -> None:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header, files = lines[0], lines[1:]
            if header["key"] != "header" or any(f["key"] != "file" for f in files):
                return self._reply(400, {"error": "expected a header and inline files only"})
            with hub.lock:
                for f in files:
                    repo.files[f["value"]["path"]] = base64.b64decode(f["value"]["content"])
                repo.commits.append(header["value"])
                oid = repo.head
            self._reply(200, {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid,
                              "pullRequestUrl": None})

    return Handler
