"""Chat settings kept with each conversation (model or router, max tokens, tools, output schema,
knowledge base...: JSON the Chat page restores when it is reopened), and branches: a message
follows `parent_id` (NULL: it opens the conversation), so a regenerated reply or an edited
message is a sibling of the one it replaces, which stays reachable. `leaf_id` is the newest
message of the branch shown and sent (NULL: the newest message). Nothing is deleted on a resend
any more, so 0015's trigger only fires with the conversation; a summary applies to a branch that
holds its `through_id`."""

NAME = "0019_conversation_settings"
STEP = """
        ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
        ALTER TABLE messages ADD COLUMN parent_id INTEGER;
        UPDATE messages SET parent_id = (
            SELECT MAX(p.id) FROM messages p
             WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
    """
