"""One run of one mirror: the run loop, its commit, the pipeline, the report."""
