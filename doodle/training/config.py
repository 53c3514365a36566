"""A training run's settings: :class:`TrainConfig`, stored in ``RUN/config.json`` and the checkpoint."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import maskgen
from doodle.generators.registry import DEFAULT_ARCH
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.style.loss import CONTENT_LAYERS, DOODLE_COLOUR_WEIGHT, DOODLE_BALANCE, PHOTO_BALANCE, STYLIZER_CONTENT_WEIGHT
from doodle.training.checkpoint import load_checkpoint

#: Default ``--size`` (side of the training masks or photo crops, px) of doodle generators and of photo
#: stylizers. A stylizer's step on 128 px crops costs 3.6x less than on 256 px ones (1.05 against 3.8 s on
#: 2 CPU cores), so a 10-minute budget trains 3.6x more steps; every stylizer figure in the README is of it.
DOODLE_SIZE = 256
PHOTO_SIZE = 128
#: Default ``--style-size`` of photo stylizers trained at the default ``--size`` (doodles: ``--size``): the
#: painting's statistics at the scale the stylizer is judged and mostly used at.
PHOTO_STYLE_SIZE = 256


#: What a resumed run may change; everything else it takes from its checkpoint.
RESUME_CHANGES = ("steps", "minutes", "loss_net")
#: Settings that are paths (compared where they point).
PATH_FIELDS = ("style", "style_map", "masks", "content", "content_maps")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in RUN/config.json and the checkpoint)."""

    style: str
    style_map: str | None
    out: str
    regions: int | None = None
    masks: str | None = None
    size: int | None = None
    style_size: int | None = None
    batch: int = 4
    steps: int = 2000
    minutes: float | None = None
    lr: float = 0.003
    lr_half_life: int = 1000
    lr_min_ratio: float = 0.05
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    layer_weights: tuple[float, ...] | None = None
    style_weight: float = 1.0
    tv_weight: float = 0.0
    relative: bool = True
    balance: float | None = None
    colour_weight: float | None = None
    map_share: float = 0.25
    content: str | None = None
    content_maps: str | None = None
    content_weight: float = STYLIZER_CONTENT_WEIGHT
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    loss_net: str = "auto"
    precision: str = "auto"
    seed: int = 0
    sample_every: int = 100
    checkpoint_every: int = 100
    log_every: int = 10
    samples: int = 4
    workers: int = 1
    skip_corrupt: bool = False
    generator: dict = field(default_factory=lambda: {"arch": DEFAULT_ARCH})
    mask: dict = field(default_factory=lambda: {"roughness": 0.6, "filter_size": 7, "min_area": 0.05})

    def __post_init__(self) -> None:
        if self.size is None:  # stored runs always carry their size: only a new run takes these defaults
            self.size = DOODLE_SIZE if self.content is None else PHOTO_SIZE
            if self.content is not None and self.style_size is None:
                self.style_size = PHOTO_STYLE_SIZE
        if self.colour_weight is None:  # as size: stored runs carry theirs
            self.colour_weight = DOODLE_COLOUR_WEIGHT if self.content is None else 0.0
        if self.balance is None:  # as size
            self.balance = DOODLE_BALANCE if self.content is None else PHOTO_BALANCE
        for name in ("size", "batch", "steps", "sample_every", "checkpoint_every", "log_every", "lr_half_life"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.size < 16:
            raise ValueError(f"--size must be >= 16 pixels for the loss network, got {self.size}")
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"--minutes must be > 0, got {self.minutes}")
        if not 0 <= self.map_share <= 1:
            raise ValueError(f"--map-share must be in [0, 1], got {self.map_share}")
        if self.colour_weight < 0:
            raise ValueError(f"--colour-weight must be >= 0, got {self.colour_weight}")
        if not 0 <= self.balance <= 1:
            raise ValueError(f"--balance must be in [0, 1], got {self.balance}")
        if not 0 <= self.lr_min_ratio <= 1:
            raise ValueError(f"--lr-min-ratio must be in [0, 1], got {self.lr_min_ratio}")
        if self.content_maps is not None and self.content is None:
            raise ValueError("--content-maps needs --content (the photos they map)")
        if self.content is not None and self.generator.get("arch", DEFAULT_ARCH) != "resnet":
            raise ValueError(f"--content trains a photo stylizer, which is a resnet generator; "
                             f"drop --arch {self.generator['arch']}")
        if self.style_map is None and (self.content is None or self.content_maps is not None):
            raise ValueError("--style-map is needed to paint doodles or photos with maps")
        self.style_layers = tuple(self.style_layers)
        self.content_layers = tuple(self.content_layers)
        if self.layer_weights is not None:
            self.layer_weights = tuple(self.layer_weights)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The config stored in ``d``; unknown keys are refused, naming them (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_run(cls, out: str | os.PathLike, steps: int | None = None, minutes: float | None = None,
                 loss_net: str | None = None) -> "TrainConfig":
        """The config of the run in ``out`` (to resume it), optionally with a new step count, time budget
        (``minutes``: the run's total training time) or loss network (which must be the one it trained against)."""
        return cls.from_checkpoint(load_checkpoint(Path(out) / "checkpoint.pt"), out, steps, minutes, loss_net)

    @classmethod
    def from_checkpoint(cls, ckpt: dict, out: str | os.PathLike, steps: int | None = None,
                        minutes: float | None = None, loss_net: str | None = None) -> "TrainConfig":
        """:meth:`from_run` of a checkpoint already loaded (``ckpt``) from the run in ``out``."""
        stored = dict(ckpt["config"])
        stored.pop("k", None)  # derived from the style map, stored for readers of the checkpoint
        # Runs from before these settings trained with raw Grams on random masks only.
        stored.setdefault("relative", False)
        stored.setdefault("balance", 1.0)
        if stored["balance"] is None:  # stored unresolved until stop 42, when doodles trained at 0 and photos at 1
            stored["balance"] = 1.0 if stored.get("content") is not None else 0.0
        stored.setdefault("map_share", 0.0)
        stored.setdefault("colour_weight", 0.0)
        if stored.get("style_size") is None:  # what it meant when the run began, whatever today's default
            stored["style_size"] = stored["size"]
        changes = {"steps": steps, "minutes": minutes, "loss_net": loss_net}
        return cls.from_dict(stored | {"out": str(out)} | {key: v for key, v in changes.items() if v is not None})

    def resume_conflicts(self, run: "TrainConfig") -> dict[str, tuple[object, object]]:
        """The settings of this config that differ from ``run``'s, the stored config of the run it resumes.

        A resumed run takes only a new ``steps``, ``minutes`` and ``loss_net`` (checked against the
        network it trained with). The generator's options conflict one by one, under their own
        names (``"width"``), where this config names them. Returns ``{name: (this value, the run's
        value)}`` in the order of the names.

        Examples
        --------
        >>> run = TrainConfig(style="s.png", style_map="m.png", out="run", size=64)
        >>> TrainConfig(style="s.png", style_map="m.png", out="run", size=64, lr=0.01,
        ...             generator={"arch": "resnet", "width": 8}).resume_conflicts(run)
        {'lr': (0.01, 0.003), 'width': (8, None)}
        """
        conflicts = {}
        for name in sorted(f.name for f in dataclasses.fields(self)):
            if name in RESUME_CHANGES or name == "out":
                continue
            mine, theirs = getattr(self, name), getattr(run, name)
            if name == "generator":
                conflicts |= {key: (value, theirs.get(key)) for key, value in mine.items() if theirs.get(key) != value}
                continue
            if name == "style_size":  # None: the --size
                mine, theirs = mine or self.size, theirs or run.size
            elif name in PATH_FIELDS:
                mine, theirs = (v and str(Path(v).resolve()) for v in (mine, theirs))
            if mine != theirs:
                conflicts[name] = (mine, theirs)
        return dict(sorted(conflicts.items()))

    def mask_params(self, k: int) -> maskgen.MaskParams:
        """The run's random-mask parameters for a style with ``k`` regions."""
        return maskgen.MaskParams(width=self.size, height=self.size, regions=(k, k), **self.mask)
