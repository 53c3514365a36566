"""The style loss: region Gram matrices (gram), mask pyramids (pyramid), the region style loss (loss) and colour helpers (color)."""
