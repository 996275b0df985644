"""The Prompts page: versions and labels, preview and run, edit, diff."""
