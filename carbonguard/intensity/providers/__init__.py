"""One module per intensity provider, all implementing `carbonguard.intensity.source.IntensitySource`."""
