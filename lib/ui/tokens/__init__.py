"""The Tokens page: how each tokenizer cuts a text, and what the text costs each model."""
