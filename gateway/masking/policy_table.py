"""The policy as a Markdown table (README's "Masking" section is checked against it)."""

from __future__ import annotations

from gateway.masking.policy import Policy
from schema import SensitiveClass

__all__ = ["policy_table"]


def policy_table(policy: Policy) -> str:
    roles = list(policy.roles)
    header = "| class | " + " | ".join(roles) + " |"
    lines = [header, "|---" * (len(roles) + 1) + "|"]
    for klass in SensitiveClass:
        cells = []
        for role in roles:
            base = policy.treatment({role}, klass, verified=False)
            verified = policy.treatment({role}, klass, verified=True)
            cells.append(base if base == verified else f"{base} / {verified} verified")
        lines.append(f"| `{klass.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
