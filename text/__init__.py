"""Items, entities and free text as sentences and as cached sentence-transformers embeddings."""
