"""A stand-in for the Kubernetes API server on loopback, for the real `kubernetes` client to talk to.

A real API server cannot run here, so this one follows the parts of its HTTP API the planner uses:
discovery (`/apis/{group}/{version}`), namespaced objects with GET / PATCH (merge and JSON patch,
`test` ops included) / PUT, collections listed by label selector (pods) and POST to create one
(Leases), and the `/scale` subresource. Every write
bumps a resourceVersion; a write carrying a stale one is answered 409, creating an object that exists
409 AlreadyExists, a failed JSON-patch `test` 422, a missing object 404, all as `Status` objects.
Tests add faults (status codes, delays) and RBAC-shaped 403s, and see every request with the bearer
token that made it (`requests_by`).
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from http_harness import serve_handler

Key = tuple[str, str, str, str]  # (group/version, plural, namespace, name)


@dataclass
class Fault:
    """Answer matching requests with `status` (or after `delay_s`), `times` times."""

    method: str
    path_contains: str
    status: int = 500
    delay_s: float = 0.0
    times: int = 1


@dataclass
class Kind:
    group_version: str
    kind: str
    plural: str
    scalable: bool = True


@dataclass
class KubeStandIn:
    kinds: list[Kind] = field(default_factory=list)
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    forbidden: set[tuple[str, str]] = field(default_factory=set)  # (verb, plural or plural/sub)
    allowed: set[tuple[str, str]] | None = None  # when set, RBAC allows only these
    requests: list[tuple[str, str]] = field(default_factory=list)
    requests_by: list[tuple[str, str, str]] = field(default_factory=list)  # (bearer token, method, path)
    on_write: Callable[[Key, dict[str, Any]], None] | None = None  # a "controller" reacting to writes
    on_read: Callable[[Key, dict[str, Any]], None] | None = None  # refreshes an object's status before a GET
    resource_version: int = 100
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- fixtures -------------------------------------------------------------------------------
    def add_kind(self, group_version: str, kind: str, plural: str, scalable: bool = True) -> None:
        self.kinds.append(Kind(group_version, kind, plural, scalable))

    def put(self, group_version: str, plural: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {}).update(namespace=namespace)
            obj["metadata"]["resourceVersion"] = self._bump()
            self.objects[(group_version, plural, namespace, obj["metadata"]["name"])] = obj
            return obj

    def get(self, group_version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.objects[(group_version, plural, namespace, name)])

    def edit(self, group_version: str, plural: str, namespace: str, name: str, change: Callable[[dict], None]) -> None:
        """Change an object as another actor would (kubectl, GitOps): bumps its resourceVersion."""
        with self.lock:
            obj = self.objects[(group_version, plural, namespace, name)]
            change(obj)
            obj["metadata"]["resourceVersion"] = self._bump()

    def _bump(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def writes(self, method: str = "PATCH") -> list[str]:
        return [path for m, path in self.requests if m == method]

    # -- HTTP -----------------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, content_type: str, body: bytes, token: str = ""
    ) -> tuple[int, dict[str, Any]]:
        url = urllib.parse.urlparse(raw_path)
        path = url.path
        self.requests.append((method, path))
        self.requests_by.append((token, method, path))
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path_contains in path:
                fault.times -= 1
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                    break
                return fault.status, status(
                    fault.status, "InternalError" if fault.status >= 500 else "Fault", "injected"
                )
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            group_version, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return 404, status(404, "NotFound", f"no route {path}")
        if not rest:
            return self._discovery(group_version)
        if len(rest) < 3 or rest[0] != "namespaces":
            return 404, status(404, "NotFound", f"no route {path}")
        namespace, plural, name, sub = rest[1], rest[2], (rest[3:4] or [""])[0], (rest[4:5] or [""])[0]
        verbs = {"GET": "get" if name else "list", "PATCH": "patch", "PUT": "update", "POST": "create"}
        verb = verbs.get(method, method.lower())
        resource = f"{plural}/{sub}" if sub else plural
        if (verb, resource) in self.forbidden or (self.allowed is not None and (verb, resource) not in self.allowed):
            return 403, status(
                403, "Forbidden", f'{plural} "{name}" is forbidden: User "system:serviceaccount:test:planner" '
                f'cannot {verb} resource "{plural}{"/" + sub if sub else ""}" in API group "{group_version}"',
            )  # fmt: skip
        if not name and method == "POST":
            return self._create((group_version, plural, namespace), json.loads(body))
        if not name and method == "GET":
            return self._list((group_version, plural, namespace), urllib.parse.parse_qs(url.query))
        if not name:
            return 404, status(404, "NotFound", f"collections are not served: {path}")
        with self.lock:
            key = (group_version, plural, namespace, name)
            obj = self.objects.get(key)
            if obj is None:
                return 404, status(404, "NotFound", f'{plural} "{name}" not found')
            if method == "GET" and self.on_read is not None:
                self.on_read(key, obj)
            if sub == "scale":
                return self._scale(method, key, obj, body)
            if sub:
                return 404, status(404, "NotFound", f"no subresource {sub}")
            if method == "GET":
                return 200, copy.deepcopy(obj)
            if method == "PUT":
                return self._replace(key, obj, json.loads(body))
            if method == "PATCH":
                return self._patch(key, obj, content_type, json.loads(body))
        return 405, status(405, "MethodNotAllowed", method)

    def _discovery(self, group_version: str) -> tuple[int, dict[str, Any]]:
        resources = []
        for kind in self.kinds:
            if kind.group_version != group_version:
                continue
            verbs = ["get", "list", "patch", "update", "create"]
            resources.append({"name": kind.plural, "kind": kind.kind, "namespaced": True, "verbs": verbs,
                              "singularName": kind.kind.lower()})  # fmt: skip
            if kind.scalable:
                resources.append({"name": f"{kind.plural}/scale", "kind": "Scale", "namespaced": True,
                                  "verbs": ["get", "patch", "update"], "singularName": ""})  # fmt: skip
        if not resources:
            return 404, status(404, "NotFound", f"the server could not find the requested resource ({group_version})")
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                     "resources": resources}  # fmt: skip

    def _create(self, where: tuple[str, str, str], obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return 422, status(422, "Invalid", "metadata.name: Required value")
        with self.lock:
            key = (*where, name)
            if key in self.objects:
                return 409, status(409, "AlreadyExists", f'{where[1]} "{name}" already exists')
            obj["metadata"].pop("resourceVersion", None)
            created = self.put(where[0], where[1], where[2], obj)
            self._written(key)
            return 201, created

    def _list(self, where: tuple[str, str, str], query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """A collection, filtered by an equality-based `labelSelector` (`a=b,c!=d`)."""
        selector = [term.strip() for term in (query.get("labelSelector") or [""])[0].split(",") if term.strip()]

        def matches(labels: dict[str, str]) -> bool:
            for term in selector:
                negated = "!=" in term
                key, _, value = term.partition("!=" if negated else "=")
                if (labels.get(key) == value.lstrip("=")) == negated:
                    return False
            return True

        with self.lock:
            items = [
                copy.deepcopy(obj) for key, obj in sorted(self.objects.items())
                if key[:3] == where and matches((obj.get("metadata") or {}).get("labels") or {})
            ]  # fmt: skip
            version = str(self.resource_version)
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": version}, "items": items}

    def _stale(self, obj: dict[str, Any], given: Any) -> bool:
        return given is not None and str(given) != obj["metadata"]["resourceVersion"]

    def _scale(self, method: str, key: Key, obj: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        if method in ("PATCH", "PUT"):
            change = json.loads(body)
            if self._stale(obj, (change.get("metadata") or {}).get("resourceVersion")):
                return 409, conflict(key)
            replicas = (change.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                return 422, status(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}")
            obj.setdefault("spec", {})["replicas"] = replicas
            obj["metadata"]["resourceVersion"] = self._bump()
            self._written(key)
        return 200, {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": key[3], "namespace": key[2], "resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)},
        }  # fmt: skip

    def _replace(self, key: Key, obj: dict[str, Any], new: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self._stale(obj, (new.get("metadata") or {}).get("resourceVersion")):
            return 409, conflict(key)
        new.setdefault("metadata", {}).update(namespace=key[2], resourceVersion=self._bump())
        self.objects[key] = new
        self._written(key)
        return 200, copy.deepcopy(new)

    def _patch(self, key: Key, obj: dict[str, Any], content_type: str, patch: Any) -> tuple[int, dict[str, Any]]:
        patched = copy.deepcopy(obj)
        if "json-patch" in content_type:
            for op in patch:
                pointer = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
                parent = patched
                for part in pointer[:-1]:
                    parent = parent.setdefault(part, {})
                if op["op"] == "test" and parent.get(pointer[-1]) != op["value"]:
                    return 422, status(422, "Invalid", f"testing value {op['path']} failed: test failed")
                if op["op"] in ("add", "replace"):
                    parent[pointer[-1]] = op["value"]
                elif op["op"] == "remove":
                    parent.pop(pointer[-1], None)
        else:
            if self._stale(obj, (patch.get("metadata") or {}).get("resourceVersion")):
                return 409, conflict(key)
            merge(patched, patch)
        patched["metadata"]["resourceVersion"] = self._bump()
        self.objects[key] = patched
        self._written(key)
        return 200, copy.deepcopy(patched)

    def _written(self, key: Key) -> None:
        if self.on_write is not None:
            self.on_write(key, self.objects[key])


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge patch (null deletes)."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}  # fmt: skip


def conflict(key: Key) -> dict[str, Any]:
    return status(
        409, "Conflict", f'Operation cannot be fulfilled on {key[1]} "{key[3]}": the object has been modified; '
        "please apply your changes to the latest version and try again",
    )  # fmt: skip


@contextlib.contextmanager
def serve(standin: KubeStandIn) -> Iterator[str]:
    """Serve the stand-in on a free loopback port; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            code, payload = standin.handle(self.command, self.path, self.headers.get("Content-Type", ""), body, token)
            data = json.dumps(payload).encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        do_GET = do_PATCH = do_PUT = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    with serve_handler(Handler) as url:
        yield url


def kubeconfig(url: str, namespace: str = "default", token: str = "test-token") -> str:
    """A kubeconfig (YAML text) pointing the client at the stand-in."""
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: standin\n"
        f"clusters: [{{name: standin, cluster: {{server: '{url}'}}}}]\n"
        f"users: [{{name: planner, user: {{token: {token}}}}}]\n"
        f"contexts: [{{name: standin, context: {{cluster: standin, user: planner, namespace: {namespace}}}}}]\n"
    )
