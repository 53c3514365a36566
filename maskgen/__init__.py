"""maskgen: fast random smooth semantic masks."""

__version__ = "0.1.0"

from maskgen.alloc import keep_heap  # noqa: E402
from maskgen.dataset import MaskDataset, read_dataset  # noqa: E402
from maskgen.generate import generate_dataset, parse_shard  # noqa: E402
from maskgen.heightmap import diamond_square  # noqa: E402
from maskgen.mask import Mask, MaskParams, make_mask, parse_regions  # noqa: E402
from maskgen.modefilter import majority_filter, median_filter  # noqa: E402
from maskgen.palette import PALETTE, read_label_png, write_label_png  # noqa: E402
from maskgen.verify import verify_dataset  # noqa: E402

__all__ = [
    "PALETTE",
    "Mask",
    "MaskDataset",
    "MaskParams",
    "diamond_square",
    "generate_dataset",
    "keep_heap",
    "majority_filter",
    "make_mask",
    "median_filter",
    "parse_regions",
    "parse_shard",
    "read_dataset",
    "read_label_png",
    "verify_dataset",
    "write_label_png",
]
