"""The Documents and Retrieval pages: knowledge bases, their documents, and searches of them."""
