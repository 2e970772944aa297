"""The one adapter between a raynas strategy and Ray Tune's ``Searcher``.

``suggest`` asks the strategy for a genome (screening it first: a genome over the
parameter budget is recorded as ``rejected`` and never trained) and returns the trial's
config; ``on_trial_complete`` tells the strategy the trial's figures for the run's
objectives (:func:`~raynas.results.objectives.objective_value`: the validation accuracy by
default; ``None`` for a failed or rejected trial) with its fidelity (the epochs it trained:
fewer for a trial an early-stopping scheduler stopped). After ``total`` proposals it returns
``Searcher.FINISHED``.

Segments: the driver runs the search as consecutive ``Tuner.fit`` calls sharing this one
searcher (Tune keeps every ``Trial`` of a fit, so one fit per run would grow the driver
with the number of trials). :meth:`begin_segment` lets the next fit create at most ``n``
Tune trials; :attr:`segment_done` says whether the last fit ran out of its segment (or of
the run), as opposed to being interrupted.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ray.tune.search import Searcher

from raynas.results.objectives import DEFAULT_OBJECTIVES, objective_value
from raynas.results.store import Status
from raynas.run.recorder import trial_status
from raynas.run.settings import trial_seed
from raynas.core.space import SearchSpace
from raynas.run.plan import Screen

# on_rejected(genome, order, parent_trial_id, reason, params)
OnRejected = Callable[[dict[str, Any], int, Optional[str], str, Optional[int]], None]


@dataclass
class Proposal:
    genome: dict[str, Any]
    order: int
    parent_trial_id: str | None


@dataclass
class Lineage:
    """The proposals made so far: their count, the trial of each genome (to name a
    proposal's parent trial) and whether the space was exhausted."""

    proposed: int = 0
    exhausted: bool = False  # the strategy proposed every genome of the space
    reevaluated: int = 0     # proposals since then: known genomes trained again (new seeds)
    all_failed: bool = False  # stopped early: every known genome failed, none worth retraining
    trial_ids_by_genome: dict[str, str] = field(default_factory=dict)


class StrategySearcher(Searcher):
    """Runs ``strategy`` (a raynas ``Strategy``) inside Ray Tune: ``total`` proposals.

    When the strategy has proposed every genome of a small space (``ask()`` raised
    ``SpaceExhausted``), the remaining proposals are the strategy's ``reevaluate()``: known
    genomes trained again (each trial has its own seed), so a run always makes the trials it
    was asked for. The adapter itself only converts and relays.

    ``first_order`` is the 1-based order of the first proposal (after a resume, one more than
    the highest order recorded: trials lost in flight leave gaps). Screening and rejections
    stay in the driver process.
    """

    def __init__(self, strategy: Any, space: SearchSpace, total: int, first_order: int = 1,
                 trial_seed: int = 0, screen: Screen | None = None,
                 on_rejected: OnRejected | None = None,
                 known_trials: dict[str, str] | None = None, metric: str = "accuracy",
                 objectives: dict[str, str] | None = None):
        super().__init__(metric=metric, mode="max")
        self.objectives = dict(objectives or DEFAULT_OBJECTIVES)
        self.strategy = strategy
        self.space = space
        self.total = total
        self.next_order = first_order
        self.trial_seed = trial_seed
        self.screen = screen
        self.on_rejected = on_rejected
        self.pending: dict[str, Proposal] = {}
        self.lineage = Lineage(trial_ids_by_genome=dict(known_trials or {}))
        self.segment_left: int | None = None  # Tune trials the current fit may still create
        self.segment_done = False

    def begin_segment(self, trials: int | None) -> None:
        """Start a segment (one ``Tuner.fit``): at most ``trials`` Tune trials (None: no
        limit), after which :meth:`suggest` returns ``Searcher.FINISHED``."""
        self.segment_left = trials
        self.segment_done = False

    @property
    def finished(self) -> bool:
        """No proposal is left: the run's total is reached or no genome is worth training."""
        return self.remaining <= 0 or self.lineage.all_failed

    @property
    def remaining(self) -> int:
        return self.total - self.lineage.proposed

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        while self.remaining > 0:
            if self.segment_left is not None and self.segment_left <= 0:
                return self._finish()
            try:
                genome, again = self._ask()
            except StopIteration:  # reevaluate(): every known genome failed each time
                self.lineage.all_failed = True
                return self._finish()
            if genome is None:
                return None  # results pending: Tune asks again later
            parent = None if again else self._parent_trial_id()
            proposal = Proposal(genome, self.next_order, parent)
            self.next_order += 1
            self.lineage.proposed += 1
            verdict = self.screen(genome) if self.screen else None
            if verdict is not None:
                reason, params = verdict
                if self.on_rejected:
                    self.on_rejected(genome, proposal.order, proposal.parent_trial_id, reason, params)
                self.strategy.tell(genome, None)
                continue
            self.pending[trial_id] = proposal
            self.lineage.trial_ids_by_genome[SearchSpace.genome_id(genome)] = trial_id
            if self.segment_left is not None:
                self.segment_left -= 1
            return {"genome": genome, "order": proposal.order,
                    "parent_trial_id": proposal.parent_trial_id,
                    "trial_seed": trial_seed(self.trial_seed, proposal.order)}
        return self._finish()

    def _finish(self) -> str:
        self.segment_done = True
        return Searcher.FINISHED

    def _ask(self) -> tuple[dict[str, Any] | None, bool]:
        """``(genome or None, whether it re-evaluates a known genome)``."""
        if not self.lineage.exhausted:
            try:
                genome = self.strategy.ask()
            except StopIteration:  # the strategy's SpaceExhausted derives from it
                self.lineage.exhausted = True
            else:
                return (None if genome is None else self.space.validate(genome)), False
        genome = self.strategy.reevaluate()
        self.lineage.reevaluated += 1
        return self.space.validate(genome), True

    def _parent_trial_id(self) -> str | None:
        parent = getattr(self.strategy, "last_parent", None)
        if parent is None:
            return None
        return self.lineage.trial_ids_by_genome.get(SearchSpace.genome_id(parent))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        proposal = self.pending.pop(trial_id, None)
        if proposal is None:
            return
        value = fidelity = None
        status = Status.FAILED if error else trial_status(result or {})
        if status in (Status.COMPLETED, Status.STOPPED):
            value = objective_value(result, self.objectives)
            fidelity = result.get("epochs") if value is not None else None
        if fidelity is None:
            self.strategy.tell(proposal.genome, value)
        else:  # the epochs trained: a stopped trial ranks below full-fidelity ones
            self.strategy.tell(proposal.genome, value, fidelity=int(fidelity))

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.get_state(), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.set_state(pickle.load(handle))

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.strategy.state_dict(), "next_order": self.next_order,
                "pending": dict(self.pending), "lineage": self.lineage}

    def set_state(self, state: dict[str, Any]) -> None:
        self.strategy.load_state_dict(state["strategy"])
        self.next_order = state["next_order"]
        self.pending = dict(state["pending"])
        self.lineage = state["lineage"]

    def __getstate__(self) -> dict[str, Any]:
        # Tune may pickle its search algorithm; the driver-side hooks stay behind.
        state = dict(self.__dict__)
        state["screen"] = None
        state["on_rejected"] = None
        return state
