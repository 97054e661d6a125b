"""Build an offline wheelhouse for an air-gapped GPU host (docs/gpu.md, "An offline install").

    python scripts/wheelhouse.py DIR [--python 3.12] [--no-check]

(``scripts/wheelhouse.sh`` runs this.) It needs pip and PyPI; the host needs neither.

1. **What the host has**: ``scripts/gpu_host.txt``. Its pinned lines are resolved for the
   target Python on manylinux x86_64 (``pip install --dry-run --report``); what the file
   names, and what those require (not counting anything reached only through a package the
   file marks missing with ``!``), counts as installed on the host.
2. **What we need**: ``scripts/gpu_needs.txt`` (what the bench path and the gpu-marked tests
   import), resolved the same way with the host's versions as constraints, so that a host
   package is reused whenever it is compatible.
3. **The wheelhouse**: what we need minus what the host has, one version of each, downloaded
   with ``pip download --no-deps --only-binary=:all:`` for the target Python and platform,
   plus the project's own wheel (``pip wheel --no-deps``). ``DIR/wheelhouse.txt`` lists it;
   ``DIR/host.txt`` lists what was taken as the host's.
4. **The check** (unless ``--no-check``): each wheel is installable on the target Python and
   platform (``pip install --dry-run --no-index --no-deps --target``), and, when that Python
   exists here (``python3.12``), a virtual environment of it gets the host's resolvable
   packages from PyPI (all but torch, torchvision, accelerate and peft, which are several GB:
   none of our wheels depends on them), then ``pip install --dry-run --no-index --find-links
   DIR`` must resolve what we need from the wheelhouse alone, and the wheels installed with
   ``--no-deps --target`` must import (``lcm_widgets.schema``, ``lcm_widgets._jpeg``,
   ``diffusers``, ``pydantic``, ``simplejpeg``, ``pytest``) next to the host's transformers
   and huggingface_hub. ``DIR/CHECK.txt`` says what passed.

Exit status 0 when the wheelhouse is complete and the check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST_FILE = ROOT / "scripts" / "gpu_host.txt"
NEEDS_FILE = ROOT / "scripts" / "gpu_needs.txt"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
#: Host packages too big to install here for the check (none of our wheels needs them).
TOO_BIG = {"torch", "torchvision", "accelerate", "peft"}
IMPORTS = ("lcm_widgets.schema", "lcm_widgets._jpeg", "lcm_widgets.cli", "diffusers",
           "pydantic", "simplejpeg", "pytest", "pytest_asyncio", "transformers",
           "huggingface_hub")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path) -> list[str]:
    """The non-comment lines of a requirements file."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def target_args(python: str) -> list[str]:
    """pip's options that select wheels for ``python`` on manylinux x86_64."""
    args = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    for plat in PLATFORMS:
        args += ["--platform", plat]
    return args


