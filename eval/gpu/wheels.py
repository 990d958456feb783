"""Offline install of the carried wheels (.gpu-wheels/, ``make gpu-wheels`` from ``wheels.txt``) on the GPU machine."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path


def wheel_dist(filename: str) -> tuple[str, str]:
    """(normalized distribution name, version) of a wheel file name."""
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def installed_version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def install_wheels(run, wheels_dir: Path, tmp: Path, dry_run: bool, budget: float) -> dict:
    """Install offline (pip --no-deps --no-index) the wheels in ``wheels_dir`` whose distributions are missing;
    without a usable pip, unpack them to ``tmp/site`` (returned as ``site``: put it on PYTHONPATH). ``run(cmd,
    timeout, name=)`` -> (exit code, output) runs a command. Returns what was installed, present, or failed."""
    wheels = sorted(wheels_dir.glob("*.whl")) if wheels_dir.is_dir() else []
    install = {"wheels_dir": str(wheels_dir), "installed": {}, "present": {}, "note": ""}
    todo = []
    for w in wheels:
        dist, version = wheel_dist(w.name)
        have = installed_version(dist)
        if have:
            install["present"][dist] = have
        else:
            todo.append(w)
            install["installed"][dist] = version
    if not wheels:
        install["note"] = f"no wheels in {wheels_dir} (run `make gpu-wheels`)"
    elif dry_run:
        install["note"] = "dry run: nothing installed (would install the 'installed' list)"
    elif todo:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-warn-script-location",
               *map(str, todo)]
        rc, out = run(cmd, budget, name="pip install")
        if rc != 0 and "externally-managed" in out:
            rc, out = run(cmd[:4] + ["--break-system-packages"] + cmd[4:], budget, name="pip install")
        if rc != 0 and "Permission denied" in out:  # a read-only site-packages: the user's own
            rc, out = run(cmd[:4] + ["--user"] + cmd[4:], budget, name="pip install --user")
        if rc != 0:  # no usable pip: the wheels unpacked onto PYTHONPATH serve as well for these packages
            install["pip_error"] = out[-2000:]
            try:
                site = tmp / "site"
                for w in todo:
                    zipfile.ZipFile(w).extractall(site)
                install["site"] = str(site)
                install["note"] = f"pip failed; wheels unpacked to {site} (on PYTHONPATH for every part)"
            except Exception as e:
                install["error"] = f"unpacking the wheels failed too: {e}"
    return install
