"""Painting images: per-image optimization (optimize), rendering maps with a trained generator (render) and photo stylization (stylize)."""
