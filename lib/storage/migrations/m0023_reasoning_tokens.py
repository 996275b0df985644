"""Of a call's output tokens, how many the model spent reasoning (Anthropic's thinking tokens,
OpenAI's reasoning tokens): shown apart, never priced apart, as they are billed as output and
already in output_tokens and the cost. Calls made before read 0."""

NAME = "0023_reasoning_tokens"
STEP = """
        ALTER TABLE calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
    """
