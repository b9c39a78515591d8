"""Resuming the ``swap`` command: what an output folder's hidden work folder records, and the output names.

``DIR/.face-identity-swap/state.json`` holds the run's settings (and their digest) and, per target, the
output file chosen for it and whether it is finished; a video's finished segments (and its swap plan,
when tracking makes one) sit in ``DIR/.face-identity-swap/<output name>.parts/``. Every write is
atomic (``files.write_atomic``), so a run killed at any point leaves a state that a rerun reads.

Rules (``RunState.open``):

- same settings (digest) as the state: finished targets are skipped, a video resumes after its last
  finished segment;
- other settings while a target of the recorded run is unfinished: refused (rerun the same command,
  or ``--if-exists overwrite`` to start over, which deletes the work folder);
- an existing output file that the state does not record as finished is never overwritten unless
  ``--if-exists overwrite`` (``new name`` picks ``<stem>_2`` ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArgumentError
from .files import write_atomic

WORK_FOLDER = ".face-identity-swap"
STATE_FILE = "state.json"
STATE_VERSION = 1
IF_EXISTS_CHOICES = ("error", "new name", "overwrite")


def settings_digest(settings: dict[str, Any]) -> str:
    """SHA-256 of the settings as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (the swap source is part of the settings)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    changed = [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in keys if old.get(key) != new.get(key)]
    return "; ".join(changed[:6]) + (" ..." if len(changed) > 6 else "")


@dataclass
class RunState:
    """The work folder of one output folder (make it with ``RunState.open``)."""

    out: Path
    settings: dict[str, Any]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per target (its absolute path): ``{"output": file name, "done": bool}``."""

    @property
    def folder(self) -> Path:
        return self.out / WORK_FOLDER

    @classmethod
    def open(cls, out: Path, settings: dict[str, Any], if_exists: str) -> RunState:
        """The state of ``out`` for a run with ``settings``: resumed when the recorded settings match.

        Raises:
            InvalidArgumentError: an unfinished run with other settings is recorded (and ``if_exists`` is
                not ``overwrite``), or the state file is unreadable.
        """
        state = cls(out, settings)
        path = state.folder / STATE_FILE
        if not path.is_file():
            return state
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
            old_settings, targets = dict(recorded["settings"]), dict(recorded["targets"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InvalidArgumentError(
                f"{path} is unreadable ({error}); delete the folder {state.folder} to start over"
            ) from error
        if settings_digest(old_settings) == settings_digest(settings):
            state.targets = targets
            return state
        unfinished = [target for target, entry in targets.items() if not entry.get("done")]
        if unfinished and if_exists != "overwrite":
            raise InvalidArgumentError(
                f"{out} holds an unfinished swap run with other settings ({_differences(old_settings, settings)}); "
                "rerun the same command to finish it, or pass --if-exists overwrite to start over"
            )
        if unfinished:  # given up (--if-exists overwrite): its segments and plans go
            shutil.rmtree(state.folder, ignore_errors=True)
        return state  # a finished run's record is replaced when this run saves its own

    def save(self) -> None:
        payload = {"version": STATE_VERSION, "settings": self.settings, "targets": self.targets}
        write_atomic(self.folder / STATE_FILE, json.dumps(payload, indent=1, sort_keys=True, default=str).encode("utf-8"))

    def is_done(self, target: Path) -> bool:
        entry = self.targets.get(str(target.resolve()))
        return bool(entry and entry.get("done") and (self.out / entry["output"]).is_file())

    def output_for(self, target: Path, wanted: str, if_exists: str, taken: set[str]) -> Path:
        """The output file of ``target``: the one recorded for it, else ``wanted`` under the ``if_exists`` rule.

        ``taken``: output names already given to other targets of this run (two targets never share one).

        Raises:
            InvalidArgumentError: the file exists and ``if_exists`` is ``error``, or another target of
                this run has that name (and ``if_exists`` is not ``new name``).
        """
        key = str(target.resolve())
        recorded = self.targets.get(key)
        if recorded is not None and recorded["output"] not in taken:
            taken.add(recorded["output"])
            return self.out / recorded["output"]
        name = wanted
        stem, suffix = Path(wanted).stem, Path(wanted).suffix
        number = 1
        while name in taken or ((self.out / name).exists() and if_exists != "overwrite"):
            if if_exists == "error":
                if name in taken:
                    raise InvalidArgumentError(
                        f"two targets would both be written to {self.out / name}; rename one, or pass --if-exists 'new name'"
                    )
                raise InvalidArgumentError(
                    f"{self.out / name} already exists; choose another --out, or pass --if-exists overwrite or 'new name'"
                )
            if name in taken and if_exists == "overwrite":
                raise InvalidArgumentError(
                    f"two targets would both be written to {self.out / name}; rename one, or pass --if-exists 'new name'"
                )
            number += 1
            name = f"{stem}_{number}{suffix}"
        taken.add(name)
        self.targets[key] = {"output": name, "done": False}
        return self.out / name

    def mark_done(self, target: Path) -> None:
        self.targets[str(target.resolve())]["done"] = True
        self.save()

    def parts_folder(self, output: Path) -> Path:
        """Where a video output's segments (and plan) are kept until it is finished."""
        return self.folder / f"{output.name}.parts"
