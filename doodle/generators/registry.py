"""Generator architectures by name: what a checkpoint's ``generator`` config builds."""

from __future__ import annotations

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
    arch = config.get("arch", "texture")
    if arch not in ARCHS:
        raise ValueError(f"unknown generator arch {arch!r}; this doodle knows {', '.join(ARCHS)}")
    return ARCHS[arch].from_config(config)
