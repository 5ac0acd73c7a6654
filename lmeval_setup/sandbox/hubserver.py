"""A stand-in for the Hugging Face Hub, reached by setting `HF_ENDPOINT` to its `url`.

It serves a directory made by `hubdata.py` (`models/<repo id>/...`, `datasets/<repo id>/...`,
`gated.json`) with the parts of the Hub API that huggingface_hub 0.36, transformers 4.48 and datasets
3.1 use to download a tokenizer or a dataset:
- `HEAD|GET /<repo>/resolve/<rev>/<file>` and `/datasets/<repo>/resolve/<rev>/<file>` with the headers
  huggingface_hub reads (`X-Repo-Commit`, `ETag`, `Content-Length`);
- `GET /api/{models,datasets}/<repo>[/revision/<rev>]` (repo info: sha, siblings, cardData);
- `GET /api/datasets/<repo>/tree/<rev>[/<path>]` and `POST .../paths-info/<rev>` (what HfFileSystem lists).
Errors are the Hub's: an unknown repo is `401` + `X-Error-Code: RepoNotFound` (what an anonymous client
gets), a missing file `404` + `EntryNotFound`, a gated repo without an accepted token `401` + `GatedRepo`
with the Hub's message. Tokens in `accepted_tokens` open gated repos.
"""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from lmeval_setup.sandbox.loopback import LoopbackServer

