"""Language-specific chunkers: each turns a file's lines into spans that `chunking.py` makes chunks of."""
