"""Subcommands of ``lcm-widgets``; each module has ``register(subparsers)``."""
