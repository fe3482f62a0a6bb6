"""meddenoise.models (under construction)."""
