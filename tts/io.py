"""Atomic file writes (temp file in the same folder + rename), file names from input data checked and kept inside
the output folder, one run per output folder (a lock), and safe checkpoint loading."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tts.errors import CheckpointError, TTSError  # CheckpointError: also importable as tts.io.CheckpointError

MAX_NAME_BYTES = 200  # <name>.wav and its temp file (.<name>.XXXXXXXX.wav) stay under the 255-byte name limit


class UnsafePathError(TTSError, ValueError):
    """A path built from input data (an id, a system name) that would leave the command's output folder."""


def file_name_problem(name: str, max_bytes: int = MAX_NAME_BYTES) -> str | None:
    """Why ``name`` (an id or a name read from an input file) cannot be used as one file name, or None.

    Refused: empty, a path separator (so no absolute path and no ``a/../b``), a leading ``.`` (``..``,
    hidden files), control characters (NUL, newline, tab, ...), text that is not valid Unicode, and over
    ``max_bytes`` bytes of UTF-8.
    """
    if not isinstance(name, str) or not name:
        return "is empty" if name == "" else f"is not a string ({type(name).__name__})"
    if "/" in name or "\\" in name:
        return "contains a path separator (/ or \\)"
    if name.startswith("."):
        return "starts with '.'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character (NUL, newline, tab, ...)"
    try:
        n_bytes = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    if n_bytes > max_bytes:
        return f"is longer than {max_bytes} bytes (UTF-8)"
    return None


def path_under(root: str | Path, *parts: str) -> Path:
    """``root / parts...``; UnsafePathError unless it resolves (symlinks followed) inside ``root``."""
    root = Path(root)
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafePathError(f"{path} resolves to {path.resolve()}, outside the output folder {root}: refused")
    return path


class OutDirError(TTSError, RuntimeError):
    """An output folder a command cannot use: another run holds it, or it holds earlier outputs the command
    would read back but may not delete."""


@contextmanager
def out_dir_lock(out_dir: Path, name: str, command: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``out_dir/name`` while ``command`` (e.g. "tts synth") runs; OutDirError
    when another run holds it. A symlink there is not followed. The lock goes with the process (also on
    kill -9); the file stays."""
    path = Path(out_dir) / name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise OutDirError(f"cannot open the lock file {path}: {e.strerror or e}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            raise OutDirError(
                f"{out_dir} is in use by another {command} run (process {holder or '?'}, lock {path}): wait for "
                "it to finish, or use another --out"
            ) from None
        if os.fstat(fd).st_nlink == 1:  # never truncate a file that is also linked elsewhere
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _file_mode() -> int:
    """0666 less the process umask: the mode open() gives a new file (mkstemp's temp files are 0600)."""
    try:  # Linux: read it without changing it (os.umask is a set-and-restore, racy across threads)
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``; the suffix is kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one JSON line and flush it to disk (used for resumable result logs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: str | Path) -> list[tuple[int, str, str | None]]:
    """(line number, text, problem) per line of a text file; a line that is not UTF-8 gets a problem.

    One bad line never stops a reader: its problem names the line and the offending byte.
    """
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            raw = raw.rstrip(b"\r\n")
            try:
                out.append((lineno, raw.decode("utf-8"), None))
            except UnicodeDecodeError as e:
                out.append((lineno, "", f"line {lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"))
    return out


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL file; a torn last line (killed writer) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows




def read_json(path: str | Path, hint: str = "") -> Any:
    """A JSON file's value; CheckpointError names the file (and says ``hint``) when it is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})" + (f"; {hint}" if hint else "")) from e


def load_safetensors(path: str | Path, hint: str = "") -> dict:
    """``safetensors.torch.load_file`` with a CheckpointError that names a truncated or corrupt file."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error type for a bad header or short data
        raise CheckpointError(
            f"{path}: unreadable safetensors file ({e}); is it truncated?" + (f" {hint}" if hint else "")
        ) from e


def sha256_files(paths: Sequence[str | Path], chunk: int = 1 << 22) -> str:
    """sha256 of the concatenation of ``paths``, read in chunks."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """sha256 of one file."""
    return sha256_files([path])


def load_checkpoint(
    path: str | Path,
    map_location: str = "cpu",
    *,
    missing_hint: str = "",
    resave_hint: str = "",
) -> dict:
    """``torch.load(weights_only=True)``; a CheckpointError names the file and says what to do.

    ``missing_hint`` follows the not-found message (e.g. where the weights come from); ``resave_hint``
    follows the message for a file that pickles more than tensors (e.g. how to keep only its weights).
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}" + (f". {missing_hint}" if missing_hint else ""))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # torch wraps every failure of the weights-only unpickler in this
        lines = [line.strip() for line in str(e).splitlines()]
        reason = next((line for line in lines if "Unsupported" in line), lines[0] if lines else "")
        raise CheckpointError(
            f"cannot load {path} with torch.load(weights_only=True): {reason[:300]}\n"
            "The file pickles objects other than tensors (or is truncated)."
            + (f" {resave_hint}" if resave_hint else "")
        ) from e
    except Exception as e:  # truncated zip, not a checkpoint, ...
        raise CheckpointError(
            f"cannot load checkpoint {path}: {type(e).__name__}: {e}. "
            "Is the file truncated or not a PyTorch checkpoint?"
        ) from e


def git_commit(root: str | Path) -> str:
    """The short commit of the git checkout at ``root`` for a report's header, ``+dirty`` when tracked files
    differ from it (the report then came from uncommitted code); ``unknown (no git)`` outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown (no git)"
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
