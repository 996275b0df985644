"""The Chat page: its sidebar and kept settings, the conversation drawn, messages' actions, a turn
streamed, tools and summaries on the page."""
