"""Cutouts: making one (charged once, or free from a stored matte) and reading them."""
