"""The annotation state, no torch: analyses, labels, the project, undo, the session, the
speaker gallery and exports."""
