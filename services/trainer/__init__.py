"""The trainer service: mines training triplets, fine-tunes the reranker, exports it to ONNX."""
