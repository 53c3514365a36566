"""Semantic maps: palettes (palette), style exemplars and target maps (semantic), automatic maps of paintings (segment) and legends (legend)."""
