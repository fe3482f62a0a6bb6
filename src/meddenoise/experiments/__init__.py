"""meddenoise.experiments (under construction)."""
