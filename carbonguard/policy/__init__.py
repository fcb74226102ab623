"""Policy-as-code: YAML policies validated by pydantic models, with line numbers for every error."""

from carbonguard.policy.loader import LoadedPolicy, load_policy, parse_policy
from carbonguard.policy.models import Budget, Policy, Waiver

__all__ = ["Budget", "LoadedPolicy", "Policy", "Waiver", "load_policy", "parse_policy"]
