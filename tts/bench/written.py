"""What a benchmark wrote under ``OUT/audio`` and ``OUT/cache``, recorded in ``OUT/written.jsonl``, and the
``--overwrite`` that deletes exactly that.

Each path is recorded before the write it names, so the files of a killed run are covered too:
  {"folder": "audio/<system>/seed<k>"}   a folder of ``tts synth`` or the resynthesis: the wavs its
                                         results.jsonl lists, its results / errors / settings and lock file
  {"file": "cache/<system>/seed<k>/asr_<name>.jsonl"}   one file: a score cache, a prompt linked for the page
``clear`` deletes those and nothing else: a file the record does not name stays where it is, and a recorded
path reached through a symlinked folder (``OUT/audio`` pointing at a user's folder) is not followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tts.io import append_jsonl, read_jsonl

WRITTEN_NAME = "written.jsonl"
TOP_FOLDERS = ("audio", "cache")
KINDS = ("folder", "file")


class Written:
    """The record of one benchmark folder ``out_dir``; ``add`` appends a path the first time it is named."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / WRITTEN_NAME
        self.seen = {(kind, rel.as_posix()) for kind, rel in recorded(self.out_dir)}

    def add(self, path: Path, kind: str = "file") -> Path:
        """Record ``path`` (``out_dir / ...``) as a ``kind`` ("file" or "folder") this benchmark writes."""
        rel = path.relative_to(self.out_dir).as_posix()
        if (kind, rel) not in self.seen:
            append_jsonl(self.path, {kind: rel})
            self.seen.add((kind, rel))
        return path


def recorded(out_dir: Path) -> list[tuple[str, PurePosixPath]]:
    """(kind, path relative to ``out_dir``) of each well-formed row of the record: under audio/ or cache/,
    without ``..``; other rows are ignored."""
    out = []
    for row in read_jsonl(Path(out_dir) / WRITTEN_NAME):
        if not (isinstance(row, dict) and len(row) == 1):
            continue
        ((kind, rel),) = row.items()
        if kind not in KINDS or not isinstance(rel, str) or "\x00" in rel:
            continue
        path = PurePosixPath(rel)
        if not path.is_absolute() and len(path.parts) >= 2 and path.parts[0] in TOP_FOLDERS and ".." not in path.parts:
            out.append((kind, path))
    return out


def _real_folder(out_dir: Path, rel: PurePosixPath) -> Path | None:
    """``out_dir / rel`` when each folder on the way down from ``out_dir`` is a folder, not a symlink; else None."""
    folder = out_dir
    for part in rel.parts:
        folder = folder / part
        if folder.is_symlink() or not folder.is_dir():
            return None
    return folder


def _unlink(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()


def clear(out_dir: Path) -> dict[str, int]:
    """Delete what the record of ``out_dir`` names, the record itself, then the folders that leaves empty.

    Returns the entries left under audio/ and cache/ (files and symlinks this benchmark did not write), counted
    per folder: {"OUT/audio/x/seed0": 2, "OUT/audio -> /elsewhere (symlink, not followed)": 1}.
    """
    from tts.synth import LOCK_NAME, clear_outputs

    out_dir = Path(out_dir)
    rows = recorded(out_dir)
    for kind, rel in rows:
        if kind == "folder":
            folder = _real_folder(out_dir, rel)
            if folder is not None:
                clear_outputs(folder)
                _unlink(folder / LOCK_NAME)
        elif (folder := _real_folder(out_dir, rel.parent)) is not None:
            _unlink(folder / rel.name)
    (out_dir / WRITTEN_NAME).unlink(missing_ok=True)
    folders = {p for kind, rel in rows for p in ([rel] if kind == "folder" else []) + list(rel.parents)[:-1]}
    for rel in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        folder = _real_folder(out_dir, rel)
        if folder is not None and not any(folder.iterdir()):
            folder.rmdir()
    return left_under(out_dir)


def left_under(out_dir: Path) -> dict[str, int]:
    """Files and symlinks under ``out_dir``'s audio/ and cache/, counted per folder; symlinked folders are
    counted as one entry each and not entered."""
    left: dict[str, int] = {}
    for top in TOP_FOLDERS:
        root = Path(out_dir) / top
        if root.is_symlink():
            left[f"{root} -> {os.readlink(root)} (symlink, not followed)"] = 1
            continue
        for dirpath, dirnames, filenames in os.walk(root):  # symlinked folders are listed, never entered
            n = len(filenames) + sum(os.path.islink(os.path.join(dirpath, d)) for d in dirnames)
            if n:
                left[dirpath] = n
    return left
