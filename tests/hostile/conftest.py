"""The hostile-input battery: fixed-seed Hypothesis profiles and shared bounds.

The ``ci`` profile (the default) is derandomized with a bounded number of
examples, so the normal suite is repeatable; ``make fuzz`` selects the ``fuzz``
profile, which explores many more examples with a random seed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("SYNDICATE_HYPOTHESIS_PROFILE", "ci"))
