"""meddenoise.training (under construction)."""
