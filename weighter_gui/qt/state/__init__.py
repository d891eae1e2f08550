"""The app's state, Qt-thin: the workspace (files, project, selection), the analysis
service that feeds it, and the settings."""
