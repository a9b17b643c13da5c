"""A local stand-in for the Hugging Face Hub's HTTP API, enough for huggingface_hub 2.x to log in, create a
model repo, commit files inline, and download them back.

Upload: ``GET /api/whoami-v2``, ``POST /api/repos/create``, ``POST /api/validate-yaml``,
``GET /api/models/<repo>/tree/<rev>`` (what an earlier publish left), ``POST .../preupload/<rev>`` (every file
"regular", so content travels inline in the commit, no LFS or xet server) and ``POST .../commit/<rev>`` (an
NDJSON header line, then one line per file with base64 content or a deletion).
Download: ``GET /api/models/<repo>/revision/<rev>`` (sha and siblings), ``.../tree/<rev>`` and
``HEAD``/``GET /<repo>/resolve/<rev>/<path>`` (ETag, X-Repo-Commit, Content-Length, then the bytes).

Point a client at it with ``HF_ENDPOINT`` (read when huggingface_hub is imported, so in a subprocess).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import yaml

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_REV = r"(?P<rev>[^/]+)"


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    oid: str
    summary: str
    added: dict[str, bytes]
    deleted: list[str]


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1].oid if self.commits else "0" * 40


class HubStandIn:
    """``with HubStandIn(user="alice", tokens={"hf_..."}) as hub: ... hub.url ... hub.repos["alice/x"]``."""

    def __init__(self, user: str = "alice", tokens: set[str] | None = None):
        self.user = user
        self.tokens = tokens or set()
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), in order
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo_id: str, added: dict[str, bytes], deleted: list[str] = (), summary: str = "") -> Commit:
        repo = self.repos[repo_id]
        oid = hashlib.sha1(f"{repo.sha}{summary}{sorted(added)}{len(repo.commits)}".encode()).hexdigest()
        commit = Commit(oid, summary, dict(added), list(deleted))
        for path in deleted:
            repo.files.pop(path, None)
        repo.files.update(added)
        repo.commits.append(commit)
        return commit


def _handler_for(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        # -- replies ---------------------------------------------------------------------------------
        def reply(self, status: int, body: object = None, headers: dict[str, str] | None = None,
                  raw: bytes | None = None, head: bool = False) -> None:
            data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def fail(self, status: int, message: str, code: str | None = None) -> None:
            headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
            self.reply(status, {"error": message}, headers)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def authorized(self) -> bool:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if token in hub.tokens:
                return True
            self.fail(401, "Invalid credentials in Authorization header")
            return False

        def repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self.fail(404, "Repository not found", "RepoNotFound")
            return repo

        # -- routing ---------------------------------------------------------------------------------
        def route(self, method: str) -> None:
            path = urlsplit(self.path).path
            with hub.lock:
                hub.requests.append((method, path))
            routes = [
                ("GET", r"/api/whoami-v2", self.whoami),
                ("POST", r"/api/repos/create", self.create_repo),
                ("POST", r"/api/validate-yaml", self.validate_yaml),
                ("POST", rf"/api/models/{_REPO}/preupload/{_REV}", self.preupload),
                ("POST", rf"/api/models/{_REPO}/commit/{_REV}", self.commit),
                ("GET", rf"/api/models/{_REPO}/revision/{_REV}", self.revision),
                ("GET", rf"/api/models/{_REPO}/tree/{_REV}(?P<sub>/.*)?", self.tree),
                ("GET", rf"/{_REPO}/resolve/{_REV}/(?P<file>.+)", self.resolve),
                ("HEAD", rf"/{_REPO}/resolve/{_REV}/(?P<file>.+)", self.resolve),
            ]
            for verb, pattern, action in routes:
                match = re.fullmatch(pattern, path)
                if verb == method and match:
                    with hub.lock:
                        return action(**{k: unquote(v) if v else v for k, v in match.groupdict().items()})
            self.fail(404, f"no stand-in route for {method} {path}")

        def do_GET(self) -> None:
            self.route("GET")

        def do_HEAD(self) -> None:
            self.route("HEAD")

        def do_POST(self) -> None:
            self.route("POST")

        # -- endpoints -------------------------------------------------------------------------------
        def whoami(self) -> None:
            if self.authorized():
                self.reply(200, {"type": "user", "name": hub.user, "auth": {"type": "access_token"}})

        def create_repo(self) -> None:
            payload = json.loads(self.body())
            if not self.authorized():
                return
            repo_id = f"{payload.get('organization') or hub.user}/{payload['name']}"
            if repo_id in hub.repos:  # the Hub's 409 carries the url too: create_repo(exist_ok=True) reads it
                message = "You already created this model repo"
                return self.reply(409, {"error": message, "url": f"{hub.url}/{repo_id}"}, {"X-Error-Message": message})
            hub.repos[repo_id] = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
            self.reply(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})

        def validate_yaml(self) -> None:
            content = json.loads(self.body())["content"]
            match = re.match(r"---\n(.*?)\n---\n", content, re.S)
            try:
                yaml.safe_load(match.group(1) if match else "")
            except yaml.YAMLError as exc:
                return self.reply(400, {"errors": [{"message": str(exc)}]})
            self.reply(200, {"errors": [], "warnings": []})

        def preupload(self, repo: str, rev: str) -> None:
            files = json.loads(self.body())["files"]
            if self.authorized() and self.repo(repo):
                self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                           for f in files]})

        def commit(self, repo: str, rev: str) -> None:
            lines = [json.loads(line) for line in self.body().splitlines() if line.strip()]
            if not (self.authorized() and self.repo(repo)):
                return
            header = lines[0]
            assert header["key"] == "header", header
            added, deleted = {}, []
            for line in lines[1:]:
                if line["key"] == "file":
                    assert line["value"]["encoding"] == "base64", line["value"]
                    added[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                elif line["key"] in ("deletedFile", "deletedFolder"):
                    deleted.append(line["value"]["path"])
                else:
                    return self.fail(400, f"the stand-in takes inline files and deletions only, not {line['key']}")
            commit = hub.commit(repo, added, deleted, header["value"]["summary"])
            self.reply(200, {"commitUrl": f"{hub.url}/{repo}/commit/{commit.oid}", "commitOid": commit.oid,
                             "success": True})

        def revision(self, repo: str, rev: str) -> None:
            found = self.repo(repo)
            if found is None:
                return
            if rev not in ("main", found.sha):
                return self.fail(404, "Invalid rev id", "RevisionNotFound")
            self.reply(200, {"id": repo, "modelId": repo, "sha": found.sha, "private": found.private,
                             "siblings": [{"rfilename": name} for name in sorted(found.files)]})

        def tree(self, repo: str, rev: str, sub: str | None = None) -> None:
            found = self.repo(repo)
            if found is None:
                return
            entries = [{"type": "file", "path": name, "size": len(content), "oid": git_blob_sha(content)}
                       for name, content in sorted(found.files.items())]
            self.reply(200, entries)

        def resolve(self, repo: str, rev: str, file: str) -> None:
            found = self.repo(repo)
            if found is None:
                return
            if file not in found.files:
                return self.fail(404, "Entry not found", "EntryNotFound")
            content = found.files[file]
            self.reply(200, raw=content, head=self.command == "HEAD",
                       headers={"ETag": f'"{git_blob_sha(content)}"', "X-Repo-Commit": found.sha})

    return Handler
