"""A propose plugin that keeps a minimum fleet during business hours (AT_LEAST on a schedule).

In-process: list it under `plugins:` in the planner's config. Remote: run this file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from planner_sdk import PluginSpec, ProposePlugin, ProposeResult, Role, Stage, TickContext, run


class BusinessHoursFloor(ProposePlugin):
    """Between `open_hour` and `close_hour` (local to `utc_offset_hours`, Monday to Friday),
    ask for at least `prefill` and `decode` engines; outside those hours, say nothing.

    It proposes a floor, not a number: the other plugins still size the fleet, and this one
    only stops it shrinking below what the morning rush needs before the rush is measured.
    """

    def __init__(
        self,
        prefill: int,
        decode: int,
        open_hour: int = 8,
        close_hour: int = 18,
        utc_offset_hours: float = 0.0,
        plugin_id: str = "business_hours_floor",
        interval_seconds: float = 60.0,
    ) -> None:
        if not 0 <= open_hour < close_hour <= 24:
            raise ValueError(f"open_hour={open_hour}, close_hour={close_hour}: need 0 <= open < close <= 24")
        self.spec = PluginSpec(id=plugin_id, stage=Stage.PROPOSE, execution_interval_seconds=interval_seconds)
        self.floor = {Role.PREFILL: prefill, Role.DECODE: decode}
        self.open_hour, self.close_hour = open_hour, close_hour
        self.zone = dt.timezone(dt.timedelta(hours=utc_offset_hours))

    def is_open(self, unix_seconds: float) -> bool:
        local = dt.datetime.fromtimestamp(unix_seconds, self.zone)
        return local.weekday() < 5 and self.open_hour <= local.hour < self.close_hour

    async def propose(self, ctx: TickContext) -> ProposeResult:
        # ctx.now comes from the planner's clock, so replays and tests see their own time.
        if not self.is_open(ctx.now):
            return ProposeResult.accept("outside business hours")
        wanted = {role: n for role, n in self.floor.items() if role in ctx.planner.roles}
        return ProposeResult.at_least(wanted, reason="business hours floor")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the business-hours floor to a planner over gRPC.")
    parser.add_argument("--planner", required=True, help="the planner's registry: host:port or unix:///path")
    parser.add_argument("--prefill", type=int, default=2)
    parser.add_argument("--decode", type=int, default=3)
    parser.add_argument("--utc-offset-hours", type=float, default=0.0)
    args = parser.parse_args()
    plugin = BusinessHoursFloor(args.prefill, args.decode, utc_offset_hours=args.utc_offset_hours)
    run(plugin, args.planner, token=os.environ.get("PLANNER_PLUGIN_TOKEN"), plugin_version="1.0.0")


if __name__ == "__main__":
    main()
