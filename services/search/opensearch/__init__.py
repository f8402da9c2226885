"""The OpenSearch retrieval backend (CODESIFT_INDEX_BACKEND=opensearch): mapping, queries, writer, reader."""
