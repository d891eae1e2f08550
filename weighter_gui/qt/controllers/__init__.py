"""One controller per feature. Each is given the state, services and views it needs
(never the window), listens to them, and writes through the workspace or the project."""
