"""meddenoise.metrics (under construction)."""
