"""Generate the Python stubs for protos/planner/v1 into the SDK (run by `make protos`).

The output is committed; tests/test_protos.py regenerates into a temporary directory and fails if
the committed stubs differ, so they are never edited by hand. Imports are rewritten from
`planner.v1` to `planner_sdk._proto.planner.v1`, because `planner` is the daemon's package name.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
SOURCES = sorted((ROOT / "planner" / "v1").glob("*.proto"))
DEFAULT_OUT = ROOT.parent / "sdk" / "planner_sdk" / "_proto"
HEADER = "# Generated from protos/planner/v1 by protos/generate.py. Do not edit.\n"


def generate(out: Path) -> list[Path]:
    target = out / "planner" / "v1"
    target.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(s.relative_to(ROOT)) for s in SOURCES),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for path in sorted(target.glob("*_pb2*.py*")):
        text = re.sub(r"\bfrom planner\.v1 import", "from planner_sdk._proto.planner.v1 import", path.read_text())
        text = re.sub(r"^import planner\.v1\.", "import planner_sdk._proto.planner.v1.", text, flags=re.M)
        path.write_text(HEADER + text if not text.startswith(HEADER) else text)
        written.append(path)
    for package in (out, out / "planner", target):
        (package / "__init__.py").write_text('"""Generated protobuf and gRPC stubs (see protos/generate.py)."""\n')
    return written


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
