"""Chat: conversations, a session that drafts and sends each turn (context planning,
grounding, routing, summaries), and the turn's own events."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.chat.context": ("ContextPlan", "alternate", "plan_context", "with_documents"),
    "lib.chat.conversations": (
        "NEW_TITLE", "Conversation", "StoredMessage", "add_message", "choose_branch",
        "count_conversations", "create_conversation", "delete_conversation",
        "get_conversation", "list_conversations", "list_messages", "save_settings",
        "search_conversations", "update_conversation", "update_message",
    ),
    "lib.chat.exports": ("closed_fences", "export_json", "export_markdown"),
    "lib.chat.grounded": ("GROUNDING", "grounding"),
    "lib.chat.preview": ("provider_count",),
    "lib.chat.events": (
        "Began", "FellBack", "Finished", "Grounded", "Repaired", "Summarising", "Text",
        "ToolFinished", "ToolStarted", "TurnEvent", "Waiting", "turn_events",
    ),
    "lib.chat.routing": ("AUTO", "Routing", "route_turn"),
    "lib.chat.session": ("Ask", "ChatSession", "Draft", "Estimate"),
    "lib.chat.replies": ("reply_meta",),
    "lib.chat.turn": ("ChatTurn",),
    "lib.chat.options": ("TurnOptions",),
    "lib.chat.runs": ("RunTrace", "StepTrace", "run_trace"),
    "lib.chat.compaction": ("Compaction",),
    "lib.chat.summaries": (
        "MAX_FOLDS", "STRATEGIES", "SUMMARISE", "WINDOW", "Summary",
        "active_summary", "edit_summary", "sent_text", "set_strategy", "summarise",
        "summary_model",
    ),
})
