"""maskgen: fast random smooth semantic masks."""

__version__ = "0.1.0"
