"""Checkpoints: safetensors weights + a JSON sidecar (config, metadata, resume state). Never pickle.

A checkpoint named ``best`` in ``run/`` is two files:

* ``run/best.safetensors`` — the model's ``state_dict`` exactly (loadable by any safetensors reader);
* ``run/best.json`` — ``{"format": "meddenoise-checkpoint", "config": {...}, "metadata": {...},
  "weights_file": "best.safetensors", "weights_sha256": ...}``.

The ``last`` checkpoint also carries what an exact resume needs: ``run/last.optim.safetensors``
holds the optimiser's tensors (its state dict flattened to ``state.<param index>.<name>`` keys) and
``last.json["resume"]`` the optimiser's non-tensor state, the scheduler, early-stopping counters and
the epoch reached. An objective with trainable parts of its own (the adversarial objective's critic)
adds ``run/last.parts.safetensors``: every part's weights (``module.<part>.<key>``) and optimiser
tensors (``optim.<part>.state.<param index>.<name>``), their non-tensor optimiser state in
``last.json["parts"]``. Random draws are seeded per epoch from the config's seed, so the epoch index is the
only random state a resume needs.

:func:`load_checkpoint` checks everything before it trusts a file and fails with one line:
``"<path>: checkpoint is corrupt: <reason>"`` or ``"<path>: checkpoint is mismatched: <reason>"``.
"""

from __future__ import annotations

import json
import platform
import struct
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from meddenoise._utils import atomic_path
from meddenoise.data.intensity import IntensitySpec
from meddenoise.provenance import git_info, sha256_file
from meddenoise.training.config import TrainConfig, TrainConfigError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "checkpoint_intensity",
    "load_checkpoint",
    "load_parts_state",
    "read_checkpoint_json",
    "resolve_checkpoint",
    "run_metadata",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "meddenoise-checkpoint"
CHECKPOINT_VERSION = 1
_MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Most parameters a checkpoint's declared architecture may have (the shipped models have ~0.6 M):
#: a sidecar's ``model_params`` must not make the loader allocate without bound.
MAX_MODEL_PARAMETERS = 2**28
#: Suffixes of pickled PyTorch files: never loaded (unpickling runs arbitrary code).
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not match its model."""


def _corrupt(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path}: checkpoint is corrupt: {reason}")


def _mismatched(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path}: checkpoint is mismatched: {reason}")


def _git_commit() -> str | None:
    git = git_info()
    return None if git is None else git.commit


def run_metadata(config: TrainConfig, *, started_utc: str | None = None) -> dict[str, Any]:
    """Versions, git commit, seed and timestamps recorded with every checkpoint."""
    from meddenoise import __version__

    return {
        "meddenoise_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "seed": config.seed,
        "started_utc": started_utc,
        "saved_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _sha256(path: Path) -> str:
    return sha256_file(path)


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser state dict into safetensors-able tensors and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, param_state in state["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, entries in rest.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": rest["param_groups"]}


def _save_parts(
    path: Path, parts: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    """Write the parts' weights and optimiser tensors to ``path``; returns the sidecar's ``parts`` entry."""
    tensors: dict[str, torch.Tensor] = {}
    rests: dict[str, Any] = {}
    for part, module in parts.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{part}.{key}"] = value.detach().cpu().contiguous().clone()
    for part, optimizer in optimizers.items():
        flat, rests[part] = _flatten_optimizer(optimizer.state_dict())
        tensors.update({f"optim.{part}.{key}": value for key, value in flat.items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    return {
        "file": path.name,
        "sha256": _sha256(path),
        "modules": sorted(parts),
        "optimizers": rests,
    }


def save_checkpoint(
    out_dir: str | Path,
    name: str,
    *,
    model: nn.Module,
    config: TrainConfig,
    metadata: dict[str, Any],
    info: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    resume: dict[str, Any] | None = None,
    parts: Mapping[str, nn.Module] | None = None,
    part_optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
) -> Path:
    """Write ``<out_dir>/<name>.safetensors`` + ``<name>.json`` (and the optimiser when given) atomically.

    ``parts`` and ``part_optimizers`` (an objective's own trainable modules and their optimisers, by
    name) go to ``<name>.parts.safetensors``.

    The JSON sidecar is written last and records the weights' SHA-256, so a run killed between the
    two writes leaves a checkpoint that :func:`load_checkpoint` reports as corrupt, never a silent mix.
    """
    out_dir = Path(out_dir)
    weights_path = out_dir / f"{name}.safetensors"
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "meddenoise_model": config.model})
    doc: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config": config.to_dict(),
        "metadata": metadata,
        "weights_file": weights_path.name,
        "weights_sha256": _sha256(weights_path),
        **(info or {}),
    }
    if optimizer is not None:
        optim_path = out_dir / f"{name}.optim.safetensors"
        tensors, rest = _flatten_optimizer(optimizer.state_dict())
        with atomic_path(optim_path) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        doc["optimizer_file"] = optim_path.name
        doc["optimizer_sha256"] = _sha256(optim_path)
        doc["optimizer_state"] = rest
    if parts:
        doc["parts"] = _save_parts(out_dir / f"{name}.parts.safetensors", parts, part_optimizers or {})
    if resume is not None:
        doc["resume"] = resume
    json_path = out_dir / f"{name}.json"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return json_path


def resolve_checkpoint(path: str | Path) -> Path:
    """The JSON sidecar of a checkpoint given as a run folder (→ ``best``), a ``.json`` or a ``.safetensors``."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: PyTorch pickle files ({path.suffix}) are never loaded (unpickling can run any code); "
            "give a meddenoise checkpoint: a run folder, .json or .safetensors"
        )
    if path.is_dir():
        path = path / "best.json"
    elif path.name.endswith((".optim.safetensors", ".parts.safetensors")):  # suffixes of equal length
        path = path.with_name(path.name[: -len(".optim.safetensors")] + ".json")
    elif path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    return path


