"""Evaluation of doodles: the quality report (evaluate) and its measures (fidelity, fringe, patch_distance, edges)."""
