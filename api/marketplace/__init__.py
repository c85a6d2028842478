"""The pattern marketplace: bundles of patterns people browse, rate and install."""
