"""Provider credentials from Prefect Secret blocks, for teams that keep API keys in Prefect.

The environment wins (so a CI job or a developer can override); otherwise the Secret block named
after the variable, lower-case with dashes, is read: ELECTRICITYMAPS_TOKEN -> `electricitymaps-token`.
Values are handed to the provider object only, never logged or recorded.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("carbonguard.prefect")


def secret_block_name(variable: str) -> str:
    return variable.lower().replace("_", "-")


def prefect_credentials(variable: str) -> str | None:
    value = os.environ.get(variable)
    if value:
        return value
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(secret_block_name(variable))
    except ValueError:  # no such block: the provider reports missing credentials itself
        return None
    except Exception:  # an unreachable API must not hide which credential was missing
        log.warning("carbonguard: could not read Prefect Secret block %r", secret_block_name(variable),
                    exc_info=True)
        return None
    value = secret.get()
    return str(value) if value else None
