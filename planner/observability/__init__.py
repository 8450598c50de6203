"""Watching the planner: its metrics, traces, logs, reports and live dashboard (one module each)."""
