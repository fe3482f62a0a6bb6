"""meddenoise.classical (under construction)."""
