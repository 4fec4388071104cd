"""The ways TubeMail is installed, each tried as a user would: ``make
install`` into a fresh prefix, ``make dist`` (the release archive) and ``make
wheel`` (the Python package with the three commands) installed into a fresh
venv. The builds use ``PROFILE=dev`` (``$TUBEMAIL_INSTALL_PROFILE``), so the
suite reuses the debug build of ``make rust-test``; the layout and the
embedded UI are the same as with the default release profile.

The installed programs run from a directory outside the checkout with a
scrubbed environment: nothing they need may come from the source tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from hubproc import HubProcess, clean_env  # noqa: E402

MAKE = os.environ.get("TUBEMAIL_MAKE", "make")
PROFILE = os.environ.get("TUBEMAIL_INSTALL_PROFILE", "dev")
COMMANDS = ["tubemail-hub", "claude-tm", "claude-tm-supervise", "tubemail"]


def make(target: str, *args: str) -> str:
    run = subprocess.run(
        [MAKE, "--no-print-directory", target, f"PROFILE={PROFILE}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, f"make {target} failed ({run.returncode})\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run.stdout


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=env or clean_env())


def check_hub_serves_its_ui(binary: Path, workdir: Path) -> HubProcess:
    """Starts ``binary`` from ``workdir`` and checks the page and one of its
    assets come from inside the binary. Returns the running hub."""
    hub = HubProcess(binary, workdir)  # its environment has no TUBEMAIL_STATIC_DIR
    hub.wait_healthy()
    page = urllib.request.urlopen(hub.base + "/", timeout=10).read().decode()
    assert "not built into this binary" not in page, page[:500]
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+\.js)"', page)
    assert assets, f"no script in the page:\n{page[:1000]}"
    with urllib.request.urlopen(hub.base + assets[0], timeout=10) as r:
        assert r.status == 200
        assert "javascript" in r.headers["Content-Type"]
        assert len(r.read()) > 10_000
    log = hub.log_tail()
    assert f"web UI: http://127.0.0.1:{hub.port}/" in log, log
    assert (
        f"claude mcp add --transport http tubemail http://127.0.0.1:{hub.port}/mcp/ "
        '--header "Authorization: Bearer $TUBEMAIL_SECRET"' in log
    ), log
    assert hub.secret not in log
    return hub


def test_make_install_gives_the_commands_and_a_hub_with_its_ui(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = make("install", f"PREFIX={prefix}")
    assert f"installed into {prefix}" in out
    for name in COMMANDS:
        assert os.access(prefix / "bin" / name, os.X_OK), name
    units = prefix / "share/systemd/user"
    hub_unit = (units / "tubemail-hub.service").read_text()
    assert f"ExecStart={prefix}/bin/tubemail-hub" in hub_unit
    assert f"ExecStart={prefix}/bin/claude-tm" in (units / "claude-tm@.service").read_text()
    assert "@PREFIX@" not in hub_unit
    for name in ("tubemail-hub", "claude-tm", "tubemail"):
        assert (prefix / f"share/man/man1/{name}.1").read_text().startswith(".ie"), name
        assert name in (prefix / f"share/bash-completion/completions/{name}").read_text()
        assert (prefix / f"share/zsh/site-functions/_{name}").read_text().startswith(f"#compdef {name}")
        assert (prefix / f"share/fish/vendor_completions.d/{name}.fish").stat().st_size > 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = run([str(prefix / "bin/tubemail-hub"), "--version"], elsewhere)
    assert version.returncode == 0 and version.stdout.startswith("tubemail-hub "), version
    hub = check_hub_serves_its_ui(prefix / "bin/tubemail-hub", elsewhere)
    try:
        env = clean_env() | {"TUBEMAIL_HUB_URL": hub.base, "TUBEMAIL_SECRET": hub.secret}
        workers = run([str(prefix / "bin/tubemail"), "--json", "workers"], elsewhere, env)
        assert workers.returncode == 0, workers
        assert workers.stdout.strip().startswith("["), workers.stdout
    finally:
        hub.stop()


def test_make_dist_packs_binaries_docs_and_units(tmp_path: Path) -> None:
    out = make("dist")
    archive = Path(REPO / out.strip().splitlines()[-1])
    assert archive.name.endswith(".tar.gz") and archive.is_file(), out
    top = archive.name.removesuffix(".tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path, filter="data")
    for rel in [*(f"bin/{c}" for c in COMMANDS), "README.md", "LICENSE", "TUTORIAL.md", "DEPLOYMENT.md",
                "share/systemd/user/tubemail-hub.service", "share/systemd/user/claude-tm@.service",
                "share/man/man1/tubemail.1", "share/bash-completion/completions/claude-tm"]:
        assert f"{top}/{rel}" in names, f"{rel} missing from {archive.name}: {sorted(names)}"
    hub = tmp_path / top / "bin/tubemail-hub"
    assert os.access(hub, os.X_OK)
    assert run([str(hub), "--version"], tmp_path).returncode == 0


def test_the_wheel_installs_the_client_and_the_three_commands(tmp_path: Path) -> None:
    make("wheel")
    wheels = sorted((REPO / "target/wheels").glob("tubemail-*.whl"), key=lambda p: p.stat().st_mtime)
    assert wheels, "make wheel left no wheel in target/wheels"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", str(wheels[-1])], tmp_path)
    assert pip.returncode == 0, pip.stderr
    bin_ = venv / "bin"
    version = run([str(bin_ / "tubemail-hub"), "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("tubemail-hub "), version
    for name in ("claude-tm", "tubemail"):
        helped = run([str(bin_ / name), "--help"], tmp_path)
        assert helped.returncode == 0 and "Usage:" in helped.stdout, (name, helped)

    # The venv's hub, and the venv's client module against it.
    hub = check_hub_serves_its_ui(bin_ / "tubemail-hub", tmp_path)
    try:
        script = (
            "import sys, tubemail\n"
            "hub = tubemail.Client(sys.argv[1], sys.argv[2])\n"
            "sent = hub.send('wheel-tm', 'hello from the wheel')\n"
            "evs = hub.receive('wheel-tm')\n"
            "assert any(e.content == 'hello from the wheel' for e in evs), evs\n"
            "print('round trip', sent.event_id)\n"
        )
        trip = run([str(venv / "bin/python"), "-c", script, hub.base, hub.secret], tmp_path)
        assert trip.returncode == 0, trip.stderr
        assert trip.stdout.startswith("round trip "), trip.stdout
        # The client module is the wheel's, not the checkout's.
        where = run([str(venv / "bin/python"), "-c", "import tubemail; print(tubemail.__file__)"], tmp_path)
        assert str(venv) in where.stdout, where.stdout
    finally:
        hub.stop()


def test_the_published_hub_crate_carries_the_built_ui() -> None:
    """``cargo install tubemail-hub`` builds from the packaged crate, where
    no frontend/ exists: the crate must carry frontend/dist as it builds."""
    make("crate-ui")
    copy = REPO / "bins/tubemail-hub/ui-dist"
    try:
        listed = subprocess.run(
            ["cargo", "package", "-p", "tubemail-hub", "--list", "--allow-dirty", "--offline"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )
        assert listed.returncode == 0, listed.stderr
        packaged = {line[len("ui-dist/"):] for line in listed.stdout.splitlines() if line.startswith("ui-dist/")}
        dist = REPO / "frontend/dist"
        built = {str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file()}
        assert "index.html" in built
        assert packaged == built, f"packaged {sorted(packaged)} != built {sorted(built)}"
        for rel in built:
            assert (copy / rel).read_bytes() == (dist / rel).read_bytes(), rel
    finally:
        subprocess.run(["rm", "-rf", str(copy)], check=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
