"""sessionio's PEP 517 build backend: maturin's, after one check.

Building the native module from source (the sdist, or ``pip install`` of the repository's
``bindings-python``) needs Rust. Without ``cargo`` on PATH, maturin would fetch a Rust
toolchain from the network and build for minutes; sessionio stops at once instead, with
one message that says what to do. Every hook is maturin's; the wheel hooks check first.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import maturin  # type: ignore[import-untyped]  # maturin ships no type information

CargoConfig = dict[str, Any] | None

MISSING_CARGO = (
    "sessionio: building sessionio from source needs Rust, but `{cargo}` is not on PATH. "
    "Install the prebuilt wheel instead (`pip install --only-binary sessionio sessionio`; "
    "wheels exist for CPython >= 3.11 on manylinux x86_64), or install Rust "
    "(https://rustup.rs) and run pip again."
)


def _require_cargo() -> None:
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(MISSING_CARGO.format(cargo=cargo))


def get_requires_for_build_wheel(config_settings: CargoConfig = None) -> list[str]:
    _require_cargo()
    requires: list[str] = maturin.get_requires_for_build_wheel(config_settings)
    return requires


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: CargoConfig = None
) -> str:
    _require_cargo()
    name: str = maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    return name


def build_wheel(
    wheel_directory: str,
    config_settings: CargoConfig = None,
    metadata_directory: str | None = None,
) -> str:
    _require_cargo()
    name: str = maturin.build_wheel(wheel_directory, config_settings, metadata_directory)
    return name


def get_requires_for_build_editable(config_settings: CargoConfig = None) -> list[str]:
    _require_cargo()
    requires: list[str] = maturin.get_requires_for_build_editable(config_settings)
    return requires


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: CargoConfig = None
) -> str:
    _require_cargo()
    name: str = maturin.prepare_metadata_for_build_editable(metadata_directory, config_settings)
    return name


def build_editable(
    wheel_directory: str,
    config_settings: CargoConfig = None,
    metadata_directory: str | None = None,
) -> str:
    _require_cargo()
    name: str = maturin.build_editable(wheel_directory, config_settings, metadata_directory)
    return name


def get_requires_for_build_sdist(config_settings: CargoConfig = None) -> list[str]:
    requires: list[str] = maturin.get_requires_for_build_sdist(config_settings)
    return requires


def build_sdist(sdist_directory: str, config_settings: CargoConfig = None) -> str:
    name: str = maturin.build_sdist(sdist_directory, config_settings)
    return name
