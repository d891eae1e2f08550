"""Widgets and dialogs: they show state and say what the user did; they change nothing."""
