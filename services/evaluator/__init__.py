"""The evaluator service: scores a trained reranker on the golden questions against its baselines."""
