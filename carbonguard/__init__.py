"""carbonguard: make the energy and carbon of ML training a checked quantity.

The top-level package stays import-light on purpose: a CI budget check must start in well under a
second, so nothing here imports Prefect, httpx or pynvml.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
