"""Carbon-aware scheduling: the cleanest window, pause/resume slots and zones for a job (pure).

Values in, values out: no clock, no file, no network. `forecast_file` (reading CSV/JSON forecasts)
is the one module here that touches files; nothing else in the package imports it.
"""
