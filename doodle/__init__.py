"""doodle: semantic style transfer with region Gram losses and feed-forward generators."""

__version__ = "0.1.0"
