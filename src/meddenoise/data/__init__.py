"""meddenoise.data (under construction)."""
