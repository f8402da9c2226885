"""The trainer service: mines training triplets and fine-tunes the cross-encoder reranker."""
