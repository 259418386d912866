"""Handlers of the registry, one module per action and version."""
