"""The flash-sale benchmark (``make bench``): figures as ratios to ceilings measured in the same run."""