LAST_MODIFIED = "2026-01-01T00:00:00.000Z"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class HubContent:
    """The repositories under a hubdata.py directory, with stable commit hashes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        gated = root / "gated.json"
        self.gated = set(json.loads(gated.read_text())) if gated.is_file() else set()

    def repo_dir(self, kind: str, repo: str) -> Path | None:
        if not repo or ".." in repo.split("/"):
            return None
        d = self.root / ("datasets" if kind == "dataset" else "models") / repo
        return d if d.is_dir() and (d / "README.md").is_file() else None

    def files(self, repo_dir: Path) -> list[str]:
        return sorted(str(p.relative_to(repo_dir)) for p in repo_dir.rglob("*") if p.is_file())

    def commit(self, repo_dir: Path) -> str:
        digest = hashlib.sha1()
        for name in self.files(repo_dir):
            digest.update(name.encode())
            digest.update((repo_dir / name).read_bytes())
        return digest.hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], content: HubContent, tokens: frozenset[str]) -> None:
        super().__init__(address, _Handler)
        self.content = content
        self.accepted_tokens = tokens
        self.requests_seen: list[tuple[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body are two writes, and on a kept-alive connection Nagle held the body ~40 ms
    # for the headers' delayed ACK (tests/unit/test_sandbox_nodelay.py).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- responses -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def _hub_error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    def _repo_not_found(self) -> None:
        self._hub_error(401, "RepoNotFound", "Repository not found")

    # -- routing ---------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlparse(self.path)
        path = unquote(url.path)
        self.server.requests_seen.append((self.command, path))
        body = b""
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path.startswith("/api/models/") or path.startswith("/api/datasets/"):
            kind = "model" if path.startswith("/api/models/") else "dataset"
            self._api(kind, path.split("/", 3)[3], parse_qs(url.query), body)
            return
        if "/resolve/" in path:
            repo_part, rest = path.lstrip("/").split("/resolve/", 1)
            kind = "dataset" if repo_part.startswith("datasets/") else "model"
            repo = repo_part.removeprefix("datasets/")
            revision, _, filename = rest.partition("/")
            self._resolve(kind, repo, revision, filename)
            return
        self._json(404, {"error": "Not Found"})

    def _locate(self, kind: str, repo: str) -> Path | None:
        """The repo's directory, or None after answering like the Hub (not found / gated)."""
        content = self.server.content
        repo_dir = content.repo_dir(kind, repo)
        if repo_dir is None:
            self._repo_not_found()
            return None
        if repo in content.gated:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if token not in self.server.accepted_tokens:
                noun = "dataset" if kind == "dataset" else "model"
                self._hub_error(401, "GatedRepo", f"Access to {noun} {repo} is restricted. You must have access "
                                "to it and be authenticated to access it. Please log in.")
                return None
        return repo_dir

    def _resolve(self, kind: str, repo: str, revision: str, filename: str) -> None:
        repo_dir = self._locate(kind, repo)
        if repo_dir is None:
            return
        commit = self.server.content.commit(repo_dir)
        if revision not in ("main", commit):
            self._hub_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        target = repo_dir / filename
        if not filename or ".." in filename.split("/") or not target.is_file():
            self._hub_error(404, "EntryNotFound", "Entry not found")
            return
        data = target.read_bytes()
        self._send(200, data, {"X-Repo-Commit": commit, "ETag": f'"{_sha1(data)}"',
                               "Accept-Ranges": "bytes"}, content_type="application/octet-stream")

    # -- /api ------------------------------------------------------------------------------------
    def _api(self, kind: str, rest: str, query: dict[str, list[str]], body: bytes) -> None:
        for marker in ("/revision/", "/tree/", "/paths-info/"):
            if marker in rest:
                repo, tail = rest.split(marker, 1)
                break
        else:
            repo, marker, tail = rest, "", "main"
        repo_dir = self._locate(kind, repo)
        if repo_dir is None:
            return
        content = self.server.content
        commit = content.commit(repo_dir)
        revision, _, sub = tail.partition("/")
        if revision not in ("main", commit):
            self._hub_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        if marker == "/tree/":
            recursive = (query.get("recursive") or ["false"])[-1].lower() == "true"
            self._json(200, self._tree(repo_dir, sub.strip("/"), recursive))
            return
        if marker == "/paths-info/":
            form = parse_qs(body.decode()) if body else {}
            wanted = form.get("paths") or []
            if not wanted and body.startswith(b"{"):
                wanted = json.loads(body).get("paths") or []
            self._json(200, [e for p in wanted if (e := self._entry(repo_dir, p.strip("/"))) is not None])
            return
        self._json(200, self._info(kind, repo, repo_dir, commit))

    def _entry(self, repo_dir: Path, rel: str) -> dict[str, Any] | None:
        target = repo_dir / rel
        if rel and ".." in rel.split("/"):
            return None
        if target.is_file():
            data = target.read_bytes()
            return {"type": "file", "oid": _sha1(data), "size": len(data), "path": rel}
        if target.is_dir() and rel:
            return {"type": "directory", "oid": _sha1(rel.encode()), "size": 0, "path": rel}
        return None

    def _tree(self, repo_dir: Path, sub: str, recursive: bool) -> list[dict[str, Any]]:
        base = repo_dir / sub if sub else repo_dir
        if not base.is_dir():
            return []
        paths = base.rglob("*") if recursive else base.iterdir()
        entries = [self._entry(repo_dir, str(p.relative_to(repo_dir))) for p in sorted(paths)]
        return [e for e in entries if e is not None]

    def _info(self, kind: str, repo: str, repo_dir: Path, commit: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "_id": _sha1(repo.encode())[:24], "id": repo, "author": repo.split("/")[0] if "/" in repo else None,
            "sha": commit, "lastModified": LAST_MODIFIED, "createdAt": LAST_MODIFIED, "private": False,
            "gated": "manual" if repo in self.server.content.gated else False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [],
            "siblings": [{"rfilename": f} for f in self.server.content.files(repo_dir)],
        }
        if kind == "model":
            info["modelId"] = repo
        info["cardData"] = {}
        return info


class HubServer(LoopbackServer):
    """The Hub stand-in on a loopback port; `url` is the value for HF_ENDPOINT."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0,
                 accepted_tokens: tuple[str, ...] = ()) -> None:
        self._server = _Server((host, port), HubContent(root), frozenset(accepted_tokens))
        self._serve(self._server, host, "hubserver")
