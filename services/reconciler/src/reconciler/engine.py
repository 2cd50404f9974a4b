"""The reconciler's run, under the name it had before it was split (``roster reconcile``, the
app, the schedule and the benches import it from here).

What it held now lives in one module per idea: :mod:`reconciler.records` (run records, the user
as a run sees them), :mod:`reconciler.rules` (the pure decision rules and the brake),
:mod:`reconciler.matching` (the directory index), :mod:`reconciler.lease`,
:mod:`reconciler.publishing` and :mod:`reconciler.runs` (the orchestration).
"""

from __future__ import annotations

from reconciler.lease import LeaseLost
from reconciler.records import Action, Member, RunRecord, Signal
from reconciler.runs import Reconciler

__all__ = ["Action", "LeaseLost", "Member", "Reconciler", "RunRecord", "Signal"]
