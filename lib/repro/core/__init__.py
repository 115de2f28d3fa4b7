"""Shared kernels of the kit: config, runtime, steps, data, train, claims, plots, report, cli."""