def read_checkpoint_json(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Locate and parse a checkpoint's JSON sidecar; returns ``(json_path, document)``."""
    json_path = resolve_checkpoint(path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(json_path, f"JSON sidecar unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise _corrupt(json_path, f"not a {CHECKPOINT_FORMAT} JSON document")
    for key in ("config", "weights_file", "weights_sha256"):
        if key not in doc:
            raise _corrupt(json_path, f"JSON sidecar lacks {key!r}")
    for key in ("weights_file", "optimizer_file"):
        name = doc.get(key)
        # a bare file name beside the sidecar: a path would let a sidecar point at any file on disk
        if key in doc and not (
            isinstance(name, str)
            and name not in ("", ".", "..")
            and Path(name).name == name
            and "\\" not in name
        ):
            raise _corrupt(json_path, f"{key} {name!r} is not a file name in the checkpoint's folder")
    return json_path, doc


def checkpoint_intensity(path: str | Path) -> IntensitySpec | None:
    """The intensity mapping a checkpoint was trained with, or ``None`` when its config records none.

    Checkpoints written before :attr:`TrainConfig.intensity` existed record none; they were trained
    with :data:`meddenoise.data.DEFAULT_INTENSITY` (which :class:`TrainConfig` then fills in).
    """
    json_path, doc = read_checkpoint_json(path)
    recorded = doc["config"].get("intensity") if isinstance(doc["config"], dict) else None
    if recorded is None:
        return None
    if not isinstance(recorded, dict):
        raise _corrupt(json_path, "config.intensity is not an object")
    try:
        return IntensitySpec.from_dict(recorded)
    except ValueError as exc:
        raise _mismatched(json_path, f"intensity: {' '.join(str(exc).split())}") from None


def _check_safetensors_header(path: Path) -> None:
    """Check the safetensors framing (header length, JSON header, offsets within the file)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) < 8:
                raise _corrupt(path, "file shorter than a safetensors header")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len == 0 or header_len > min(size - 8, _MAX_HEADER_BYTES):
                raise _corrupt(
                    path, f"safetensors header length {header_len} does not fit a {size}-byte file"
                )
            header = json.loads(fh.read(header_len).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"safetensors header unreadable ({exc})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "safetensors header is not a JSON object")
    data_len = size - 8 - header_len
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data_len
        ):
            raise _corrupt(path, f"tensor {key!r} lies outside the file (truncated?)")


def _load_tensors(path: Path, expected_sha: str | None) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise _corrupt(path, "weights file is missing")
    _check_safetensors_header(path)
    if expected_sha is not None and _sha256(path) != expected_sha:
        raise _corrupt(path, "SHA-256 differs from the one recorded in its JSON sidecar")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _corrupt(path, f"safetensors unreadable ({exc})") from None


def _config_from_doc(json_path: Path, doc: dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig.from_dict(doc["config"], source=str(json_path))
    except TrainConfigError as exc:
        message = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
        raise _mismatched(json_path, message) from None


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], *, path: Path) -> None:
    """Load ``state`` into ``model`` after checking keys and shapes; mismatches raise :class:`CheckpointError`."""
    check_state_shapes(model.state_dict(), state, path=path)
    model.load_state_dict(state)


def check_state_shapes(
    expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], *, path: Path
) -> None:
    """Raise :class:`CheckpointError` when the keys or shapes of ``state`` differ from ``expected``."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' …' if len(unexpected) > 4 else ''}")
        raise _mismatched(path, "state dict keys differ from the model's: " + "; ".join(parts))
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise _mismatched(
                path, f"{key} has shape {tuple(state[key].shape)}, the model expects {tuple(tensor.shape)}"
            )


def load_checkpoint(path: str | Path) -> tuple[nn.Module, TrainConfig]:
    """Load a checkpoint (run folder → ``best``, ``.json`` or ``.safetensors``) as ``(model, config)``.

    The model is in eval mode. Raises :class:`CheckpointError` with one line naming the file and the
    reason when a file is missing, unparsable, truncated, altered, names an unknown model, or holds
    weights whose keys or shapes differ from the model its config describes.
    """
    from meddenoise.models.registry import build_model

    json_path, doc = read_checkpoint_json(path)
    config = _config_from_doc(json_path, doc)
    weights_path = json_path.with_name(str(doc["weights_file"]))
    state = _load_tensors(weights_path, str(doc["weights_sha256"]))
    # The architecture is built first on the meta device (no memory): its size is capped and its
    # shapes must be those of the weights on disk before the real model is allocated.
    with torch.device("meta"):
        skeleton = build_model(config.model, **config.model_params)
    n_params = sum(p.numel() for p in skeleton.parameters())
    if n_params > MAX_MODEL_PARAMETERS:
        raise _mismatched(
            json_path,
            f"the declared model has {n_params:,} parameters, over the limit of {MAX_MODEL_PARAMETERS:,}",
        )
    check_state_shapes(skeleton.state_dict(), state, path=weights_path)
    model = build_model(config.model, **config.model_params)
    load_state_dict_checked(model, state, path=weights_path)
    model.eval()
    return model, config


def load_optimizer_state(json_path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """The optimiser state dict stored with a ``last`` checkpoint (checked like the weights)."""
    if "optimizer_file" not in doc or "optimizer_state" not in doc:
        raise _corrupt(json_path, "no optimiser state to resume from")
    tensors = _load_tensors(json_path.with_name(str(doc["optimizer_file"])), doc.get("optimizer_sha256"))
    return _unflatten_optimizer(tensors, doc["optimizer_state"])


def load_parts_state(
    json_path: Path, doc: dict[str, Any]
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, Any]]]:
    """The state of an objective's own parts stored with a checkpoint: ``(weights by part, optimiser
    state dict by part)``, checked like the weights. Raises :class:`CheckpointError` when there is none."""
    entry = doc.get("parts")
    if not isinstance(entry, dict) or "file" not in entry:
        raise _corrupt(json_path, "no state of the objective's own parts (e.g. its critic) to resume from")
    tensors = _load_tensors(json_path.with_name(str(entry["file"])), entry.get("sha256"))
    modules: dict[str, dict[str, torch.Tensor]] = {str(part): {} for part in entry.get("modules", [])}
    flat: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        kind, part, rest = key.split(".", 2)
        (modules if kind == "module" else flat).setdefault(part, {})[rest] = value
    optimizers = {
        str(part): _unflatten_optimizer(flat.get(part, {}), rest)
        for part, rest in entry.get("optimizers", {}).items()
    }
    return modules, optimizers
