"""Plugin discovery and hooks: the host, hook specifications, sink and notifier APIs."""
