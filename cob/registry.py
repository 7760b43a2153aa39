"""The close-of-business step registry (PRODUCT §11).

Close of business knows the *order* of the day, not the work: every step is a plain function
``fn(*, on: date, account_ids: Sequence[int] | None) -> int`` that does its work for one business
date over the given accounts (``None``: all of them) with set-based queries, is idempotent for that
date (a second call for the same date changes nothing and returns 0) and returns the number of rows
it changed. Steps are placed in named **slots**, in the order of PRODUCT §11; an app plugs its steps
in from its ``AppConfig.ready()``::

    from cob.registry import register_step
    register_step("collections.cases_sync", cases_sync, slot="collection_cases")

so close of business never imports the apps above it (collections, risk): the imports keep pointing
one way. ``account_ids`` is a ``range`` of account primary keys (one chunk): an ORM step filters with
``core.sql.account_filter(account_ids)`` (``account_id >= start AND account_id < stop``), SQL with ``core.sql.id_bounds`` or ``core.sql.scope``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


StepFn = Callable[..., int]
Cadence = Callable[[dt.date], bool]

#: The slots of the day, in order (PRODUCT §11). Steps run slot by slot; within a slot, in
#: registration order unless ``after=`` says otherwise.
SLOTS: tuple[str, ...] = (
    "temporary_limits",     # expire temporary limits
    "purchase_holds",       # expire purchase holds not reviewed in time (declined, limit restored)
    "statements",           # post purchases / generate statements for accounts whose bill day it is
    "due_dates",            # settle due dates: paid in full / minimum paid (deferral) / overdue
    "delinquency",          # DPD, buckets (+ history), late fees, deferral fees
    "freezes",              # freeze on overdue, unfreeze on cure (manual freezes stay)
    "collection_cases",     # [collections] open / escalate / assign cases
    "collection_promises",  # [collections] promises to pay kept / broken
    "reminders",            # [collections] queue reminders
    "write_offs",           # write-off at DPD 180
    "limit_reviews",        # [risk] weekly or by trigger
    "bureau_file",          # [credit bureau] monthly
)


def weekly(weekday: int) -> Cadence:
    """Run on one weekday (Monday = 0)."""
    if not 0 <= weekday <= 6:
        raise ValueError("weekday is 0 (Monday) … 6 (Sunday)")

    def cadence(on: dt.date) -> bool:
        return on.weekday() == weekday

    cadence.__name__ = f"weekly_{weekday}"
    return cadence


def monthly(day: int) -> Cadence:
    """Run on one day of the month (1–28, so every month has it)."""
    if not 1 <= day <= 28:
        raise ValueError("day of month is 1 … 28")

    def cadence(on: dt.date) -> bool:
        return on.day == day

    cadence.__name__ = f"monthly_{day}"
    return cadence


def daily(on: dt.date) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    name: str
    fn: StepFn = field(repr=False, compare=False)
    slot: str
    chunked: bool = True
    runs_on: Cadence = field(default=daily, repr=False, compare=False)
    description: str = ""

    def due_on(self, on: dt.date) -> bool:
        return bool(self.runs_on(on))

    def __call__(self, *, on: dt.date, account_ids: Sequence[int] | None) -> int:
        if self.chunked:
            result = self.fn(on=on, account_ids=account_ids)
        else:
            result = self.fn(on=on)
        return int(result or 0)


class StepRegistry:
    def __init__(self) -> None:
        self._steps: dict[str, Step] = {}
        self._order: list[str] = []  # registration order, adjusted by ``after``

    def register(
        self,
        name: str,
        fn: StepFn,
        *,
        slot: str,
        after: str | None = None,
        chunked: bool = True,
        runs_on: Cadence = daily,
        description: str = "",
        replace: bool = False,
    ) -> Step:
        if slot not in SLOTS:
            raise ValueError(f"unknown close-of-business slot {slot!r}; slots are {', '.join(SLOTS)}")
        if not name or len(name) > 80:
            raise ValueError("a step needs a name of at most 80 characters")
        if name in self._steps and not replace:
            raise ValueError(f"close-of-business step {name!r} is already registered")
        if after is not None:
            if after not in self._steps:
                raise ValueError(f"step {name!r} is to run after {after!r}, which is not registered")
            if SLOTS.index(self._steps[after].slot) > SLOTS.index(slot):
                raise ValueError(f"step {name!r} (slot {slot}) cannot run after {after!r} (a later slot)")
        step = Step(name=name, fn=fn, slot=slot, chunked=chunked, runs_on=runs_on,
                    description=description or (fn.__doc__ or "").strip().split("\n")[0][:200])
        if name in self._order:
            self._order.remove(name)
        if after is not None:
            self._order.insert(self._order.index(after) + 1, name)
        else:
            self._order.append(name)
        self._steps[name] = step
        return step

    def unregister(self, name: str) -> None:
        self._steps.pop(name)
        self._order.remove(name)

    def get(self, name: str) -> Step | None:
        return self._steps.get(name)

    def steps(self) -> list[Step]:
        """All registered steps in the order of the day."""
        rank = {name: i for i, name in enumerate(self._order)}
        return sorted(self._steps.values(), key=lambda s: (SLOTS.index(s.slot), rank[s.name]))

    def steps_for(self, on: dt.date) -> list[Step]:
        """The steps due on ``on`` (daily ones plus the weekly/monthly ones whose day it is)."""
        return [step for step in self.steps() if step.due_on(on)]

    @contextmanager
    def isolated(self, steps: Sequence[Step] | None = None) -> Iterator[StepRegistry]:
        """Temporarily replace the registered steps (tests, the benchmark)."""
        saved = dict(self._steps), list(self._order)
        self._steps, self._order = {}, []
        try:
            for step in steps or ():
                self.register(step.name, step.fn, slot=step.slot, chunked=step.chunked, runs_on=step.runs_on,
                              description=step.description)
            yield self
        finally:
            self._steps, self._order = saved


registry = StepRegistry()


def register_step(
    name: str,
    fn: StepFn,
    *,
    slot: str,
    after: str | None = None,
    chunked: bool = True,
    runs_on: Cadence = daily,
    description: str = "",
) -> Step:
    """Plug a step into close of business (call from ``AppConfig.ready()``).

    ``chunked=False`` for a step that takes no ``account_ids`` and runs once per date (a global
    sweep, a file export); ``runs_on`` for weekly/monthly work (:func:`weekly`, :func:`monthly`)."""
    return registry.register(name, fn, slot=slot, after=after, chunked=chunked, runs_on=runs_on,
                             description=description)
