"""Value types of the scheduling answers: windows, ties, savings, strategies, zones, proposals.

Pydantic models on the project's `Model` base (frozen, no NaN), so the gate can carry a proposal in
a Decision and every surface can dump them to JSON unchanged. Units are in the field names; times
are UTC; a figure that cannot be had is None, never 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from carbonguard.models import Model
from carbonguard.policy.models import InterruptionCost


class Span(Model):
    """A stretch of time, [start, end)."""

    start: AwareDatetime
    end: AwareDatetime


class Window(Model):
    """One contiguous run of the job and its time-weighted mean intensity."""

    zone: str
    start: AwareDatetime
    end: AwareDatetime
    mean_g_per_kwh: float = Field(ge=0)


class Tie(Model):
    """Tied optima: every start from `start` to `latest_start` (inclusive) gives the same mean."""

    start: AwareDatetime
    latest_start: AwareDatetime
    mean_g_per_kwh: float = Field(ge=0)


class Saving(Model):
    """What a choice saves against running now: per kWh, as a fraction, and in kg for the job's energy."""

    g_per_kwh: float
    fraction: float | None = Field(description="Saving / run-now mean; None when run-now is 0 g/kWh.")
    co2e_kg: float | None = Field(default=None, description="Needs the job's energy; None when unknown.")
    energy_kwh: float | None = None
    energy_source: str | None = Field(default=None, description="measured, estimated or given.")


class WindowSearch(Model):
    """The best contiguous window of one zone, with what the answer rests on."""

    zone: str
    duration_s: float = Field(gt=0)
    not_before: AwareDatetime
    deadline: AwareDatetime | None
    basis: Literal["forecast", "annual", "none"] = Field(
        description="forecast: time-varying figures; annual: only flat annual figures (time shifting "
        "cannot be judged); none: no figures."
    )
    best: Window | None
    run_now: Window | None = Field(description="The job started at not_before; None when not covered.")
    ties: tuple[Tie, ...] = ()
    saving: Saving | None = None
    candidates: int = Field(default=0, description="Covered candidate starts compared.")
    uncovered: tuple[Span, ...] = Field(default=(), description="Stretches of the search range with no data.")
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = Field(default=(), description="provider/kind/signal of the figures used.")


class Slot(Model):
    start: AwareDatetime
    end: AwareDatetime
    mean_g_per_kwh: float = Field(ge=0)
    overhead_s: float = Field(default=0, ge=0, description="Restart time at the slot's start (minutes cost).")


class PauseResume(Model):
    """The cheapest set of slots that adds up to the job's duration before the deadline."""

    zone: str
    status: Literal["ok", "not-computed", "no-solution"]
    reason: str | None = None
    slots: tuple[Slot, ...] = ()
    interruptions: int = 0
    interruption_cost: InterruptionCost | None = None
    mean_g_per_kwh: float | None = Field(
        default=None, description="Time-weighted mean over the running time, restarts included."
    )
    effective_g_per_kwh: float | None = Field(
        default=None,
        description="Emissions per kWh of the job's own energy, restart time and interruption costs "
        "included: the figure to compare with a contiguous window's mean.",
    )
    saving: Saving | None = None
    grid_s: float | None = Field(default=None, description="Time step of the exact search.")


class ZoneOption(Model):
    """One candidate zone: its run-now and best window, and the saving against the home zone now."""

    zone: str
    requested: str
    basis: Literal["forecast", "annual", "none"]
    run_now_g_per_kwh: float | None
    best: Window | None
    saving_now: Saving | None = Field(description="Moving now to this zone, against the home zone now.")
    saving_best: Saving | None = Field(description="This zone's best window, against the home zone now.")
    allowed_by_policy: bool | None = Field(description="None when no policy was given.")
    sources: tuple[str, ...] = ()


class Lever(Model):
    """One way to cut emissions (shift time, shift zone, both), its saving and the policy's verdict."""

    kind: Literal["time", "zone", "time+zone"]
    zone: str | None
    window: Window | None
    saving: Saving | None
    allowed_by_policy: bool | None
    reason: str | None = None


class Proposal(Model):
    """What the gate proposes for `action: reschedule`: a window and zone, or why none."""

    proposed: bool
    zone: str | None = None
    window: Window | None = None
    run_now: Window | None = None
    saving: Saving | None = None
    reason: str = Field(description="Why this window, or why none beats running now.")


class SchedulePlan(Model):
    """Everything `carbonguard schedule` reports: best choice, run-now, both strategies, all zones."""

    home_zone: str
    duration_s: float
    not_before: AwareDatetime
    deadline: AwareDatetime | None
    energy_kwh: float | None = None
    energy_source: str | None = None
    best: Window | None = Field(description="Lowest mean over every zone and start the data can judge.")
    run_now: Window | None = Field(description="The home zone, started at not_before.")
    saving: Saving | None = None
    ties: tuple[Tie, ...] = Field(default=(), description="Tied optima in the best zone.")
    time_shift_judged: bool = Field(description="False when the home zone has only flat annual figures.")
    pause_resume: PauseResume | None = None
    zones: tuple[ZoneOption, ...] = ()
    levers: tuple[Lever, ...] = ()
    searches: tuple[WindowSearch, ...] = ()
    policy_checked: bool = False
    notes: tuple[str, ...] = ()
