"""Chat: conversations, context planning, grounding, and the lifecycle of a turn."""

from lib.chat.context import ContextPlan, alternate, plan_context, with_documents
from lib.chat.conversations import (
    NEW_TITLE,
    Conversation,
    StoredMessage,
    add_message,
    count_conversations,
    create_conversation,
    delete_conversation,
    export_json,
    export_markdown,
    get_conversation,
    list_conversations,
    list_messages,
    update_conversation,
)
from lib.chat.grounding import GROUNDING, grounding
from lib.chat.preview import NextCall, next_call, provider_count
from lib.chat.turn import ChatTurn, TurnOptions, reply_meta

__all__ = [
    "GROUNDING", "NEW_TITLE", "ChatTurn", "ContextPlan", "Conversation", "NextCall",
    "StoredMessage", "TurnOptions", "add_message", "alternate", "count_conversations",
    "create_conversation", "delete_conversation", "export_json", "export_markdown",
    "get_conversation", "grounding", "list_conversations", "list_messages", "next_call",
    "plan_context", "provider_count", "reply_meta", "update_conversation", "with_documents",
]