def pip(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """Run pip quietly; raise with its output when it fails."""
    cmd = [python, "-m", "pip", "--disable-pip-version-check", *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}{res.stderr[-4000:]}")
    return res


def resolve(reqs: list[str], python: str, constraints: list[str] | None = None
            ) -> dict[str, tuple[str, set[str]]]:
    """``{canonical name: (version, names it requires)}`` that pip resolves ``reqs`` to for
    the target Python (requirements of extras and of other platforms left out)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report",
                str(report), "--target", str(Path(tmp) / "t"), *target_args(python), *reqs]
        if constraints:
            cfile = Path(tmp) / "constraints.txt"
            cfile.write_text("\n".join(constraints) + "\n")
            args += ["-c", str(cfile)]
        pip(*args)
        data = json.loads(report.read_text())
    return {canonical(item["metadata"]["name"]): (item["metadata"]["version"],
                                                  _requires(item["metadata"], python))
            for item in data["install"]}


def _requires(metadata: dict[str, object], python: str) -> set[str]:
    """The names a package requires on the target Python (no extras)."""
    from packaging.requirements import Requirement

    env = {"python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "os_name": "posix", "extra": ""}
    out = set()
    for line in metadata.get("requires_dist") or []:  # type: ignore[union-attr]
        req = Requirement(str(line))
        if req.marker is None or req.marker.evaluate(env):
            out.add(canonical(req.name))
    return out


def subtree(roots: set[str], graph: dict[str, tuple[str, set[str]]],
            stop: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """``roots`` and everything they require, within ``graph``, not going through ``stop``."""
    seen: set[str] = set()
    todo = [r for r in roots if r in graph and r not in stop]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [d for d in graph[name][1] if d in graph and d not in stop]
    return seen


def plan(host: dict[str, tuple[str, set[str]]], listed: set[str], absent: set[str],
         needs: dict[str, tuple[str, set[str]]]) -> dict[str, str]:
    """What we need that the host does not have: the wheelhouse's contents.

    ``host``: the resolution of the host's packages (name → version, requirements);
    ``listed``: the packages ``gpu_host.txt`` names as installed; ``absent``: those it says
    are missing (``!name``). The host surely has what it names and what those require, not
    counting anything reached only through a missing package; everything else we need goes in.
    """
    certain = subtree(listed, host, stop=absent) | listed
    return {name: version for name, (version, _) in sorted(needs.items())
            if name not in certain}


def build(outdir: Path, python: str) -> tuple[dict[str, str], dict[str, str]]:
    """Resolve, download and build into ``outdir``; returns (host packages, wheelhouse)."""
    lines = requirement_lines(HOST_FILE)
    absent = {canonical(r[1:]) for r in lines if r.startswith("!")}
    present = [r for r in lines if not r.startswith("!")]
    listed = {canonical(re.split(r"[=<>!~ ]", r)[0]) for r in present}
    resolvable = [r for r in present if re.search(r"[=<>]", r)
                  or canonical(r) not in TOO_BIG]
    resolvable = [r for r in resolvable if canonical(re.split(r"[=<>!~ ]", r)[0]) not in TOO_BIG]
    graph = resolve(resolvable, python)
    constraints = [f"{n}=={v}" for n, (v, _) in graph.items() if n not in absent]
    needs = resolve(requirement_lines(NEEDS_FILE), python, constraints)
    wanted = plan(graph, listed, absent, needs)
    certain = subtree(listed, graph, stop=absent) | listed
    host = {n: graph[n][0] if n in graph else "(present)" for n in sorted(certain)}
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.whl"):
        old.unlink()
    pip("download", "--no-deps", "--quiet", "--dest", str(outdir), *target_args(python),
        *(f"{n}=={v}" for n, v in wanted.items()))
    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(outdir), str(ROOT))
    (outdir / "host.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(host.items())))
    (outdir / "wheelhouse.txt").write_text(
        "".join(f"{n}=={v}\n" for n, v in wanted.items()) + "lcm-widgets (this checkout)\n")
    return host, wanted


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` here (on PATH, or a pyenv build), or None."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(
        f".pyenv/versions/{version}*/bin/python{version}"))
    for exe in candidates:
        if exe and subprocess.run([exe, "-c", "import venv"], capture_output=True).returncode == 0:
            return exe
    return None


def check(outdir: Path, python: str, host: dict[str, str]) -> list[str]:
    """The checks of the module docstring; returns lines for CHECK.txt (raises on failure)."""
    wheels = sorted(str(p) for p in outdir.glob("*.whl"))
    lines = [f"{len(wheels)} wheels, {sum(Path(w).stat().st_size for w in wheels)} bytes"]
    with tempfile.TemporaryDirectory() as tmp:
        pip("install", "--dry-run", "--no-index", "--no-deps", "--quiet", "--target",
            str(Path(tmp) / "t"), *target_args(python), *wheels)
        lines.append(f"every wheel installs on CPython {python} manylinux x86_64 "
                     "(pip install --dry-run --no-index --no-deps --target)")
        exe = find_python(python)
        if exe is None:
            lines.append(f"python{python} is not here: the host simulation was skipped")
            return lines
        venv = Path(tmp) / "host"
        subprocess.run([exe, "-m", "venv", str(venv)], check=True)
        vpy = str(venv / "bin" / "python")
        pip("install", "--quiet", *(f"{n}=={v}" for n, v in host.items()
                                     if n not in TOO_BIG and v != "(present)"), python=vpy)
        lines.append(f"a Python {python} venv holds the host's packages but "
                     f"{', '.join(sorted(TOO_BIG))}: " + ", ".join(
                         f"{n}=={v}" for n, v in sorted(host.items()) if n not in TOO_BIG))
        needs = requirement_lines(NEEDS_FILE)
        pip("install", "--dry-run", "--quiet", "--no-index", "--find-links", str(outdir),
            *needs, python=vpy)
        lines.append("pip install --dry-run --no-index --find-links DIR resolves "
                     + " ".join(needs) + " from the wheelhouse and the host's packages alone")
        target = Path(tmp) / "target"
        pip("install", "--quiet", "--no-index", "--no-deps", "--target", str(target), *wheels,
            python=vpy)
        code = "; ".join(f"import {m}" for m in IMPORTS) + "; print('ok')"
        res = subprocess.run([vpy, "-c", code], capture_output=True, text=True,
                             env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
        if res.returncode or res.stdout.strip() != "ok":
            raise RuntimeError(f"the installed wheelhouse does not import:\n{res.stderr[-3000:]}")
        lines.append("installed with --no-deps --target, these import next to the host's "
                     "packages: " + ", ".join(IMPORTS))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Build the wheelhouse (and check it); see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path, help="where the wheels go (created)")
    ap.add_argument("--python", default="3.12", help="the host's Python version (3.12)")
    ap.add_argument("--no-check", dest="check", action="store_false",
                    help="skip the installability check and the host simulation")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"3\.\d{1,2}", args.python):
        ap.error(f"--python: must look like 3.12, got {args.python!r}")
    try:
        host, wanted = build(args.outdir, args.python)
        print(f"wheelhouse: {len(wanted)} packages the host lacks + lcm-widgets, in "
              f"{args.outdir}:", ", ".join(f"{n}=={v}" for n, v in wanted.items()))
        if args.check:
            lines = check(args.outdir, args.python, host)
            (args.outdir / "CHECK.txt").write_text("\n".join(lines) + "\n")
            print("\n".join(f"check: {line}" for line in lines))
    except (RuntimeError, subprocess.CalledProcessError, KeyError, ValueError) as exc:
        print(f"wheelhouse: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
