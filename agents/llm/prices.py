"""The one price table of the router: estimated US dollars per million tokens.

Source: the providers' public pricing pages (openai.com/api/pricing,
anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing) as known to the author
from 2025-10 (standard tier, no batch or cache discounts; Gemini at the <=200k-token
prompt tier). Written 2026-11-22 without network access to re-check them: these are
ESTIMATES, shown to users as such. Update the table and the date together.

Models not listed get ``cost_usd = None`` (unknown); the local model, the extractive
provider and self-hosted OpenAI-compatible servers cost 0.
"""

from __future__ import annotations

PRICES_AS_OF = "2025-10"

# (provider, model) -> (input USD per 1M tokens, output USD per 1M tokens)
PRICES: dict[tuple[str, str], tuple[float, float]] = {
    ("openai", "gpt-5"): (1.25, 10.00),
    ("openai", "gpt-5-mini"): (0.25, 2.00),
    ("openai", "gpt-5-nano"): (0.05, 0.40),
    ("openai", "gpt-4.1"): (2.00, 8.00),
    ("openai", "gpt-4.1-mini"): (0.40, 1.60),
    ("openai", "gpt-4.1-nano"): (0.10, 0.40),
    ("openai", "gpt-4o"): (2.50, 10.00),
    ("openai", "gpt-4o-mini"): (0.15, 0.60),
    ("anthropic", "claude-opus-4-1"): (15.00, 75.00),
    ("anthropic", "claude-sonnet-4-5"): (3.00, 15.00),
    ("anthropic", "claude-sonnet-4-0"): (3.00, 15.00),
    ("anthropic", "claude-haiku-4-5"): (1.00, 5.00),
    ("anthropic", "claude-3-5-haiku-latest"): (0.80, 4.00),
    ("gemini", "gemini-2.5-pro"): (1.25, 10.00),
    ("gemini", "gemini-2.5-flash"): (0.30, 2.50),
    ("gemini", "gemini-2.5-flash-lite"): (0.10, 0.40),
    ("gemini", "gemini-2.0-flash"): (0.10, 0.40),
}

FREE_PROVIDERS = frozenset({"local", "extractive", "compat"})

# Models offered in the answer-model picker, per provider, best value first.
ANSWER_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4.1-mini", "gpt-4.1", "gpt-5-mini", "gpt-5", "gpt-4o-mini"],
    "anthropic": ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"],
}


def estimate_cost(provider: str, model: str, input_tokens: int, output_tokens: int
                  ) -> float | None:
    """Estimated cost of one call in US dollars.

    Args:
        provider: e.g. "openai".
        model: e.g. "gpt-4.1-mini"; a dated snapshot ("gpt-4.1-mini-2025-04-14")
            is priced as its base name.
        input_tokens / output_tokens: token counts of the call.

    Returns:
        Dollars (an estimate, see the module docstring), 0.0 for free providers,
        None when the model is not in the table.
    """
    if provider in FREE_PROVIDERS:
        return 0.0
    price = PRICES.get((provider, model))
    if price is None:
        bases = [m for (p, m) in PRICES if p == provider and model.startswith(m + "-")]
        base = max(bases, key=len, default=None)
        price = PRICES.get((provider, base)) if base else None
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
