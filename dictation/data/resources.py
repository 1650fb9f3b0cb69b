"""Where the data folders are: templates/ and vocab/.

In a built wheel they are packaged as ``dictation/_data/{templates,vocab}``; in a source
checkout (editable install) they are the top-level folders the reporting leads edit. One
function answers for both, so no module has to guess paths.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

_ENV = {"vocab": "RADSCRIBE_VOCAB_DIR", "templates": "RADSCRIBE_TEMPLATES_DIR"}


@cache
def _packaged_root() -> Path | None:
    root = Path(str(files("dictation")))
    data = root / "_data"
    if data.is_dir():
        return data
    # Source checkout: the package sits beside the top-level data folders.
    checkout = root.parent
    if (checkout / "vocab").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return None


def data_dir(kind: str) -> Path:
    """The folder of built-in ``vocab`` or ``templates`` (an environment variable overrides)."""
    if kind not in _ENV:
        raise ValueError(f"unknown data folder {kind!r}")
    override = os.environ.get(_ENV[kind])
    if override:
        return Path(override)
    root = _packaged_root()
    if root is None:
        raise FileNotFoundError(f"radscribe's {kind}/ folder is missing from this installation; reinstall radscribe")
    return root / kind


def user_file(env: str, folder: str, name: str) -> Path:
    """A per-user file: the path an environment variable names, else ``name`` in the user's
    ``config`` or ``data`` folder (platformdirs)."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    from platformdirs import user_config_dir, user_data_dir

    base = {"config": user_config_dir, "data": user_data_dir}[folder]
    return Path(base("radscribe", appauthor=False)) / name


# -- the site's vocabulary folder, layered over the built-in one ([vocab] folder in the config) -----

_site_vocab: Path | None = None


def set_site_vocab(folder: Path | None) -> None:
    """The site folder the config names (set once, when the workstation reads its config)."""
    global _site_vocab
    _site_vocab = Path(folder) if folder else None


def site_vocab() -> Path | None:
    return _site_vocab


def vocab_file(name: str) -> Path:
    """The file a loader reads for ``name``: the site's copy when it has one, else the built-in."""
    if _site_vocab is not None and (_site_vocab / name).is_file():
        return _site_vocab / name
    return data_dir("vocab") / name


def vocab_layers(name: str) -> list[Path]:
    """Built-in first, then the site's file if it has one: for the files whose entries add up
    (lexicon.txt, corrections.toml, macros.toml), a site entry wins over a built-in one."""
    layers = [data_dir("vocab") / name]
    if _site_vocab is not None and (_site_vocab / name).is_file():
        layers.append(_site_vocab / name)
    return layers
