"""meddenoise.noise (under construction)."""
