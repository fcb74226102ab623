"""The `carbonguard` command line. Never imports Prefect: a CI budget check must start fast."""
