"""Textual screens of the dashboard: the monitor and its modal dialogs (see `dialogs`)."""
