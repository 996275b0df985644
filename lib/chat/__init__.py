"""Chat: conversations, a session that drafts and sends each turn (context planning,
grounding, routing, summaries), the turn's own events and the thinking its reply keeps."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.chat.compaction import Compaction
    from lib.chat.context import ContextPlan, alternate, plan_context, with_documents
    from lib.chat.conversations import (
        NEW_TITLE,
        Conversation,
        StoredMessage,
        add_message,
        choose_branch,
        count_conversations,
        create_conversation,
        delete_conversation,
        get_conversation,
        list_conversations,
        list_messages,
        save_settings,
        search_conversations,
        update_conversation,
        update_message,
    )
    from lib.chat.events import (
        Began,
        FellBack,
        Finished,
        Grounded,
        Repaired,
        Summarising,
        Text,
        Thought,
        ThoughtDone,
        ToolFinished,
        ToolStarted,
        TurnEvent,
        Waiting,
        turn_events,
    )
    from lib.chat.exports import closed_fences, export_json, export_markdown
    from lib.chat.grounded import GROUNDING, grounding
    from lib.chat.options import TurnOptions
    from lib.chat.preview import provider_count
    from lib.chat.replies import reply_meta
    from lib.chat.routing import AUTO, Routing, route_turn
    from lib.chat.runs import RunTrace, StepTrace, run_trace
    from lib.chat.session import Ask, ChatSession, Draft, Estimate
    from lib.chat.summaries import (
        MAX_FOLDS,
        STRATEGIES,
        SUMMARISE,
        WINDOW,
        Summary,
        active_summary,
        edit_summary,
        sent_text,
        set_strategy,
        summarise,
        summary_model,
    )
    from lib.chat.thoughts import (
        Thoughts,
        group_label,
        reply_label,
        step_parts,
        thought_label,
    )
    from lib.chat.turn import ChatTurn
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
