"""meddenoise.report (under construction)."""
