"""Generator architectures by name: what a checkpoint's ``generator`` config builds."""

from __future__ import annotations

import inspect
from typing import Any

from doodle.generators.base import MaskGenerator
from doodle.generators.resnet import ResnetGenerator
from doodle.generators.texture import DoodleGenerator

#: ``arch`` name -> class. Configs without ``arch`` (checkpoints from before it) are texture networks.
ARCHS: dict[str, type[MaskGenerator]] = {"texture": DoodleGenerator, "resnet": ResnetGenerator}
#: What ``doodle train`` builds unless ``--arch`` says otherwise.
DEFAULT_ARCH = "resnet"


def build_generator(config: dict[str, Any]) -> MaskGenerator:
    """The generator a config describes (``arch`` and that class's constructor arguments).

    Examples
    --------
    >>> build_generator({"arch": "resnet", "k": 2, "width": 4, "blocks": 1}).arch
    'resnet'
    >>> build_generator({"k": 2}).arch  # a checkpoint from before architectures had names
    'texture'
    """
    return _arch_class(config.get("arch", "texture")).from_config(config)


def _arch_class(arch: str) -> type[MaskGenerator]:
    if arch not in ARCHS:
        raise ValueError(f"unknown generator arch {arch!r}; this doodle knows {', '.join(ARCHS)}")
    return ARCHS[arch]


def new_generator(config: dict[str, Any]) -> MaskGenerator:
    """A generator for a new run: what ``config`` gives, this version's defaults for the rest.

    :func:`build_generator` reads a key missing from a checkpoint's config as
    the version that wrote it built it (``aligned=False`` for a resnet from
    before ``aligned``); a new run, whose options name only what the user
    chose, must get today's defaults instead. ``arch`` defaults to
    :data:`DEFAULT_ARCH`.

    Examples
    --------
    >>> g = new_generator({"k": 2, "width": 4, "blocks": 1})
    >>> g.arch, g.aligned, build_generator({"arch": "resnet", "k": 2}).aligned
    ('resnet', True, False)
    """
    arch = config.get("arch", DEFAULT_ARCH)
    cls = _arch_class(arch)
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return cls.from_config({**defaults, **config, "arch": arch})
