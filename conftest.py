"""Loads the quantgate pytest plugin for this repository: the catalogue's accuracy tests and the report."""

pytest_plugins = ("quantgate.plugin",)
