"""Grid carbon intensity: embedded offline data, live providers, cache and fallback chain."""
