"""The Workflows page: the list with versions and labels, the graph drawn, a run with live
status per step, the run's trace, edit with validation, and a diff of two versions."""
