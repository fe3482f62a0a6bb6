"""meddenoise.io (under construction)."""
